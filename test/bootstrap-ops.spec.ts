import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { WebRTCDirect } from '@multiformats/multiaddr-matcher'
import { base64url } from 'multiformats/bases/base64'
import { sha256 } from 'multiformats/hashes/sha2'
import { Registry } from 'prom-client'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { createBootstrapPeer, serveOps } from '../src/bootstrap/index.js'
import { startMember, stopAll } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { BootstrapPeer, OpsServer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'

const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url))
const { NODE_TEST_CONTEXT: _ignored, ...ENV } = process.env

describe('bootstrap peer operations', () => {
  let boot: BootstrapPeer
  let ops: OpsServer
  let member: Membrane
  const registry = new Registry()

  before(async () => {
    boot = await createBootstrapPeer({ port: 0, host: '127.0.0.1', metricsRegistry: registry })
    ops = await serveOps(boot, { port: 0, registry })
  })

  after(async () => {
    await ops?.close()
    await stopAll(member, boot)
  })

  it('listens on WebRTC-direct with a certhash address (browsers join through it: test/browser/webrtc-direct.spec.ts)', async () => {
    const direct = boot.getMultiaddrs().find(ma => WebRTCDirect.matches(ma))
    assert.ok(direct != null, 'a /webrtc-direct address')
    assert.match(direct.toString(), /\/udp\/\d+\/webrtc-direct\/certhash\//)
    member = await startMember(boot)
    await waitFor(() => member.getConnections(boot.peerId).length > 0, 'a Node member joins over TCP', 20_000)
  })

  it('serves Prometheus metrics with libp2p and Membrane series, and a health document', async () => {
    const metrics = await (await fetch(`${ops.url}/metrics`)).text()
    assert.match(metrics, /^membrane_members \d+/m)
    assert.match(metrics, /^membrane_load /m)
    assert.match(metrics, /^membrane_admission_rejected_total \d+/m)
    assert.match(metrics, /^membrane_circuits_forwarded_total \d+/m)
    assert.match(metrics, /^membrane_map_nodes \d+/m)
    assert.match(metrics, /^libp2p_/m, 'libp2p\'s own metrics')
    const members = Number(/^membrane_members (\d+)/m.exec(metrics)?.[1])
    assert.equal(members, boot.getConnections().length)

    const health = await fetch(`${ops.url}/health`)
    assert.equal(health.status, 200)
    const body = await health.json() as { status: string, peerId: string, connections: number }
    assert.equal(body.status, 'ok')
    assert.equal(body.peerId, boot.peerId.toString())
    assert.equal((await fetch(`${ops.url}/nope`)).status, 404)
  })

  it('dials configured bootstrap peers and keeps them connected', async () => {
    const other = await createBootstrapPeer({ port: 0, peers: [boot.getMultiaddrs().find(ma => ma.toString().includes('/tcp/') && !ma.toString().includes('/ws'))!.toString()] })
    try {
      await waitFor(() => other.getConnections(boot.peerId).length > 0, 'bootstrap peers meshed', 15_000)
      const tags = await other.peerStore.get(boot.peerId).then(p => p.tags)
      assert.ok(tags.has('bootstrap-mesh'), 'tagged so the connection manager keeps it')
    } finally {
      await other.stop()
    }
  })
})

describe('membrane bootstrap configured by file and environment, logging JSON', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'membrane-ops-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('takes options from a config file, lets the environment override it, and flags override both', async () => {
    const config = join(dir, 'bootstrap.json')
    await writeFile(config, JSON.stringify({ port: 0, wsPort: 0, 'webrtc-direct-port': 'off', metricsPort: 0, logFormat: 'text' }))
    const child = spawn(process.execPath, [BIN, 'bootstrap', '--config', config, '--log-format', 'json'], {
      env: { ...ENV, MEMBRANE_METRICS_PORT: '0', MEMBRANE_MAX_TOPICS: '7' }
    })
    const lines: Array<Record<string, unknown>> = []
    let buffer = ''
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString()
      const parts = buffer.split('\n')
      buffer = parts.pop() ?? ''
      for (const line of parts) { lines.push(JSON.parse(line)) }
    })
    try {
      await waitFor(() => lines.some(l => l.event === 'metrics'), 'metrics line', 20_000)
      const started = lines.find(l => l.event === 'started')
      assert.ok(started != null && typeof started.time === 'string' && started.level === 'info')
      const addrs = started.addrs as string[]
      assert.ok(addrs.length === 2 && addrs.every(a => !a.includes('webrtc-direct')), 'webrtc-direct off from the config file')
      const url = lines.find(l => l.event === 'metrics')?.url as string
      const health = await (await fetch(`${url}/health`)).json() as { status: string }
      assert.equal(health.status, 'ok')

      // a member connecting shows up as a structured event
      const tcp = addrs.find(a => !a.includes('/ws'))!
      const member = await startMember(undefined, { bootstrap: [tcp] })
      try {
        await waitFor(() => lines.some(l => l.event === 'peer:connect' && l.peer === member.peerId.toString()), 'peer:connect event', 15_000)
      } finally {
        await member.stop()
      }
    } finally {
      child.kill('SIGTERM')
      await new Promise(resolve => child.once('exit', resolve))
    }
    assert.ok(lines.some(l => l.event === 'stopped'))
  })

  it('rejects a malformed config file in one line', async () => {
    const config = join(dir, 'bad.json')
    await writeFile(config, JSON.stringify({ port: 0, bogus: 1 }))
    const child = spawn(process.execPath, [BIN, 'bootstrap', '--config', config], { env: ENV })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const code = await new Promise(resolve => child.once('exit', resolve))
    assert.equal(code, 2)
    assert.match(stderr, /unknown option "bogus"/)
    assert.equal(stderr.trim().split('\n').length, 1)
  })
})


