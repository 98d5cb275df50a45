// The network map's parts on their own: the record store (pure), penalties,
// validation, and the wire flows through in-memory stream pairs with real protobuf bytes
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { RecordEnvelope } from '@libp2p/peer-record'
import { lpStream, streamPair } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_MAX_RECORD_SIZE, REFRESH_MAX, REFRESH_MIN, refreshDelay } from '../src/network-map/constants.js'
import { defaultLinkKind } from '../src/network-map/network-map.js'
import { NetmapMessage, NetmapRecord } from '../src/network-map/pb/netmap.js'
import { Penalties } from '../src/network-map/penalties.js'
import { INDEXED } from '../src/network-map/keyed-list.js'
import { RecordStore, storedRecord } from '../src/network-map/record-store.js'
import { summarise } from '../src/network-map/summary.js'
import { answerSync, push, readFrame, receivePush, runSync } from '../src/network-map/sync.js'
import { decodeRecord, isPeerIdBytes, sealRecord, signerOf, verifySignature } from '../src/network-map/validate.js'
import { identities, identity, recordOf, signedRecord } from './fixtures/netmap-records.js'
import type { RecordOptions, Identity } from './fixtures/netmap-records.js'
import type { MapEdge } from '../src/network-map/index.js'
import type { RecordStoreEvents } from '../src/network-map/record-store.js'
import type { FrameStream, SyncContext } from '../src/network-map/sync.js'
import type { Connection, PeerId } from '@libp2p/interface'

type Bytes = Uint8Array<ArrayBuffer>

interface Event { type: keyof RecordStoreEvents, detail: RecordStoreEvents[keyof RecordStoreEvents] }

function storeFor (self: PeerId, unreachableTimeout = 1_000, lostTimeout = 100): { store: RecordStore, events: Event[] } {
  const events: Event[] = []
  const store = new RecordStore({ self, unreachableTimeout, lostTimeout, emit: (type, detail) => { events.push({ type, detail }) } })
  return { store, events }
}

function put (store: RecordStore, id: PeerId, options: RecordOptions = {}, now = Date.now()): void {
  store.put(storedRecord(id, recordOf(id, options), new Uint8Array(0), options.expires ?? now + 60_000, now))
}

/** self – a – b, every edge two-sided, and a sweep: a and b are reached */
function putLine (store: RecordStore, self: PeerId, a: PeerId, b: PeerId, now: number): void {
  put(store, self, { neighbours: [a] }, now)
  put(store, a, { neighbours: [self, b] }, now)
  put(store, b, { neighbours: [a] }, now)
  store.sweep(now)
}

function edgeIds (edges: MapEdge[]): string[] {
  return edges.map(e => [e.from.toString(), e.to.toString()].sort().join('|')).sort()
}

function pair (a: PeerId, b: PeerId): string {
  return [a.toString(), b.toString()].sort().join('|')
}

