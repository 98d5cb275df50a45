#!/usr/bin/env node
import { mkdir } from 'node:fs/promises'
import { createBootstrapPeer, loadOrCreateKey } from '../bootstrap/index.js'
import { parseCli, USAGE } from './args.js'
import { serveDapp } from './serve-dapp.js'
import type { BootstrapPeer } from '../bootstrap/index.js'
import type { Server } from 'node:http'

async function defaultStartKeyFile (): Promise<string> {
  await mkdir('.membrane', { recursive: true, mode: 0o700 })
  return '.membrane/bootstrap.key'
}

const EXPECTED_ERRORS = new Set(['InvalidBootstrapOptionError', 'InvalidKeyFileError', 'ListenError'])

async function main (): Promise<void> {
  const options = parseCli(process.argv.slice(2))
  if (options.command === 'help') {
    process.stdout.write(USAGE)
    return
  }

  // `start` keeps the demo's bootstrap identity (and so its address) across runs
  const keyFile = options.keyFile ?? (options.command === 'start' ? await defaultStartKeyFile() : undefined)
  const privateKey = keyFile == null ? undefined : await loadOrCreateKey(keyFile)
  const peer: BootstrapPeer = await createBootstrapPeer({
    host: options.host,
    port: options.port,
    wsPort: options.wsPort,
    privateKey,
    relay: options.relay,
    maxTopics: options.maxTopics
  })

  process.stdout.write(`membrane bootstrap peer ${peer.peerId.toString()}\n`)
  for (const addr of peer.getMultiaddrs()) {
    process.stdout.write(`listening on ${addr.toString()}\n`)
  }

  let server: Server | undefined
  if (options.command === 'start') {
    try {
      const started = await serveDapp(peer, { host: options.host, port: options.httpPort })
      server = started.server
      process.stdout.write(`example dapp at ${started.url}\n`)
    } catch (err) {
      await peer.stop()
      throw err
    }
  }

  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) {
      return
    }
    stopping = true
    process.stdout.write(`${signal}: shutting down\n`)
    server?.close()
    server?.closeAllConnections()
    Promise.resolve(peer.stop()).then(() => {
      process.stdout.write('stopped\n')
      process.exit(0)
    }, (err: Error) => {
      process.stderr.write(`membrane: error while stopping: ${err.message}\n`)
      process.exit(1)
    })
  }
  process.once('SIGINT', () => { shutdown('SIGINT') })
  process.once('SIGTERM', () => { shutdown('SIGTERM') })
}

main().catch((err: Error) => {
  if (EXPECTED_ERRORS.has(err.name)) {
    process.stderr.write(`membrane: ${err.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`membrane: ${err.message ?? String(err)}\n`)
  process.exit(1)
})
