#!/usr/bin/env node
// first: stops an old Node before anything else loads
import '../utils/node-version.js'
// then: a bootstrap peer runs with --optimize-for-size (it re-executes itself with it when started without)
import './memory-flags.js'
import { mkdir, readFile } from 'node:fs/promises'
import { InvalidKeyFileError } from '../bootstrap/errors.js'
import { parseCli, USAGE } from './args.js'
import { cliLogger } from './log.js'
import type { BootstrapPeer, OpsServer } from '../bootstrap/index.js'
import type { CliOptions } from './args.js'
import type { CliLogger } from './log.js'
import type { Server } from 'node:http'

async function defaultStartKeyFile (): Promise<string> {
  await mkdir('.membrane', { recursive: true, mode: 0o700 })
  return '.membrane/bootstrap.key'
}

async function readTls (options: CliOptions): Promise<{ port: number, cert: Buffer, key: Buffer } | undefined> {
  if (options.wssPort == null || options.tlsCert == null || options.tlsKey == null) {
    return undefined
  }
  const read = async (path: string, what: string): Promise<Buffer> => readFile(path).catch((err: Error) => {
    throw new InvalidKeyFileError(`cannot read TLS ${what} ${path}: ${err.message}`)
  })
  return { port: options.wssPort, cert: await read(options.tlsCert, 'certificate'), key: await read(options.tlsKey, 'key') }
}

async function readTurn (options: CliOptions): Promise<{ urls: string[], secret: string } | undefined> {
  if (options.turnUrls == null || options.turnSecretFile == null) {
    return undefined
  }
  const secret = (await readFile(options.turnSecretFile, 'utf8').catch((err: Error) => {
    throw new InvalidKeyFileError(`cannot read TURN secret ${options.turnSecretFile}: ${err.message}`)
  })).trim()
  if (secret === '') {
    throw new InvalidKeyFileError(`TURN secret file ${options.turnSecretFile} is empty`)
  }
  return { urls: options.turnUrls, secret }
}

/** How long a clean shutdown may take before the process exits anyway */
const STOP_TIMEOUT = 15_000

const EXPECTED_ERRORS = new Set(['InvalidBootstrapOptionError', 'InvalidKeyFileError', 'ListenError'])

/** Whether the peer is up: until then our own error line explains any failure */
let started = false

/**
 * libdatachannel (WebRTC in Node) prints its own WARN/ERROR/FATAL lines on
 * stdout, e.g. four lines for a UDP port in use before our one-line message.
 * Keep them off the operator's terminal: drop them while starting (the
 * ListenError says what failed), afterwards log errors as one line each.
 */
async function quietNativeLogs (log: CliLogger): Promise<void> {
  const { initLogger } = await import('node-datachannel')
  initLogger('Error', (level, message) => {
    if (started) {
      log.error('webrtc', `webrtc (node-datachannel) ${level.toLowerCase()}: ${message}`, { level, message })
    }
  })
}