describe('network map: record store', () => {
  it('records share one PeerId per node the map holds, and keep no view into the bytes they were decoded from', async () => {
    const [self, a, b, c] = await identities(4)
    const { store } = storeFor(self.id)
    // a frame as the wire hands it over: the record is a view into a larger buffer (an 8 KiB Buffer pool slab, say)
    const decoded = (bytes: Uint8Array): NetmapRecord => {
      const frame = new Uint8Array(8192)
      frame.set(bytes, 100)
      return NetmapRecord.decode(frame.subarray(100, 100 + bytes.byteLength))
    }
    const wire = (id: PeerId, neighbours: PeerId[]): NetmapRecord =>
      decoded(NetmapRecord.encode({ ...recordOf(id, { neighbours }), multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/4001').bytes] }))
    const lookup = (key: string, multihash: Uint8Array): PeerId => store.peerIdFor(key, multihash)
    const recordB = wire(b.id, [a.id])
    const storedB = storedRecord(store.peerIdFor(b.id.toString(), recordB.peerId), recordB, new Uint8Array(0), Date.now() + 60_000, Date.now(), lookup)
    store.put(storedB)
    const recordA = wire(a.id, [self.id, b.id, c.id])
    const stored = storedRecord(store.peerIdFor(a.id.toString(), recordA.peerId), recordA, new Uint8Array(0), Date.now() + 60_000, Date.now(), lookup)
    assert.equal(stored.node.id, storedB.claims.get(a.id.toString())?.id, 'a record that comes after a claim of its node takes the PeerId of that claim')
    store.put(stored)
    assert.equal(stored.claims.get(self.id.toString())?.id, self.id, 'our own PeerId, not a copy')
    assert.equal(stored.claims.get(b.id.toString())?.id, store.node(b.id.toString())?.id, 'the PeerId of the record held for b')
    assert.ok(stored.claims.get(c.id.toString())?.id.equals(c.id), 'a node not held yet gets a PeerId of its own')
    const frame = recordA.peerId.buffer
    for (const id of [stored.node.id, stored.claims.get(c.id.toString())!.id]) {
      assert.notEqual(id.toMultihash().bytes.buffer, frame, `${id} keeps no view into the frame`)
    }
    assert.notEqual(stored.node.multiaddrs[0].bytes.buffer, frame, 'nor does an address')
    assert.equal(stored.node.multiaddrs[0].toString(), '/ip4/127.0.0.1/tcp/4001')
    // held as bytes, made Multiaddrs on each read; an address that does not parse still refuses the record
    assert.notEqual(stored.node.multiaddrs, stored.node.multiaddrs)
    assert.deepEqual(stored.node.multiaddrs.map(String), ['/ip4/127.0.0.1/tcp/4001'])
    const bad = { ...recordOf(c.id), multiaddrs: [Uint8Array.of(0xff, 0xff, 0xff, 0x0f)] }
    assert.throws(() => storedRecord(c.id, bad, new Uint8Array(0), Date.now() + 60_000))
    // the store answers the lookup with the node's PeerId once it holds a record of it, or a record claims it
    assert.equal(store.peerId(a.id.toString()), stored.node.id)
    assert.equal(store.peerId(c.id.toString()), stored.claims.get(c.id.toString())?.id)
    assert.equal(store.peerId(self.id.toString()), self.id)
  })

  it('a node with more links than a list holds unindexed: every claim and edge found, edges come and go, paths go through it', async () => {
    const [self, hub] = await identities(2)
    const leaves = (await identities(INDEXED + 8)).map(i => i.id)
    const { store, events } = storeFor(self.id)
    const now = Date.now()
    put(store, self.id, { neighbours: [hub.id] }, now)
    put(store, hub.id, { neighbours: [self.id, ...leaves] }, now)
    for (const leaf of leaves) { put(store, leaf, { neighbours: [hub.id] }, now) }
    store.sweep(now)
    assert.equal(store.record(hub.id.toString())?.claims.size, leaves.length + 1)
    assert.ok(leaves.every(l => store.record(hub.id.toString())?.claims.get(l.toString())?.id.equals(l) === true), 'each claim under its key')
    assert.deepEqual(edgeIds(store.edges()), [pair(self.id, hub.id), ...leaves.map(l => pair(hub.id, l))].sort())
    assert.equal(store.neighbours(hub.id.toString()).length, leaves.length + 1)
    assert.deepEqual(store.path(leaves[INDEXED + 3])?.map(String), [self.id, hub.id, leaves[INDEXED + 3]].map(String))
    // the hub drops all but two leaves: its edges shrink back below the index threshold, one edge:remove each
    events.length = 0
    put(store, hub.id, { seq: 2n, neighbours: [self.id, leaves[0], leaves[INDEXED + 7]] }, now)
    assert.equal(events.filter(e => e.type === 'edge:remove').length, leaves.length - 2)
    assert.deepEqual(edgeIds(store.edges()), [pair(self.id, hub.id), pair(hub.id, leaves[0]), pair(hub.id, leaves[INDEXED + 7])].sort())
    assert.equal(store.path(leaves[1]), undefined, 'no path to a leaf the hub dropped')
    assert.deepEqual(store.path(leaves[INDEXED + 7])?.map(String), [self.id, hub.id, leaves[INDEXED + 7]].map(String))
    // and it takes them back: edge:add once each
    events.length = 0
    put(store, hub.id, { seq: 3n, neighbours: [self.id, ...leaves] }, now)
    assert.equal(events.filter(e => e.type === 'edge:add').length, leaves.length - 2)
    assert.equal(store.edges().length, leaves.length + 1)
  })

  it('the PeerIds held for claimed nodes without a record go once no record claims them and they outnumber the records and what the last cleanup kept', async () => {
    const [self, a, b] = await identities(3)
    const claimed = await identities(150)
    const { store } = storeFor(self.id)
    const lookup = (key: string, multihash: Uint8Array): PeerId => store.peerIdFor(key, multihash)
    const now = Date.now()
    const held = (): string[] => claimed.filter(c => store.peerId(c.id.toString())?.equals(c.id) === true).map(c => c.id.toString())
    store.put(storedRecord(a.id, recordOf(a.id, { neighbours: claimed.slice(0, 70).map(c => c.id) }), new Uint8Array(0), now + 60_000, now, lookup))
    store.sweep(now)
    assert.equal(held().length, 70, 'still claimed: kept, however many (and the next cleanup waits for twice as many)')
    store.put(storedRecord(a.id, recordOf(a.id, { seq: 2n, neighbours: [claimed[0].id] }), new Uint8Array(0), now + 60_000, now, lookup))
    store.sweep(now)
    assert.equal(held().length, 70, '69 unclaimed, but not more than twice what the last cleanup kept')
    store.put(storedRecord(b.id, recordOf(b.id, { neighbours: claimed.slice(70).map(c => c.id) }), new Uint8Array(0), now + 60_000, now, lookup))
    store.put(storedRecord(b.id, recordOf(b.id, { seq: 2n, neighbours: [claimed[149].id] }), new Uint8Array(0), now + 60_000, now, lookup))
    assert.equal(held().length, 150, 'kept until the next sweep')
    store.sweep(now)
    assert.deepEqual(held(), [claimed[0].id.toString(), claimed[149].id.toString()])
  })

  it('a record\'s addresses are read back whole from spans of its envelope copy, never from the frame it was decoded from', async () => {
    const [a] = await identities(1)
    const addrs = ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4002/ws']
    const bytes = NetmapRecord.encode({ ...recordOf(a.id), multiaddrs: addrs.map(s => multiaddr(s).bytes) })
    const received = (): Uint8Array => {
      const frame = new Uint8Array(8192)
      frame.set(bytes, 100)
      return frame.subarray(100, 100 + bytes.byteLength)
    }
    const view = received()
    const spanned = storedRecord(a.id, NetmapRecord.decode(view), new Uint8Array(view), Date.now() + 60_000, Date.now(), undefined, view)
    // the envelope is not the copy of these bytes (a caller's mistake): the addresses are copied instead
    const other = received()
    const copied = storedRecord(a.id, NetmapRecord.decode(other), new Uint8Array(0), Date.now() + 60_000, Date.now(), undefined, other)
    // the frames are reused for the next input: nothing held may change
    new Uint8Array(view.buffer).fill(0)
    new Uint8Array(other.buffer).fill(0)
    assert.deepEqual(spanned.node.multiaddrs.map(String), addrs)
    assert.deepEqual(copied.node.multiaddrs.map(String), addrs)
    assert.deepEqual(storedRecord(a.id, recordOf(a.id), new Uint8Array(0), Date.now() + 60_000).node.multiaddrs, [], 'no addresses')
  })

  it('held nodes keep one fast shape however many there are (an own getter in a literal went dictionary-mode, ~440 B more each)', async () => {
    setFlagsFromString('--allow-natives-syntax')
    const fast = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean
    setFlagsFromString('--no-allow-natives-syntax')
    const [a, b] = await identities(2)
    const nodes = Array.from({ length: 3000 }, (_, i) => storedRecord(a.id, { ...recordOf(a.id, { neighbours: [b.id] }), seq: BigInt(i + 1), ...(i % 7 === 0 ? { alias: `n${i}` } : {}) }, new Uint8Array(0), Date.now() + 60_000).node)
    assert.deepEqual(nodes.filter(n => !fast(n)).length, 0, 'no held node is dictionary-mode')
    assert.equal(nodes[7].alias, 'n7')
    assert.equal('alias' in nodes[1], false, 'no alias property on a node whose record has none')
    assert.deepEqual(nodes[2999].neighbours.map(n => n.id.toString()), [b.id.toString()])
  })

  it('an edge exists only while both ends list each other', async () => {
    const [self, a, b] = await identities(3)
    const { store, events } = storeFor(self.id)
    put(store, self.id, { neighbours: [a.id] })
    put(store, a.id, { neighbours: [self.id, b.id] })
    put(store, b.id, { neighbours: [] })
    assert.deepEqual(edgeIds(store.edges()), [pair(self.id, a.id)], 'a claims b, b does not claim a')
    assert.deepEqual(store.neighbours(b.id.toString()), [])
    put(store, b.id, { seq: 2n, neighbours: [a.id] })
    assert.deepEqual(edgeIds(store.edges()), [pair(self.id, a.id), pair(a.id, b.id)].sort())
    assert.deepEqual(events.filter(e => e.type === 'edge:add').length, 2)
    put(store, a.id, { seq: 2n, neighbours: [self.id] })
    assert.deepEqual(edgeIds(store.edges()), [pair(self.id, a.id)])
    assert.deepEqual(events.filter(e => e.type === 'edge:remove').map(e => edgeIds([e.detail as MapEdge])[0]), [pair(a.id, b.id)])
  })

  it('emits edge:update when an edge changes kind or RTT, and nothing when it does not', async () => {
    const [self, a] = await identities(2)
    const { store, events } = storeFor(self.id)
    put(store, self.id, { neighbours: [a.id], kind: NetmapRecord.LinkKind.RELAYED })
    put(store, a.id, { neighbours: [self.id], kind: NetmapRecord.LinkKind.RELAYED })
    assert.equal(store.edges()[0].kind, 'relay')
    put(store, a.id, { seq: 2n, neighbours: [self.id], kind: NetmapRecord.LinkKind.RELAYED })
    assert.equal(events.filter(e => e.type === 'edge:update').length, 0, 'same kind, no RTT: no update')
    put(store, self.id, { seq: 2n, neighbours: [a.id] })
    put(store, a.id, { seq: 3n, neighbours: [self.id] })
    const updates = events.filter(e => e.type === 'edge:update').map(e => e.detail as MapEdge)
    assert.deepEqual(updates.map(e => e.kind), ['direct'], 'one update, when both ends say direct')
    put(store, self.id, { seq: 3n, neighbours: [a.id], kind: NetmapRecord.LinkKind.DIRECT, webrtc: true })
    put(store, a.id, { seq: 5n, neighbours: [self.id], kind: NetmapRecord.LinkKind.DIRECT, webrtc: true })
    assert.equal(store.edges()[0].kind, 'webrtc', 'WebRTC travels as DIRECT plus a flag')
    put(store, a.id, { seq: 6n, neighbours: [self.id], rtt: 30, webrtc: true })
    assert.equal((events.at(-1)?.detail as MapEdge).rtt, 30)
    assert.equal(events.at(-1)?.type, 'edge:update')
  })

  it('marks a version a refresh only when it changes nothing but its seq, expiry and RTTs', async () => {
    const [self, a, b] = await identities(3)
    const { store } = storeFor(self.id)
    const now = Date.now()
    const addr = multiaddr('/ip4/10.0.0.1/tcp/4001').bytes
    const version = (seq: bigint, more: Partial<NetmapRecord> = {}, options: RecordOptions = {}): boolean => {
      const stored = storedRecord(a.id, { ...recordOf(a.id, { seq, neighbours: [self.id], expires: now + 60_000 + Number(seq), ...options }), multiaddrs: [addr], alias: 'a', roles: ['member'], ...more }, new Uint8Array(0), now + 60_000, now)
      store.put(stored)
      return stored.refresh === true
    }
    assert.equal(version(1n), false, 'the first version is news')
    assert.equal(version(2n, {}, { rtt: 40 }), true, 'a new seq, expiry and RTT only: a refresh')
    assert.equal(version(3n, {}, { neighbours: [self.id, b.id] }), false, 'a neighbour more')
    assert.equal(version(4n, {}, { neighbours: [self.id, b.id], kind: NetmapRecord.LinkKind.RELAYED }), false, 'a link changed kind')
    assert.equal(version(5n, { multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4002').bytes] }, { neighbours: [self.id, b.id], kind: NetmapRecord.LinkKind.RELAYED }), false, 'an address changed')
    assert.equal(version(6n, { multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4002').bytes], alias: 'b' }, { neighbours: [self.id, b.id], kind: NetmapRecord.LinkKind.RELAYED }), false, 'the alias changed')
    assert.equal(version(7n, { multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4002').bytes], alias: 'b' }, { neighbours: [self.id, b.id], kind: NetmapRecord.LinkKind.RELAYED }), true, 'unchanged again: a refresh')
    assert.equal(version(8n, { multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4002').bytes], alias: 'b', roles: [] }, { neighbours: [self.id, b.id], kind: NetmapRecord.LinkKind.RELAYED }), false, 'the roles changed')
    assert.equal(version(9n, { departing: true, multiaddrs: [], neighbours: [] }), false, 'a goodbye is never a refresh')
    assert.equal(version(10n, { multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4002').bytes], alias: 'b', roles: [] }, { neighbours: [self.id, b.id], kind: NetmapRecord.LinkKind.RELAYED }), false, 'nor the version after a goodbye')
  })

  it('path() finds shortest paths, honours exclude and latency weights, and returns undefined off the map', async () => {
    const [self, a, b, c, d] = await identities(5)
    const { store } = storeFor(self.id)
    // self - a - c, self - b - c, c - d; a–c is slow
    put(store, self.id, { neighbours: [a.id, b.id] })
    put(store, a.id, { neighbours: [self.id, c.id] })
    put(store, b.id, { neighbours: [self.id, c.id], rtt: 10 })
    put(store, c.id, { neighbours: [a.id, b.id, d.id], rtt: 10 })
    put(store, d.id, { neighbours: [c.id] })
    const path = store.path(d.id)!
    assert.equal(path.length, 4)
    assert.ok(path[0].equals(self.id) && path[3].equals(d.id) && path[2].equals(c.id))
    assert.ok(store.path(d.id, { exclude: [a.id] })![1].equals(b.id))
    assert.ok(store.path(d.id, { exclude: [b.id] })![1].equals(a.id))
    assert.equal(store.path(d.id, { exclude: [c.id] }), undefined)
    // a–c is unmeasured on a's side and 10 on c's (mean 10), b–c 10 both: latency picks self-b (10) over self-a (unmeasured, 100)
    assert.ok(store.path(c.id, { weight: 'latency' })![1].equals(b.id))
    const stranger = await identity()
    assert.equal(store.path(stranger.id), undefined)
    assert.deepEqual(store.path(self.id)?.map(String), [self.id.toString()])
  })

  it('prunes a node no two-sided path reaches after unreachableTimeout, and brings it back when a path appears', async () => {
    const [self, a, b] = await identities(3)
    const { store, events } = storeFor(self.id, 1_000)
    const now = Date.now()
    put(store, self.id, { neighbours: [a.id] }, now)
    put(store, a.id, { neighbours: [self.id] }, now)
    put(store, b.id, { neighbours: [a.id] }, now)
    store.sweep(now)
    assert.equal(store.size, 3, 'unreachable but within the timeout')
    store.sweep(now + 999)
    assert.equal(store.size, 3)
    store.sweep(now + 1_000)
    assert.equal(store.size, 2)
    assert.equal(store.node(b.id.toString()), undefined)
    assert.equal(store.held, 3, 'the pruned record is held so older copies are not re-accepted')
    assert.deepEqual(events.filter(e => e.type === 'node:remove').map(e => (e.detail as { id: PeerId }).id.toString()), [b.id.toString()])
    put(store, a.id, { seq: 2n, neighbours: [self.id, b.id] }, now)
    store.sweep(now + 1_100)
    assert.equal(store.size, 3, 'back once a path reaches it')
    assert.deepEqual(edgeIds(store.edges()), [pair(self.id, a.id), pair(a.id, b.id)].sort())
  })

  it('prunes a node that was reached and lost its last link after lostTimeout, not the join grace', async () => {
    const [self, a, b] = await identities(3)
    const { store } = storeFor(self.id, 60_000, 100)
    const now = Date.now()
    putLine(store, self.id, a.id, b.id, now)
    assert.equal(store.size, 3)
    // a loses its link to b: b's record still claims a, a's does not claim b
    put(store, a.id, { seq: 2n, neighbours: [self.id] }, now)
    store.sweep(now + 10)
    assert.equal(store.size, 3, 'within lostTimeout')
    store.sweep(now + 110)
    assert.equal(store.node(b.id.toString()), undefined, 'gone after lostTimeout, long before the 60 s join grace')
    // a newcomer whose edges are not two-sided yet keeps the join grace
    const c = await identity()
    put(store, c.id, { neighbours: [a.id] }, now)
    store.sweep(now + 120)
    store.sweep(now + 10_000)
    assert.ok(store.node(c.id.toString()) != null)
  })

  it('a newer record of a node we reached does not buy it the join grace, nor a place in the map while nothing reaches it', async () => {
    const [self, a, b] = await identities(3)
    const { store, events } = storeFor(self.id, 60_000, 100)
    const now = Date.now()
    putLine(store, self.id, a.id, b.id, now)
    // b dies; a's record without it arrives first, then a copy of b's last record (issued just before it died,
    // handed over by a sync), which still claims a: nothing we reach claims b
    put(store, a.id, { seq: 2n, neighbours: [self.id] }, now)
    store.sweep(now + 10)
    put(store, b.id, { seq: 2n, neighbours: [a.id] }, now + 50)
    store.sweep(now + 60)
    assert.ok(store.node(b.id.toString()) != null, 'within lostTimeout of becoming unreachable')
    store.sweep(now + 110)
    assert.equal(store.node(b.id.toString()), undefined, 'gone lostTimeout after it became unreachable, not after the 60 s join grace')
    // a still newer copy while it is unreachable: held, but not back in the map (no add and remove again)
    const removes = events.filter(e => e.type === 'node:remove').length
    const adds = events.filter(e => e.type === 'node:add').length
    put(store, b.id, { seq: 3n, neighbours: [a.id] }, now + 120)
    assert.equal(store.node(b.id.toString()), undefined)
    store.sweep(now + 130)
    assert.equal(store.node(b.id.toString()), undefined)
    assert.equal(events.filter(e => e.type === 'node:add').length, adds, 'no node:add for a node nothing reaches')
    assert.equal(events.filter(e => e.type === 'node:remove').length, removes)
    assert.equal(store.record(b.id.toString())?.seq, 3n, 'the newer copy is held, so older ones are not re-accepted')
    // a path appears again: b is back, with its newest record
    put(store, a.id, { seq: 3n, neighbours: [self.id, b.id] }, now + 140)
    store.sweep(now + 150)
    assert.equal(store.node(b.id.toString())?.seq, 3n)
    assert.deepEqual(edgeIds(store.edges()), [pair(self.id, a.id), pair(a.id, b.id)].sort())
  })

  it('a node we hold a link to is not lost while our own record, held back, does not claim it yet', async () => {
    const [self, a, b] = await identities(3)
    const { store } = storeFor(self.id, 60_000, 100)
    const now = Date.now()
    putLine(store, self.id, a.id, b.id, now)
    // a dies and we link to b instead; our record still lists a (the re-issue limit holds it back),
    // b's new record claims us, a's old one still claims b: no two-sided path reaches b
    put(store, b.id, { seq: 2n, neighbours: [self.id] }, now)
    const linkedToB = (key: string): boolean => key === b.id.toString()
    store.sweep(now + 10, linkedToB)
    store.sweep(now + 200, linkedToB)
    assert.ok(store.node(b.id.toString()) != null, 'linked: kept past lostTimeout')
    put(store, self.id, { seq: 2n, neighbours: [b.id] }, now)
    store.sweep(now + 210, linkedToB)
    assert.deepEqual(store.path(b.id)?.map(String), [self.id.toString(), b.id.toString()])
    // without the link, the same node is lost
    put(store, self.id, { seq: 3n, neighbours: [] }, now)
    store.sweep(now + 220)
    store.sweep(now + 330)
    assert.equal(store.node(b.id.toString()), undefined)
  })

  it('a node whose own new record leaves it unreachable for a moment (it swapped links) keeps the grace', async () => {
    const [self, a, b, x] = await identities(4)
    const { store, events } = storeFor(self.id, 60_000, 100)
    const now = Date.now()
    put(store, self.id, { neighbours: [a.id, b.id] }, now)
    put(store, a.id, { neighbours: [self.id, x.id] }, now)
    put(store, b.id, { neighbours: [self.id] }, now)
    put(store, x.id, { neighbours: [a.id] }, now)
    store.sweep(now)
    // x drops a for b; b's record claiming x is still on its way
    put(store, x.id, { seq: 2n, neighbours: [b.id] }, now)
    store.sweep(now + 500)
    assert.ok(store.node(x.id.toString()) != null, 'not pruned as lost')
    put(store, b.id, { seq: 2n, neighbours: [self.id, x.id] }, now)
    store.sweep(now + 600)
    assert.ok(store.path(x.id)?.[1].equals(b.id))
    assert.equal(events.filter(e => e.type === 'node:remove').length, 0, 'no flap')
  })

  it('evicts the non-live record that expires first, and nothing while all are live', async () => {
    const [self, a, b, c] = await identities(4)
    const { store } = storeFor(self.id)
    const now = Date.now()
    put(store, self.id, {}, now)
    put(store, a.id, {}, now)
    assert.equal(store.evict(), false, 'every record is live')
    put(store, b.id, { seq: 2n, departing: true, expires: now + 5_000 }, now)
    put(store, c.id, { seq: 2n, departing: true, expires: now + 1_000 }, now)
    assert.equal(store.held, 4)
    assert.equal(store.evict(), true)
    assert.equal(store.record(c.id.toString()), undefined, 'the one expiring first')
    assert.ok(store.record(b.id.toString()) != null)
    assert.equal(store.held, 3)
    assert.equal(store.size, 2)
  })

  it('drops an expired record, and a goodbye at once', async () => {
    const [self, a, b] = await identities(3)
    const { store, events } = storeFor(self.id)
    const now = Date.now()
    put(store, self.id, { neighbours: [a.id, b.id] }, now)
    put(store, a.id, { neighbours: [self.id], expires: now + 500 }, now)
    put(store, b.id, { neighbours: [self.id] }, now)
    put(store, b.id, { seq: 2n, departing: true }, now)
    assert.equal(store.node(b.id.toString()), undefined, 'a goodbye removes the node without a sweep')
    assert.equal(events.at(-1)?.type, 'node:remove')
    store.sweep(now + 500)
    assert.equal(store.node(a.id.toString()), undefined)
    assert.equal(store.record(a.id.toString()), undefined, 'expired records are forgotten')
    assert.deepEqual(store.edges(), [])
    assert.equal(store.size, 1)
  })

  for (const timeouts of [0, 1e9]) {
    it(`keeps what it reaches between sweeps and walks on from what grew: the same map as a whole walk every time (timeouts ${timeouts})`, async () => {
      // The store walks the whole map only after a change that can shrink what it reaches; this checks
      // it against a whole walk after every sweep, over a seeded random run of claims added, claims
      // removed, goodbyes, returns and expiries. With both timeouts 0 a sweep drops every live node it
      // does not reach and brings back every pruned one it does, so the live nodes are exactly those a
      // two-sided path from us reaches; with both timeouts far off nothing is dropped, and the reached
      // nodes are the live ones whose unreachable timer is not running
      const ids = (await identities(24)).map(i => i.id)
      const [self] = ids
      const { store } = storeFor(self, timeouts, timeouts)
      let seed = 7
      const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
      const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]
      const state = new Map<PeerId, { seq: bigint, claims: Set<PeerId>, departing: boolean }>(ids.map(id => [id, { seq: 1n, claims: new Set<PeerId>(), departing: false }]))
      const now = 1_000_000
      const issue = (id: PeerId, expires = now + 60_000): void => {
        const s = state.get(id)!
        s.seq++
        put(store, id, { seq: s.seq, neighbours: [...s.claims], departing: s.departing, expires }, now)
      }
      const expected = (): string[] => {
        const claims = (key: string): Set<string> | undefined => {
          const r = store.record(key)
          return r == null || r.state === 'departed' ? undefined : new Set(r.claims.keys())
        }
        const seen = new Set([self.toString()])
        const queue = [self.toString()]
        while (queue.length > 0) {
          const key = queue.pop()!
          for (const next of claims(key) ?? []) {
            if (!seen.has(next) && claims(next)?.has(key) === true) { seen.add(next); queue.push(next) }
          }
        }
        return [...seen].filter(k => store.record(k)?.state === 'live').sort()
      }
      const reached = (): string[] => [...store.all()]
        .filter(r => r.state === 'live' && (timeouts === 0 || r.unreachableSince == null))
        .map(r => r.key).sort()
      // what the store's kept summary must equal: the live records' hashed afresh
      const liveSummary = (): ReturnType<typeof summarise> => summarise([...store.all()].filter(r => r.state === 'live'))
      issue(self)
      let grew = 0
      let shrank = 0
      for (let step = 0; step < 800; step++) {
        const id = pick(ids)
        const s = state.get(id)!
        const op = random()
        if (op < 0.75) {
          const other = pick(ids)
          if (other !== id) { s.claims.add(other); grew++ }
        } else if (op < 0.9) {
          s.claims.delete(pick([...s.claims, self]))
          shrank++
        } else if (op < 0.94 && id !== self) {
          s.departing = !s.departing
        }
        issue(id, id !== self && random() < 0.02 ? now + step : now + 60_000)
        assert.deepEqual(store.summary(), liveSummary(), `the summary kept as records come and go, after the put of step ${step}`)
        if (random() < 0.7) {
          store.sweep(now + step)
          assert.deepEqual(reached(), expected(), `step ${step}`)
          assert.deepEqual(store.summary(), liveSummary(), `the summary kept, after the sweep of step ${step}`)
        }
      }
      store.sweep(now + 800)
      assert.deepEqual(reached(), expected(), 'at the end')
      assert.deepEqual(store.summary(), liveSummary(), 'the summary kept, at the end')
      assert.equal(store.summary().count, store.size)
      assert.ok(grew > 300 && shrank > 60, `both kinds of change were made (${grew} added, ${shrank} removed)`)
    })
  }
})

describe('network map: refreshes and link kinds', () => {
  it('spreads refreshes over a third of the TTL and always before expiry', () => {
    const ttl = 300_000
    const delays = Array.from({ length: 1000 }, () => refreshDelay(ttl))
    assert.ok(Math.min(...delays) >= ttl * REFRESH_MIN && Math.max(...delays) <= ttl * REFRESH_MAX)
    assert.ok(Math.max(...delays) - Math.min(...delays) > ttl * 0.3, 'spread, not a fixed TTL/2')
    assert.equal(refreshDelay(ttl, 0), ttl * REFRESH_MIN)
    assert.equal(refreshDelay(ttl, 1), ttl * REFRESH_MAX)
    // a mass start of 1000 nodes: no second of the refresh window holds more than 3 % of them (a fixed TTL/2 puts all of them in one)
    const perSecond = new Map<number, number>()
    for (const d of delays) { perSecond.set(Math.floor(d / 1000), (perSecond.get(Math.floor(d / 1000)) ?? 0) + 1) }
    assert.ok(Math.max(...perSecond.values()) <= 30, `at most ${Math.max(...perSecond.values())} refreshes in one second`)
  })

  it('classifies links with linkKind() and leaves signaling circuits (limited mesh circuits) out', () => {
    const A = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    const B = '12D3KooWHFrmLWTTDD4NodngtRMEVYvYwJ4pNbmT3hBF2qqsuBJm'
    const conn = (addr: string, limited = false): Connection => ({ remoteAddr: multiaddr(addr), limits: limited ? { bytes: 1n } : undefined }) as unknown as Connection
    assert.equal(defaultLinkKind(conn(`/ip4/10.0.0.1/tcp/1/p2p/${B}`)), 'direct')
    assert.equal(defaultLinkKind(conn(`/ip4/10.0.0.1/tcp/1/p2p/${A}/p2p-circuit/webrtc/p2p/${B}`)), 'webrtc')
    assert.equal(defaultLinkKind(conn(`/ip4/10.0.0.1/tcp/1/p2p/${A}/p2p-circuit/p2p/${B}`, true)), 'relay')
    assert.equal(defaultLinkKind(conn(`/p2p/${A}/membrane-circuit/p2p/${B}`)), 'circuit')
    assert.equal(defaultLinkKind(conn(`/p2p/${A}/membrane-circuit/p2p/${B}`, true)), undefined, 'a signaling circuit is not a link')
  })
})

describe('network map: penalties', () => {
  it('points decay by half-life and cross the threshold once', () => {
    const penalties = new Penalties({ threshold: 10, halfLife: 1_000, maxRecordsPerSecond: 10, recordBurst: 10 })
    const now = Date.now()
    assert.equal(penalties.add('p', 5, now), false)
    assert.equal(penalties.add('p', 5, now), true)
    assert.equal(penalties.add('p', 5, now), false, 'already over')
    assert.ok(Math.abs(penalties.current('p', now + 1_000) - 7.5) < 1e-9)
    assert.equal(penalties.current('q', now), 0)
  })

  it('refuses pushes beyond the burst with RecordRateLimitError, afresh after forget()', () => {
    const penalties = new Penalties({ threshold: 10, halfLife: 1_000, maxRecordsPerSecond: 1, recordBurst: 10 })
    penalties.spend('p', 6)
    penalties.spend('p', 4)
    assert.throws(() => { penalties.spend('p', 1) }, { name: 'RecordRateLimitError' })
    penalties.spend('q', 10)
    penalties.forget('p')
    penalties.spend('p', 10)
  })
})

describe('network map: validation', () => {
  it('byte-checks PeerId multihashes', async () => {
    const { id } = await identity()
    assert.ok(isPeerIdBytes(id.toMultihash().bytes))
    assert.ok(isPeerIdBytes(Uint8Array.from([0x12, 0x20, ...new Uint8Array(32)])))
    assert.ok(!isPeerIdBytes(new Uint8Array(100_000).fill(0xab)))
    assert.ok(!isPeerIdBytes(Uint8Array.from([0x00, 43, ...new Uint8Array(43)])), 'identity digests above 42 bytes')
    assert.ok(!isPeerIdBytes(Uint8Array.from([0x12, 0x20, 1, 2])), 'length must match')
  })

  it('takes a record apart with a typed error at each step', async () => {
    const [x, y] = await identities(2)
    const limits = { maxRecordSize: DEFAULT_MAX_RECORD_SIZE, maxNeighbours: 4 }
    const good = decodeRecord(await signedRecord(x, { neighbours: [y.id] }), limits)
    const signer = signerOf(good)
    assert.ok(signer.subject.equals(x.id))
    await verifySignature(signer)
    assert.throws(() => decodeRecord(new Uint8Array(DEFAULT_MAX_RECORD_SIZE + 1), limits), { name: 'RecordTooLargeError' })
    assert.throws(() => decodeRecord(Uint8Array.from([0x0a, 0xff, 0xff, 0x7f, 9, 9]), limits), { name: 'MalformedRecordError' })
    const crowded = await signedRecord(x, { neighbours: (await identities(5)).map(i => i.id) })
    assert.throws(() => decodeRecord(crowded, limits), { name: 'InvalidRecordError' })
    const bigId = recordOf(x.id)
    bigId.peerId = new Uint8Array(1000).fill(0xab)
    const bigIdEnvelope = await sealRecord(bigId, x.key, DEFAULT_MAX_RECORD_SIZE)
    assert.throws(() => decodeRecord(bigIdEnvelope, limits), { name: 'MalformedRecordError' })
    // signed by x, about y
    const mismatch = await sealRecord(recordOf(y.id), x.key, DEFAULT_MAX_RECORD_SIZE)
    assert.throws(() => signerOf(decodeRecord(mismatch, limits)), { name: 'RecordSignerMismatchError' })
    const forged = RecordEnvelope.createFromProtobuf(await signedRecord(x, { seq: 2n }))
    forged.signature = new Uint8Array(64)
    forged.marshaled = undefined
    await assert.rejects(verifySignature(signerOf(decodeRecord(forged.marshal(), limits))), { name: 'RecordSignatureError' })
  })

  it('seals within maxRecordSize by keeping the first neighbours', async () => {
    const x = await identity()
    const neighbours = (await identities(40)).map(i => i.id)
    const envelope = await sealRecord(recordOf(x.id, { neighbours }), x.key, 1_000)
    assert.ok(envelope.byteLength <= 1_000)
    const { record } = decodeRecord(envelope, { maxRecordSize: 1_000, maxNeighbours: 256 })
    assert.ok(record.neighbours.length > 0 && record.neighbours.length < 40)
    assert.deepEqual(record.neighbours.map(n => uint8ArrayToString(n.peerId, 'base58btc')), neighbours.slice(0, record.neighbours.length).map(String))
  })
})

/** One side of a wire test: held records by PeerId string, verified on receipt */
class Side {
  readonly held = new Map<string, { seq: bigint, envelope: Uint8Array, peerId: Bytes }>()
  readonly known = new Map<string, bigint>()
  readonly rejected: string[] = []
  readonly stats = { bytesSent: 0, bytesReceived: 0 }
  spent = 0

  constructor (readonly self: Identity, readonly maxEntries = 1000, readonly budget = Infinity) {}

  async hold (who: Identity, options: RecordOptions = {}): Promise<void> {
    this.held.set(who.id.toString(), { seq: options.seq ?? 1n, envelope: await signedRecord(who, options), peerId: who.id.toMultihash().bytes })
  }

  context (): SyncContext {
    return {
      maxFrameSize: 64 * 1024,
      maxEntries: this.maxEntries,
      stats: this.stats,
      selfKey: this.self.id.toString(),
      digest: () => [...this.held.values()].map(r => ({ peerId: r.peerId, seq: r.seq })),
      seqOf: (key) => this.held.get(key)?.seq,
      offer: (theirs) => [...this.held].filter(([key, r]) => (theirs.get(key) ?? -1n) < r.seq).map(([, r]) => r.envelope),
      give: (keys) => keys.flatMap(k => this.held.has(k) ? [this.held.get(k)!.envelope] : []),
      noteKnown: (key, seq) => { this.known.set(key, seq) },
      accept: async (envelopes, wanted) => {
        for (const bytes of envelopes) {
          try {
            const decoded = decodeRecord(bytes, { maxRecordSize: DEFAULT_MAX_RECORD_SIZE, maxNeighbours: 256 })
            const signer = signerOf(decoded)
            if (wanted != null && !wanted.has(signer.subject.toString())) {
              throw Object.assign(new Error('not asked for'), { name: 'UnexpectedRecordError' })
            }
            await verifySignature(signer)
            this.held.set(signer.subject.toString(), { seq: decoded.record.seq, envelope: bytes.slice(), peerId: decoded.record.peerId })
          } catch (err) {
            this.rejected.push((err as Error).name)
          }
        }
      },
      spend: (count) => {
        this.spent += count
        if (this.spent > this.budget) {
          throw Object.assign(new Error('over budget'), { name: 'RecordRateLimitError' })
        }
      }
    }
  }
}

async function framePair (): Promise<[FrameStream, FrameStream]> {
  const [outbound, inbound] = await streamPair()
  return [lpStream(outbound, { maxDataLength: 64 * 1024 }), lpStream(inbound, { maxDataLength: 64 * 1024 })]
}

describe('network map: wire flows over a stream pair', () => {
  it('a digest sync leaves both sides holding the newest of every record', async () => {
    const ids = await identities(5)
    const dialer = new Side(ids[0])
    const listener = new Side(ids[1])
    await dialer.hold(ids[0])
    await dialer.hold(ids[2], { seq: 5n })
    await listener.hold(ids[1])
    await listener.hold(ids[2], { seq: 3n })
    await listener.hold(ids[3], { seq: 7n })
    const [a, b] = await framePair()
    const signal = AbortSignal.timeout(10_000)
    const ctxB = listener.context()
    await Promise.all([
      runSync(a, dialer.context(), signal),
      (async () => { await answerSync(b, await readFrame(b, ctxB, signal), ctxB, signal) })()
    ])
    for (const side of [dialer, listener]) {
      assert.deepEqual([...side.held.keys()].sort(), [ids[0], ids[1], ids[2], ids[3]].map(i => i.id.toString()).sort())
      assert.equal(side.held.get(ids[2].id.toString())?.seq, 5n)
      assert.deepEqual(side.rejected, [])
    }
    assert.equal(listener.known.get(ids[2].id.toString()), 5n, 'the digest tells the listener what the dialer holds')
    assert.ok(dialer.stats.bytesSent > 0 && dialer.stats.bytesSent === listener.stats.bytesReceived)
    assert.equal(listener.stats.bytesSent, dialer.stats.bytesReceived)
  })

  it('refuses a digest entry that is not a PeerId with MalformedFrameError, before encoding it', async () => {
    const [me, them] = await identities(2)
    const listener = new Side(me)
    await listener.hold(me)
    const [a, b] = await framePair()
    const signal = AbortSignal.timeout(10_000)
    await a.write(NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest: [{ peerId: them.id.toMultihash().bytes, seq: 1n }, { peerId: new Uint8Array(30_000).fill(0xab), seq: 1n }], records: [], want: [], more: false, deltas: [] }), { signal })
    const ctx = listener.context()
    await assert.rejects(async () => { await answerSync(b, await readFrame(b, ctx, signal), ctx, signal) }, { name: 'MalformedFrameError' })
  })

  it('a sync answer may carry only the records asked for', async () => {
    const ids = await identities(3)
    const listener = new Side(ids[0])
    const [a, b] = await framePair()
    const signal = AbortSignal.timeout(10_000)
    const ctx = listener.context()
    const answering = (async () => { await answerSync(b, await readFrame(b, ctx, signal), ctx, signal) })()
    await a.write(NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest: [{ peerId: ids[1].id.toMultihash().bytes, seq: 1n }], records: [], want: [], more: false, deltas: [] }), { signal })
    const reply = NetmapMessage.decode(await a.read({ signal }))
    assert.deepEqual(reply.want.map(w => uint8ArrayToString(w, 'base58btc')), [ids[1].id.toString()])
    // answer with the wanted record and one nobody asked for
    await a.write(NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: [await signedRecord(ids[1]), await signedRecord(ids[2])] as Bytes[], want: [], more: false, deltas: [] }), { signal })
    await assert.rejects(answering, { name: 'UnexpectedRecordError' })
  })

  it('a push spends the budget, is accepted, and one over maxEntries is a MalformedFrameError', async () => {
    const ids = await identities(4)
    const listener = new Side(ids[0], 2)
    const sender = new Side(ids[1], 2)
    const [a, b] = await framePair()
    const signal = AbortSignal.timeout(10_000)
    const envelopes = [await signedRecord(ids[2]), await signedRecord(ids[3])]
    const ctx = listener.context()
    await Promise.all([
      push(a, envelopes, sender.context(), signal),
      (async () => { await receivePush(b, await readFrame(b, ctx, signal), ctx, signal) })()
    ])
    assert.equal(listener.spent, 2)
    assert.equal(listener.held.size, 2)
    const [c, d] = await framePair()
    await c.write(NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: envelopes as Bytes[], want: [], more: true, deltas: [] }), { signal })
    await c.write(NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: [envelopes[0]] as Bytes[], want: [], more: false, deltas: [] }), { signal })
    await assert.rejects(async () => { await receivePush(d, await readFrame(d, ctx, signal), ctx, signal) }, { name: 'MalformedFrameError' })
  })

  it('a frame over maxFrameSize is a FrameTooLargeError, garbage a MalformedFrameError', async () => {
    const side = new Side(await identity())
    const signal = AbortSignal.timeout(10_000)
    const [a, b] = await framePair()
    const [outbound, inbound] = await streamPair()
    const big = lpStream(outbound, { maxDataLength: 1024 * 1024 })
    await big.write(new Uint8Array(100 * 1024), { signal })
    await assert.rejects(readFrame(lpStream(inbound, { maxDataLength: 64 * 1024 }), side.context(), signal), { name: 'FrameTooLargeError' })
    await a.write(Uint8Array.from([0x1a, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]), { signal })
    await assert.rejects(readFrame(b, side.context(), signal), { name: 'MalformedFrameError' })
  })
})
