import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { difficultyForLoad, solveWork, verifyWork } from '../src/admission/index.js'
import { startBootstrap, startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { delay, waitFor } from './fixtures/wait.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'
import type { Socket } from 'node:net'

describe('proof-of-work puzzle', () => {
  it('solves and verifies; a wrong counter, nonce or PeerId fails', async () => {
    const nonce = crypto.getRandomValues(new Uint8Array(16))
    const peer = crypto.getRandomValues(new Uint8Array(38))
    const counter = await solveWork(nonce, peer, 16)
    assert.ok(verifyWork(nonce, peer, 16, counter))
    const otherPeer = peer.slice()
    otherPeer[5] ^= 1
    // each of these passes by chance with probability 2^-16
    assert.equal(verifyWork(nonce, otherPeer, 16, counter), false, 'bound to the PeerId')
    assert.equal(verifyWork(new Uint8Array(16), peer, 16, counter), false, 'bound to the server nonce')
    assert.equal(verifyWork(nonce, peer, 40, counter), false, 'a 16-bit solution does not pass 40 bits')
  })

  it('asks nothing below the threshold and more bits as load doubles, up to the cap', () => {
    assert.equal(difficultyForLoad(0.99, 12, 4, 22), 0)
    assert.equal(difficultyForLoad(1, 12, 4, 22), 12)
    assert.equal(difficultyForLoad(2, 12, 4, 22), 16)
    assert.equal(difficultyForLoad(4, 12, 4, 22), 20)
    assert.equal(difficultyForLoad(1000, 12, 4, 22), 22)
  })
})

describe('admission under normal load', () => {
  let boot: BootstrapPeer
  let member: Membrane

  before(async () => {
    boot = await startBootstrap()
    member = await startMember(boot)
  })

  after(async () => { await stopAll(member, boot) })

  it('asks no work of a member', async () => {
    await waitFor(() => member.getConnections(boot.peerId).length > 0, 'member connected')
    await delay(500)
    assert.equal(boot.services.admission.currentDifficulty(), 0)
    assert.equal(boot.services.admission.stats.challenged, 0)
    assert.ok(member.getConnections(boot.peerId).length > 0)
  })
})

describe('admission under a connection flood', () => {
  let boot: BootstrapPeer
  const sockets: Socket[] = []
  const stock: Libp2p[] = []
  const honest: Membrane[] = []

  before(async () => {
    // loaded from 2 connections on, so the flood below puts it well over the threshold
    boot = await startBootstrap({ load: { connections: 2 }, maxConnectionsPerIp: 16 })
  })

  after(async () => {
    for (const s of sockets) { s.destroy() }
    await stopAll(...honest, ...stock, boot)
  })

  it('refuses the flood, challenges everyone while loaded, and still admits honest members', async () => {
    const port = Number(tcpAddress(boot).split('/')[4])

    // 1. 60 raw TCP connections from another loopback address that never handshake
    const RAW = 60
    let rawRefused = 0
    let rawHeld = 0
    await Promise.all(Array.from({ length: RAW }, async () => new Promise<void>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.66' })
      sockets.push(socket)
      let settled = false
      const held = setTimeout(() => { settled = true; rawHeld++; resolve() }, 1000)
      socket.once('close', () => {
        if (!settled) { clearTimeout(held); rawRefused++; resolve() }
      })
      socket.once('error', () => {})
    })))
    // libp2p refuses beyond 5 per second per host; our gater caps any one IP at 16
    assert.ok(rawHeld <= 16, `at most 16 half-open connections held from one IP (held ${rawHeld})`)
    assert.equal(rawRefused + rawHeld, RAW)

    // 2. 8 stock libp2p peers that complete the handshake but cannot answer the challenge
    const STOCK = 8
    for (let i = 0; i < STOCK; i++) {
      stock.push(await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] }))
    }
    for (const s of stock) {
      // one after the other, under libp2p's 5-per-second inbound rate limit per host;
      // the first arrives before the peer counts as loaded
      await s.dial(multiaddr(tcpAddress(boot))).catch(() => {})
      await delay(300)
    }
    await waitFor(() => boot.services.admission.stats.rejected >= STOCK - 2, 'stock flooders rejected', 30_000)
    assert.ok(boot.services.admission.stats.challenged >= STOCK - 2, 'flooders arriving under load were challenged')
    const barred = stock.filter(s => boot.services.admission.isBarred(s.peerId))
    assert.ok(barred.length >= STOCK - 2, `flooders that arrived under load are barred (${barred.length})`)
    await waitFor(() => barred.every(s => s.getConnections(boot.peerId).length === 0), 'barred flooders disconnected', 10_000)
    // a barred peer that reconnects is refused again
    const retry = await barred[0].dial(multiaddr(tcpAddress(boot)), { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    await waitFor(() => retry == null || retry.status !== 'open', 'barred reconnect closed', 10_000)

    // 3. honest members join while the flood is still held open
    await delay(1200) // past the per-host inbound rate window of the stock flood
    const started = Date.now()
    for (let i = 0; i < 3; i++) {
      honest.push(await startMember(boot))
    }
    await waitFor(() => honest.every(m => m.getConnections(boot.peerId).length > 0), 'honest members connected', 30_000)
    const joinMs = Date.now() - started
    await delay(1500)
    assert.ok(honest.every(m => m.getConnections(boot.peerId).length > 0), 'honest members stay connected after admission')
    for (const m of honest) {
      assert.ok(!boot.services.admission.isBarred(m.peerId))
    }
    const { challenged, admitted, rejected } = boot.services.admission.stats
    assert.ok(admitted >= 3, `honest members admitted (admitted ${admitted})`)
    assert.ok(rejected >= STOCK - 2, `stock flooders rejected (rejected ${rejected})`)
    assert.ok(challenged >= rejected + 3, 'honest members were challenged too')

    const figures = {
      rawAttempted: RAW,
      rawRefusedWithin1s: rawRefused,
      rawHeldAfter1s: rawHeld,
      stockAttempted: STOCK,
      challenged,
      admitted,
      rejected,
      honestJoinMs: joinMs,
      difficulty: boot.services.admission.currentDifficulty()
    }
    process.stdout.write(`admission flood figures: ${JSON.stringify(figures)}\n`)
  })
})