describe('the WebRTC-direct certificate kept in a file', () => {
  /** The certhash @libp2p/webrtc announces for the certificate stored in the file */
  async function storedCerthash (file: string): Promise<string> {
    const { entries } = JSON.parse(await readFile(file, 'utf8')) as { entries: Record<string, string> }
    const pem = uint8ArrayToString(uint8ArrayFromString(entries['/libp2p/webrtc-direct/certificate'], 'base64'))
    const der = uint8ArrayFromString(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')
    return base64url.encode((await sha256.digest(der)).bytes)
  }

  const certhashOf = (peer: BootstrapPeer): string | undefined => peer.getMultiaddrs().map(String).map(a => /\/certhash\/([^/]+)/.exec(a)?.[1]).find(c => c != null)

  it('is reused after a restart, renewed before it expires, and the renewed address announced and kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'membrane-cert-'))
    const file = join(dir, 'bootstrap.key.webrtc-direct.json')
    const privateKey = await generateKeyPair('Ed25519')
    // short-lived on purpose: 20 s certificates renewed 16 s before expiry, so a renewal about 4 s after creation
    const certificate = { file, lifespan: 20_000, renewBefore: 16_000 }
    let peer = await createBootstrapPeer({ port: 0, privateKey, webrtcDirectCertificate: certificate })
    try {
      const first = certhashOf(peer)
      assert.ok(first != null)
      assert.equal(await storedCerthash(file), first)

      // renewal while running: the new certhash is announced (self:peer:update) and written to the file
      const renewed = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error('no renewed certhash announced within 30 s')) }, 30_000)
        peer.addEventListener('self:peer:update', () => {
          const now = certhashOf(peer)
          if (now != null && now !== first) {
            clearTimeout(timer)
            resolve(now)
          }
        })
      })
      const second = await renewed
      assert.equal(await storedCerthash(file), second)
      await peer.stop()

      // a restart within the renewed certificate's life announces the same certhash
      peer = await createBootstrapPeer({ port: 0, privateKey, webrtcDirectCertificate: { ...certificate, renewBefore: 1_000 } })
      assert.equal(certhashOf(peer), second)
    } finally {
      await peer.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a file that is not a certificate file, and a renewal time longer than the lifespan', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'membrane-cert-'))
    try {
      const file = join(dir, 'garbage.json')
      await writeFile(file, '{"something":"else"}')
      await assert.rejects(createBootstrapPeer({ port: 0, webrtcDirectCertificate: { file } }), { name: 'InvalidKeyFileError' })
      await assert.rejects(createBootstrapPeer({ port: 0, webrtcDirectCertificate: { lifespan: 1000, renewBefore: 1000 } }), { name: 'InvalidBootstrapOptionError' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
