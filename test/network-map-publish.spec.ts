/**
 * Re-issues of our own record caused by link changes are rate limited (issue
 * 19, mass start): a burst of link changes costs a bounded number of records,
 * and the last one lists the final link set. Real nodes over the memory
 * transport (Noise + yamux).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { createLibp2p } from 'libp2p'
import { PROTOCOL } from '../src/network-map/constants.js'
import { networkMap } from '../src/network-map/index.js'
import { waitFor } from './fixtures/wait.js'
import type { MapEdge, NetworkMap, NetworkMapInit } from '../src/network-map/index.js'
import type { Libp2p } from '@libp2p/interface'

type Node = Libp2p<{ networkMap: NetworkMap }>

let counter = 0
async function startNode (init: NetworkMapInit = {}): Promise<Node> {
  return createLibp2p({
    addresses: { listen: [`/memory/netmap-publish-${process.pid}-${counter++}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), networkMap: networkMap({ publishDelay: 50, ...init }) }
  })
}

const edgeKey = (e: MapEdge): string => [e.from.toString(), e.to.toString()].sort().join('|')

describe('link-caused re-issues of our record are coalesced', () => {
  const LEAVES = 12
  const DROPPED = 4
  const INTERVAL = 2_000
  const BURST = 2
  let hub: Node
  let leaves: Node[] = []

  before(async () => {
    hub = await startNode({ publishDelay: 1, publishInterval: INTERVAL, publishBurst: BURST })
    leaves = await Promise.all(Array.from({ length: LEAVES }, async () => startNode()))
  })

  after(async () => {
    await Promise.allSettled([hub, ...leaves].map(async n => n.stop()))
  })

  it('a burst of link changes costs at most the burst plus one record per interval, and the last lists the final links', async () => {
    const map = hub.services.networkMap
    assert.equal(map.stats().recordsIssued, 1, 'the first record is issued at start')
    const kept = leaves.slice(DROPPED)
    const watcher = kept[0].services.networkMap
    // the hub's edges as the watcher's events tell them, to check against edges() at the end
    const evented = new Set<string>()
    const hubKey = hub.peerId.toString()
    watcher.addEventListener('edge:add', (evt) => { if ([evt.detail.from, evt.detail.to].some(p => p.toString() === hubKey)) { evented.add(edgeKey(evt.detail)) } })
    watcher.addEventListener('edge:remove', (evt) => { evented.delete(edgeKey(evt.detail)) })

    const before = map.stats().recordsIssued
    const started = performance.now()
    // LEAVES links up, then DROPPED of them down again, one after the other: each change is seen by the
    // hub's map (identify done, or the connection gone) before the next, so without the limit each
    // would be a re-issue of its own (publishDelay is 1 ms)
    for (const leaf of leaves) {
      await hub.dial(leaf.getMultiaddrs()[0])
      await waitFor(async () => (await hub.peerStore.get(leaf.peerId)).protocols.includes(PROTOCOL), 'identify told the hub of the map protocol')
    }
    for (const leaf of leaves.slice(0, DROPPED)) {
      await hub.hangUp(leaf.peerId)
      await waitFor(() => hub.getConnections(leaf.peerId).length === 0, 'the link is gone')
    }

    const finalKeys = new Set(kept.map(l => l.peerId.toString()))
    const sameSet = (a: Iterable<string>, b: Set<string>): boolean => { const s = new Set(a); return s.size === b.size && [...b].every(k => s.has(k)) }
    const hubEdgesSeenBy = (m: NetworkMap): Set<string> =>
      new Set(m.edges().filter(e => e.from.toString() === hubKey || e.to.toString() === hubKey).map(e => e.from.toString() === hubKey ? e.to.toString() : e.from.toString()))
    await waitFor(() => {
      const own = map.get(hub.peerId)
      return own != null && sameSet(own.neighbours.map(n => n.id.toString()), finalKeys) && sameSet(hubEdgesSeenBy(watcher), finalKeys)
    }, 'the hub\'s record lists the final links and a neighbour\'s map holds exactly those edges', 30_000)
    const elapsed = performance.now() - started
    const issued = map.stats().recordsIssued - before

    // a token bucket of BURST, one more per INTERVAL, and one for rounding at the edge of the window
    const bound = BURST + Math.floor(elapsed / INTERVAL) + 1
    assert.ok(issued >= 1, 'the link changes were published')
    assert.ok(issued <= bound, `${issued} re-issues for ${LEAVES + DROPPED} link changes in ${Math.round(elapsed)} ms; at most ${bound} allowed`)
    // the record the map holds is the hub's latest, and every map event agrees with edges()
    assert.equal(watcher.get(hub.peerId)?.seq, map.get(hub.peerId)?.seq)
    assert.deepEqual([...evented].sort(), [...finalKeys].map(k => [hubKey, k].sort().join('|')).sort())
  })
})

describe('a re-issue whose timer fires late is held, and link changes meanwhile fold into it', () => {
  // the hold: one publishInterval; a tenth of the TTL caps repeated holds
  const INTERVAL = 8_000
  let hub: Node
  let leaves: Node[] = []

  before(async () => {
    // a burst large enough that the token bucket never holds a re-issue back: only lateness does
    hub = await startNode({ publishDelay: 1, publishInterval: INTERVAL, publishBurst: 10, recordTtl: 600_000 })
    leaves = await Promise.all(Array.from({ length: 4 }, async () => startNode()))
  })

  after(async () => {
    await Promise.allSettled([hub, ...leaves].map(async n => n.stop()))
  })

  const identified = async (leaf: Node): Promise<void> => {
    await waitFor(async () => (await hub.peerStore.get(leaf.peerId)).protocols.includes(PROTOCOL), 'identify told the hub of the map protocol')
  }

  it('three link changes during a stall cost one record, which lists the final links', async () => {
    const map = hub.services.networkMap
    const watcher = leaves[0].services.networkMap
    const hubKey = hub.peerId.toString()
    const neighboursOf = (m: NetworkMap): string[] => (m.get(hub.peerId)?.neighbours ?? []).map(n => n.id.toString()).sort()
    const keys = (nodes: Node[]): string[] => nodes.map(n => n.peerId.toString()).sort()

    await hub.dial(leaves[0].getMultiaddrs()[0])
    await waitFor(() => neighboursOf(watcher).join() === keys(leaves.slice(0, 1)).join(), 'the first link is in the hub\'s record as the watcher holds it')
    const before = map.stats().recordsIssued

    // the stall: the hub's event loop is blocked right after the map saw the second link (the registrar
    // tells the map on identify before this listener runs), so the re-issue timer, due 1 ms later, fires
    // 1.5 s late. This simulates an overloaded node; it is the condition under test, not a wait.
    const stall = (evt: CustomEvent<{ peerId: { toString(): string } }>): void => {
      if (evt.detail.peerId.toString() !== leaves[1].peerId.toString()) { return }
      hub.removeEventListener('peer:identify', stall)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_500)
    }
    hub.addEventListener('peer:identify', stall)
    await hub.dial(leaves[1].getMultiaddrs()[0])
    await waitFor(() => map.stats().reissuesHeld >= 1, 'the late re-issue was held')
    assert.equal(map.stats().recordsIssued, before, 'nothing was issued for the second link yet')

    // two more links while the re-issue is held
    await Promise.all(leaves.slice(2).map(async leaf => { await hub.dial(leaf.getMultiaddrs()[0]) }))
    await Promise.all(leaves.slice(2).map(identified))
    const duringHold = map.stats().recordsIssued

    await waitFor(() => neighboursOf(watcher).join() === keys(leaves).join(), 'the hub\'s record as the watcher holds it lists all four links', 40_000)
    assert.equal(duringHold, before, 'nothing was issued while the re-issue was held')
    assert.equal(map.stats().recordsIssued - before, 1, 'the three link changes folded into one record')
    assert.equal(watcher.get(hub.peerId)?.seq, map.get(hub.peerId)?.seq)
    const hubEdges = watcher.edges().filter(e => e.from.toString() === hubKey || e.to.toString() === hubKey).length
    assert.equal(hubEdges, 4, 'the watcher\'s map holds the hub\'s four edges')
  })
})

describe('refresh bytes are counted apart from the bytes a change costs', () => {
  let nodes: Node[] = []

  after(async () => {
    await Promise.allSettled(nodes.map(async n => n.stop()))
  })

  it('a line a–b–c: link changes are not refreshes; a\'s refreshes are, where a sends them and where b forwards them', async () => {
    // only a refreshes within the test (its TTL is short); b and c would refresh in 18 s at the earliest
    const [a, b, c] = nodes = await Promise.all([
      startNode({ recordTtl: 3_000 }),
      startNode({ recordTtl: 60_000 }),
      startNode({ recordTtl: 60_000 })
    ])
    await b.dial(a.getMultiaddrs()[0])
    await b.dial(c.getMultiaddrs()[0])
    await waitFor(() => c.services.networkMap.edges().length === 2 && c.services.networkMap.get(b.peerId)?.neighbours.length === 2, 'c holds both edges')
    const bBefore = b.services.networkMap.stats()
    const aIssued = a.services.networkMap.stats().recordsIssued
    assert.ok(bBefore.bytesSent > 0, 'b pushed records for its two new links')

    // two refreshes of a, each reaching c through b
    await waitFor(() => a.services.networkMap.stats().recordsIssued >= aIssued + 2 && c.services.networkMap.get(a.peerId)?.seq === a.services.networkMap.get(a.peerId)?.seq, 'a refreshed twice and c holds its latest record', 20_000)
    const aStats = a.services.networkMap.stats()
    const bStats = b.services.networkMap.stats()
    const cStats = c.services.networkMap.stats()
    assert.ok(aStats.refreshBytesSent > 0, 'a pushed its refreshes')
    assert.ok(bStats.refreshBytesSent - bBefore.refreshBytesSent > 0, 'b forwarded a\'s refreshes to c')
    assert.ok(bStats.refreshBytesSent <= bStats.bytesSent, 'refresh bytes are a part of the bytes sent')
    assert.ok(cStats.bytesSent > 0, 'c pushed its record for its new link')
    assert.equal(cStats.refreshBytesSent, 0, 'c\'s link-caused record is not a refresh, and c forwards nothing back')
  })
})

describe('a re-issue that would claim nothing new is skipped', () => {
  let nodes: Node[] = []

  after(async () => {
    await Promise.allSettled(nodes.map(async n => n.stop()))
  })

  it('a self:peer:update that changes no announced address costs no record; a new link still does', async () => {
    const [a, b, c] = nodes = await Promise.all([startNode({ publishDelay: 1 }), startNode(), startNode()])
    const map = a.services.networkMap
    await a.dial(b.getMultiaddrs()[0])
    await waitFor(() => b.services.networkMap.get(a.peerId)?.neighbours.length === 1, 'b holds a\'s record with the link')
    const issued = map.stats().recordsIssued
    const skipped = map.stats().reissuesSkipped
    // a change to our own peer record that is not an announced address (libp2p fires self:peer:update for
    // it, as for an observed address identify reports)
    await a.peerStore.merge(a.peerId, { metadata: { 'membrane-test': new Uint8Array([1]) } })
    await waitFor(() => map.stats().reissuesSkipped > skipped, 'the re-issue was considered and skipped')
    assert.equal(map.stats().recordsIssued, issued, 'no record was issued for it')
    assert.equal(b.services.networkMap.get(a.peerId)?.seq, map.get(a.peerId)?.seq, 'b holds a\'s latest record')

    await a.dial(c.getMultiaddrs()[0])
    await waitFor(() => b.services.networkMap.get(a.peerId)?.neighbours.length === 2, 'a\'s record with the new link reached b')
    assert.equal(map.stats().recordsIssued, issued + 1, 'the new link cost one record')
  })
})

describe('a record accepted while its node was pruned is flooded once a path brings the node back', () => {
  let nodes: Node[] = []

  after(async () => {
    await Promise.allSettled(nodes.map(async n => n.stop()))
  })

  it('s–a–b and s–c: b loses a, is pruned at s, links to c; a gets b\'s new record through s', async () => {
    // long TTLs: no refresh can repair what the floods miss within the test
    const [s, a, b, c] = nodes = await Promise.all(Array.from({ length: 4 }, async () => startNode({ recordTtl: 600_000 })))
    const map = (n: Node): NetworkMap => n.services.networkMap
    await s.dial(a.getMultiaddrs()[0])
    await a.dial(b.getMultiaddrs()[0])
    await s.dial(c.getMultiaddrs()[0])
    await waitFor(() => nodes.every(n => map(n).size === 4 && map(n).edges().length === 3), 'every map holds s–a, a–b and s–c')

    await a.hangUp(b.peerId)
    await waitFor(() => map(s).get(b.peerId) == null, 's dropped b: nothing reaches it')
    const removed = map(b).get(b.peerId)?.seq ?? 0n
    await b.dial(c.getMultiaddrs()[0])
    // b's record listing c reaches s through c while s holds b as pruned; the next sweep at s finds the path s–c–b
    await waitFor(() => map(s).get(b.peerId) != null && map(s).edges().length === 3, 's holds b again, with s–a, s–c and c–b')
    const latest = map(b).get(b.peerId)?.seq
    assert.ok(latest != null && latest > removed, 'b issued a record for its new link')
    await waitFor(() => map(a).get(b.peerId)?.seq === latest && map(a).edges().length === 3, 'a holds b\'s latest record and the edge c–b')
  })
})
