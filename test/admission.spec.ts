import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { ping } from '@libp2p/ping'
import { pbStream } from '@libp2p/utils'
import { ADMISSION_PROTOCOL, admission, difficultyForLoad, solveWork, verifyWork } from '../src/admission/index.js'
import { Challenge } from '../src/admission/pb/admission.js'
import { startBootstrap, startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { assertPingsAnswered, watchPings } from './fixtures/ping-watch.js'
import { startStockTcpNode } from './fixtures/stock.js'
import { delay, observationWindow, waitFor } from './fixtures/wait.js'
import type { Admission } from '../src/admission/index.js'
import { createLoadMonitor } from '../src/bootstrap/index.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
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

describe('load is this process\'s own', () => {
  it('another process keeping a core busy does not make the peer loaded; its own busy loop counts', async () => {
    const monitor = createLoadMonitor(() => 0)
    // bounded: the child spins for at most 8 s and is killed after the check
    const busy = spawn(process.execPath, ['-e', 'const end = Date.now() + 8000; while (Date.now() < end) {}'], { stdio: 'ignore' })
    let idleCpu: number
    try {
      await waitFor(() => monitor.figures().samples >= 6, 'six samples while the other process spins', 15_000)
      idleCpu = monitor.figures().cpu
      assert.ok(monitor.load() < 1, `another process's CPU use is not load (load ${monitor.load()}, ${JSON.stringify(monitor.figures())})`)
    } finally {
      busy.kill()
      await once(busy, 'exit')
    }
    // this process's own loop busy for six whole samples (CPU is the lowest of five), in 50 ms slices
    const from = monitor.figures().samples + 6
    while (monitor.figures().samples < from) {
      const slice = Date.now() + 50
      while (Date.now() < slice) {}
      await new Promise(resolve => setImmediate(resolve))
    }
    const { cpu } = monitor.figures()
    monitor.stop()
    // how much of a core this process gets depends on the machine; that it is counted does not
    assert.ok(cpu > 0.05 && cpu > 2 * idleCpu, `spinning shows as this process's CPU (${cpu} of a core, ${idleCpu} idle)`)
    assert.ok(monitor.load() >= cpu / 0.9, 'and as load')
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
    // challenges go out on connection:open; none may follow over the window
    await observationWindow(500)
    assert.equal(boot.services.admission.currentDifficulty(), 0)
    assert.equal(boot.services.admission.stats().challenged, 0)
    assert.ok(member.getConnections(boot.peerId).length > 0)
  })
})

describe('admission under a connection flood', () => {
  let boot: BootstrapPeer
  const sockets: Socket[] = []
  const stock: Libp2p[] = []
  const honest: Membrane[] = []
  let resident: Membrane

  before(async () => {
    // loaded from 2 connections on; a resident member holds one, so every peer below is challenged, honest or not
    boot = await startBootstrap({ load: { connections: 2 }, maxConnectionsPerIp: 16 })
    resident = await startMember(boot)
    await waitFor(() => boot.getConnections(resident.peerId).length > 0, 'the resident member connected')
  })

  after(async () => {
    for (const s of sockets) { s.destroy() }
    await stopAll(...honest, resident, ...stock, boot)
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
      // paced, one after the other, under libp2p's 5-per-second inbound rate limit per host
      await s.dial(multiaddr(tcpAddress(boot))).catch(() => {})
      await delay(300) // pacing under the rate limit, not a wait for anything
    }
    await waitFor(() => boot.services.admission.stats().rejected >= STOCK - 2, 'stock flooders rejected', 30_000)
    assert.ok(boot.services.admission.stats().challenged >= STOCK - 2, 'flooders arriving under load were challenged')
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
    await waitFor(() => honest.every(m => m.services.admission.stats().solved === 1), 'honest members solved their challenge', 30_000)
    await waitFor(() => boot.services.admission.stats().admitted >= 3, 'honest members admitted', 30_000)
    const joinMs = Date.now() - started
    await observationWindow(1500)
    assert.ok(honest.every(m => m.getConnections(boot.peerId).length > 0), 'honest members stay connected after admission')
    for (const m of honest) {
      assert.ok(!boot.services.admission.isBarred(m.peerId))
    }
    const { challenged, admitted, rejected } = boot.services.admission.stats()
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

describe('a member answers admission challenges only from the bootstrap peers it joins', () => {
  let member: Membrane
  let server: Libp2p<{ admission: Admission, ping: Ping }>
  let pinger: Libp2p<{ ping: Ping }>
  const strangers: Libp2p[] = []

  /** Write one challenge on a new admission stream from `from` to `to`; the member may reset the stream before it is written */
  async function challenge (from: Libp2p, to: Libp2p, difficulty: number): Promise<Connection> {
    const connection = from.getConnections(to.peerId)[0] ?? await from.dial(multiaddr(tcpAddress(to)))
    const stream = await connection.newStream(ADMISSION_PROTOCOL, { runOnLimitedConnection: true })
    await pbStream(stream).write({ nonce: crypto.getRandomValues(new Uint8Array(16)), difficulty }, Challenge).catch(() => {})
    return connection
  }

  before(async () => {
    // an honest loaded server: every inbound peer is asked for 16 bits
    server = await startStockTcpNode({
      services: { ping: ping(), admission: admission({ load: () => 1, baseDifficulty: 16 }) }
    }) as Libp2p<{ admission: Admission, ping: Ping }>
    // every challenger dials from 127.0.0.1: lift libp2p's 5-per-second inbound limit per host
    member = await startMember(server, { libp2p: { connectionManager: { inboundConnectionThreshold: 10_000 } } })
    pinger = await startStockTcpNode({ services: { ping: ping() } }) as Libp2p<{ ping: Ping }>
    await pinger.dial(multiaddr(tcpAddress(member)))
  })

  after(async () => { await stopAll(member, server, pinger, ...strangers) })

  it('solves its bootstrap peer\'s challenge without stalling', async () => {
    const pings = watchPings(pinger, member.peerId)
    await waitFor(() => server.services.admission.stats().admitted === 1, 'the member solves the 16-bit challenge', 30_000)
    const answered = await pings.stop()
    assert.equal(member.services.admission.stats().solved, 1)
    assertPingsAnswered(answered, 'honest pings while solving')
  })

  it('refuses, and hangs up on, challenges from any other peer and a second one from its bootstrap peer', async () => {
    const pings = watchPings(pinger, member.peerId)
    /** The member's side of each connection a challenge arrives on */
    const challenged: Connection[] = []
    // the fuzzer's attack: four connections asking for 2^24 hashes each, inbound to the member
    for (let i = 0; i < 4; i++) {
      const stranger = await startStockTcpNode()
      strangers.push(stranger)
      challenged.push(await challenge(stranger, member, 24))
    }
    // a connection the member dialed, to a peer that is not a bootstrap peer
    const dialed = await startStockTcpNode()
    strangers.push(dialed)
    await member.dial(multiaddr(tcpAddress(dialed)))
    challenged.push(await challenge(dialed, member, 8))
    // the bootstrap peer itself, after the admission it already passed
    challenged.push(await challenge(server, member, 8))
    await waitFor(() => member.services.admission.stats().refused === 6, 'six challenges refused', 10_000)
    // the connections those challenges came on are closed (the member may dial a peer again later)
    await waitFor(() => challenged.every(c => c.status !== 'open'), 'every challenger\'s connection closed', 10_000)
    const answered = await pings.stop()
    assert.equal(member.services.admission.stats().solved, 1, 'nothing solved beyond the one honest challenge')
    assertPingsAnswered(answered)
  })

  it('refuses a bootstrap peer\'s challenge above the difficulty it accepts', async () => {
    const greedy = await startStockTcpNode({
      services: { admission: admission({ load: () => 1, baseDifficulty: 24, maxDifficulty: 24 }) }
    }) as Libp2p<{ admission: Admission }>
    strangers.push(greedy)
    const joiner = await startMember(greedy)
    strangers.push(joiner)
    await waitFor(() => greedy.services.admission.stats().rejected === 1, 'the greedy server sees the member fail', 10_000)
    assert.equal(joiner.services.admission.stats().refused, 1)
    assert.equal(joiner.services.admission.stats().solved, 0)
  })
})