async function main (): Promise<void> {
  const options = parseCli(process.argv.slice(2))
  if (options.command === 'help') {
    process.stdout.write(USAGE)
    return
  }
  if (options.command === 'none') {
    process.stderr.write(USAGE)
    process.exitCode = 2
    return
  }
  const log = cliLogger(options.logFormat)
  // the library loads only now: usage and argument errors answer without it, at once
  await quietNativeLogs(log)
  const [{ Registry }, { createBootstrapPeer, loadOrCreateKey, serveOps }, { serveDapp }] = await Promise.all([
    import('prom-client'), import('../bootstrap/index.js'), import('./serve-dapp.js')
  ])

  // `start` keeps the demo's bootstrap identity (and so its address) across runs
  const keyFile = options.keyFile ?? (options.command === 'start' ? await defaultStartKeyFile() : undefined)
  const privateKey = keyFile == null ? undefined : await loadOrCreateKey(keyFile)
  const registry = options.metricsPort == null ? undefined : new Registry()
  const peer: BootstrapPeer = await createBootstrapPeer({
    host: options.host,
    port: options.port,
    wsPort: options.wsPort,
    webrtcDirectPort: options.webrtcDirectPort,
    stunPort: options.stunPort,
    turn: await readTurn(options),
    tls: await readTls(options),
    peers: options.peers,
    privateKey,
    // beside the key file: the same WebRTC-direct certhash on every start until it is renewed
    webrtcDirectCertificate: keyFile == null ? undefined : { file: `${keyFile}.webrtc-direct.json` },
    relay: options.relay,
    maxTopics: options.maxTopics,
    maxConnections: options.maxConnections,
    maxConnectionsPerIp: options.maxConnectionsPerIp,
    load: { connections: options.loadConnections },
    metricsRegistry: registry
  })
  started = true
  let server: Server | undefined
  let ops: OpsServer | undefined
  // before the addresses are printed: whoever reads them may signal at once
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) {
      return
    }
    stopping = true
    log.info('stopping', `${signal}: shutting down`, { signal })
    // a peer that cannot close its connections in time still exits, and says so
    setTimeout(() => {
      log.error('error', `membrane: connections did not close within ${STOP_TIMEOUT / 1000} s, exiting`)
      process.exit(1)
    }, STOP_TIMEOUT).unref()
    server?.close()
    server?.closeAllConnections()
    Promise.all([ops?.close(), peer.stop()]).then(() => {
      log.info('stopped', 'stopped')
      process.exit(0)
    }, (err: Error) => {
      log.error('error', `membrane: error while stopping: ${err.message}`)
      process.exit(1)
    })
  }
  process.once('SIGINT', () => { shutdown('SIGINT') })
  process.once('SIGTERM', () => { shutdown('SIGTERM') })
  const addrs = peer.getMultiaddrs().map(String)
  log.info('started', `membrane bootstrap peer ${peer.peerId.toString()}`, { peerId: peer.peerId.toString(), addrs })
  for (const addr of addrs) {
    log.info('listening', `listening on ${addr}`, { addr })
  }
  // a renewed WebRTC-direct certificate changes the certhash: say which addresses came and went
  let announced = new Set(addrs)
  peer.addEventListener('self:peer:update', () => {
    const now = new Set(peer.getMultiaddrs().map(String))
    for (const addr of now) {
      if (!announced.has(addr)) {
        log.info('listening', `listening on ${addr}`, { addr })
      }
    }
    for (const addr of announced) {
      if (!now.has(addr)) {
        log.info('address:removed', `no longer listening on ${addr}`, { addr })
      }
    }
    announced = now
  })
  peer.addEventListener('peer:connect', (evt) => {
    log.info('peer:connect', `peer connected ${evt.detail.toString()}`, { peer: evt.detail.toString(), connections: peer.getConnections().length })
  })
  peer.addEventListener('peer:disconnect', (evt) => {
    log.info('peer:disconnect', `peer disconnected ${evt.detail.toString()}`, { peer: evt.detail.toString(), connections: peer.getConnections().length })
  })

  try {
    if (registry != null && options.metricsPort != null) {
      ops = await serveOps(peer, { host: options.host, port: options.metricsPort, registry })
      log.info('metrics', `metrics at ${ops.url}/metrics, health at ${ops.url}/health`, { url: ops.url })
    }
    if (options.command === 'start') {
      const dapp = await serveDapp(peer, { host: options.host, port: options.httpPort })
      server = dapp.server
      log.info('dapp', `example dapp at ${dapp.url}`, { url: dapp.url })
    }
  } catch (err) {
    await ops?.close()
    await peer.stop()
    throw err
  }
}

main().catch((err: Error) => {
  process.stderr.write(`membrane: ${err.message ?? String(err)}\n`)
  process.exit(EXPECTED_ERRORS.has(err.name) ? 2 : 1)
})
