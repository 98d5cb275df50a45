/**
 * Failure detection on member links (issue 13.2): a neighbour that goes
 * silent is declared lost by the keep-alive, a killed one by its closed
 * socket, and either leaves the survivors' maps; a stalled event loop cuts no
 * healthy link. The bound (lost within about 4 s) is a bench figure, never
 * asserted here: these tests wait on counters and map events.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { KEEP_ALIVE_PROTOCOL } from '../src/index.js'
import { silence } from '../src/keep-alive/keep-alive.js'
import { startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { delay, observationWindow, waitFor } from './fixtures/wait.js'
import type { Membrane } from '../src/index.js'
import type { PeerId } from '@libp2p/interface'
import type { ChildProcess } from 'node:child_process'

const SCRIPT = fileURLToPath(new URL('./fixtures/member-process.js', import.meta.url))
/** Generous bounds for waits on a loaded machine; the detection bound itself is measured by the bench */
const WAIT = 60_000

interface Child {
  process: ChildProcess
  id: PeerId
}

/** A member process linked to each of `peers` over TCP */
async function startChild (peers: Membrane[]): Promise<Child> {
  const child = spawn(process.execPath, [SCRIPT, ...peers.map(tcpAddress)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
  const id = peerIdFromString((JSON.parse(line) as { peerId: string }).peerId)
  return { process: child, id }
}

async function kill (child: Child | undefined): Promise<void> {
  if (child != null && child.process.exitCode == null && child.process.signalCode == null) {
    child.process.kill('SIGKILL')
    await once(child.process, 'exit')
  }
}

/** Run nothing else for `ms`: a stalled event loop */
function stall (ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) { /* busy */ }
}

/** `node` holds an unlimited link to `peer` that the keep-alive watches, and maps it with an edge to `node` */
function linkedAndMapped (node: Membrane, peer: PeerId): boolean {
  return node.getConnections(peer).some(c => c.status === 'open' && c.limits == null) &&
    node.services.networkMap.neighbours(peer).some(p => p.equals(node.peerId))
}

describe('keep-alive: silence is measured without local stalls', () => {
  it('a check that ran late does not count the stall as silence', () => {
    // heard at t = 1000 with no stall; at t = 9000 the loop had stood still 7000 ms of it
    assert.equal(silence(9_000, 1_000, 7_000, 0), 1_000)
    assert.equal(silence(9_000, 1_000, 0, 0), 8_000)
    // a stall before the last beat arrived does not shorten the silence since
    assert.equal(silence(9_000, 5_000, 3_000, 3_000), 4_000)
  })
})

describe('keep-alive on member links', () => {
  let a: Membrane
  let b: Membrane
  let child: Child | undefined

  before(async () => {
    [a, b] = await Promise.all([startMember(undefined), startMember(undefined)])
    await a.dial(multiaddr(tcpAddress(b)))
    await waitFor(() => a.services.keepAlive.stats().links === 1 && b.services.keepAlive.stats().links === 1, 'A and B watch their link', WAIT)
  })

  after(async () => {
    await kill(child)
    await stopAll(a, b)
  })

  it('beats flow both ways on a member link', async () => {
    const sent = a.services.keepAlive.stats().beatsReceived
    await waitFor(() => a.services.keepAlive.stats().beatsReceived > sent + 1 && b.services.keepAlive.stats().beatsReceived > 1, 'beats from B to A and from A to B', WAIT)
    assert.ok(a.getConnections(b.peerId).some(c => c.streams.some(s => s.protocol === KEEP_ALIVE_PROTOCOL)), 'the link carries a keep-alive stream')
  })

  it('a stalled event loop cuts no healthy link', async () => {
    const lost = a.services.keepAlive.stats().lost + b.services.keepAlive.stats().lost
    const stalled = a.services.keepAlive.stats().stalledMs
    // twice the silence deadline with nothing run in this process: no check, no beat, no socket read
    stall(7_000)
    await waitFor(() => a.services.keepAlive.stats().stalledMs >= stalled + 6_000, 'A noted the stall', WAIT)
    // the first checks after the stall, their confirmations, and a few beats
    await observationWindow(2_000)
    assert.equal(a.services.keepAlive.stats().lost + b.services.keepAlive.stats().lost, lost, 'no link was judged silent')
    assert.ok(a.getConnections(b.peerId).some(conn => conn.status === 'open'), 'A–B survived')
  })

  it('a slow event loop cuts no link to another process', async () => {
    child = await startChild([a])
    const c = child.id
    await waitFor(() => linkedAndMapped(a, c), 'A is linked to the child', WAIT)
    const lost = a.services.keepAlive.stats().lost
    const closed: string[] = []
    a.addEventListener('connection:close', (evt) => { if (evt.detail.remotePeer.equals(c)) { closed.push(evt.detail.id) } })
    // a loop that keeps running late (heavy synchronous work): 2 s stalls with short breaks; the child's checks keep their pace
    for (let i = 0; i < 3; i++) {
      stall(2_000)
      await delay(300)
    }
    await observationWindow(2_000)
    assert.equal(a.services.keepAlive.stats().lost, lost, 'A judged no link silent')
    assert.deepEqual(closed, [], 'the link to the child stayed open')
  })

  it('a frozen member (SIGSTOP: silent, sockets open) is declared lost and leaves the maps', async () => {
    await kill(child)
    child = await startChild([a, b])
    const c = child.id
    await waitFor(() => linkedAndMapped(a, c) && linkedAndMapped(b, c), 'the child is linked to and mapped by A and B', WAIT)
    const lost = [a, b].map(n => n.services.keepAlive.stats().lost)
    const removed: string[] = []
    for (const n of [a, b]) {
      n.services.networkMap.addEventListener('node:remove', (evt) => { if (evt.detail.id.equals(c)) { removed.push(n.peerId.toString()) } })
    }
    child.process.kill('SIGSTOP')
    await waitFor(() => a.services.keepAlive.stats().lost > lost[0] && b.services.keepAlive.stats().lost > lost[1], 'A and B declared the frozen child lost', WAIT)
    await waitFor(() => removed.length === 2, 'the frozen child left both maps', WAIT)
    assert.equal(a.services.networkMap.get(c), undefined)
    assert.equal(b.services.networkMap.get(c), undefined)
    assert.ok(a.getConnections(b.peerId).some(conn => conn.status === 'open'), 'the link between the survivors stays')
  })

  it('a member killed with SIGKILL leaves the maps', async () => {
    await kill(child)
    child = await startChild([a, b])
    const c = child.id
    await waitFor(() => linkedAndMapped(a, c) && linkedAndMapped(b, c), 'the child is linked to and mapped by A and B', WAIT)
    child.process.kill('SIGKILL')
    await once(child.process, 'exit')
    await waitFor(() => a.services.networkMap.get(c) == null && b.services.networkMap.get(c) == null, 'the killed child left both maps', WAIT)
    assert.equal(a.getConnections(c).length, 0)
  })

  it('a keep-alive stream whose far end closes its writable end is closed, not held half open', async () => {
    const rogue = await startMember(undefined)
    try {
      const connection = await rogue.dial(multiaddr(tcpAddress(b)))
      await waitFor(() => connection.streams.some(s => s.protocol === KEEP_ALIVE_PROTOCOL), 'the rogue opened its keep-alive stream', WAIT)
      const stream = connection.streams.find(s => s.protocol === KEEP_ALIVE_PROTOCOL)!
      const closed = once(stream, 'close') as Promise<[Event & { error?: Error }]>
      // a graceful close of the rogue's end resolves only once B closes its end as well
      await stream.close({ signal: AbortSignal.timeout(WAIT) })
      const [evt] = await closed
      assert.equal(evt.error, undefined, 'both ends closed cleanly')
      assert.equal(stream.status, 'closed')
    } finally {
      await stopAll(rogue)
    }
  })

  it('a stream carrying more than beats is aborted with a typed error', async () => {
    const errors = b.services.keepAlive.stats().protocolErrors
    // a second keep-alive stream on the link is refused by libp2p's stream limit, so the misbehaving peer is a fresh link
    const rogue = await startMember(undefined)
    try {
      const connection = await rogue.dial(multiaddr(tcpAddress(b)))
      await waitFor(() => connection.streams.some(s => s.protocol === KEEP_ALIVE_PROTOCOL), 'the rogue opened its keep-alive stream', WAIT)
      const stream = connection.streams.find(s => s.protocol === KEEP_ALIVE_PROTOCOL)!
      const closed = once(stream, 'close') as Promise<[Event & { error?: Error }]>
      stream.send(new Uint8Array(1024))
      await waitFor(() => b.services.keepAlive.stats().protocolErrors > errors, 'B refused the oversized beat', WAIT)
      const [evt] = await closed
      assert.ok(evt.error != null, 'the rogue stream was reset')
    } finally {
      await stopAll(rogue)
    }
  })
})
