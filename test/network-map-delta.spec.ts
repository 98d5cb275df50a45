/**
 * Record deltas on /membrane/netmap/2.1.0 (issue 19.2): a new version goes to
 * a neighbour known to hold the version before it as what changed, and the
 * neighbour rebuilds the signed record. The parts on real signed records,
 * then real nodes over the memory transport (Noise + yamux): a 2.1.0 pair, a
 * 2.0.0 peer that gets whole records, and malformed deltas sent as real bytes.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { lpStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { DEFAULT_MAX_RECORD_SIZE, DELTA_PROTOCOL, PROTOCOL } from '../src/network-map/constants.js'
import { applyDelta, decodeDelta, makeDelta } from '../src/network-map/delta.js'
import { MalformedRecordError } from '../src/network-map/errors.js'
import { NetmapMessage, NetmapRecord, RecordDelta, SignedEnvelope } from '../src/network-map/pb/netmap.js'
import { decodeRecord, sealRecord, signerOf, verifySignature } from '../src/network-map/validate.js'
import { linkMapNodes, startMemoryMapNode } from './fixtures/netmap.js'
import { identities, recordOf } from './fixtures/netmap-records.js'
import { waitFor } from './fixtures/wait.js'
import type { NetworkMapInit, RecordRejection } from '../src/network-map/index.js'
import type { MemoryMapNode } from './fixtures/netmap.js'
import type { Libp2p } from '@libp2p/interface'

type Bytes = Uint8Array<ArrayBuffer>
type Node = MemoryMapNode

const LIMITS = { maxRecordSize: DEFAULT_MAX_RECORD_SIZE, maxNeighbours: 64 }

const nodes: Libp2p[] = []

async function startNode (init: NetworkMapInit = {}): Promise<Node> {
  const node = await startMemoryMapNode({ recordDeltas: true, ...init })
  nodes.push(node)
  return node
}

/** A node that speaks the map only up to 2.0.0, as a peer of the release before deltas */
async function startOldNode (): Promise<Node> {
  const node = await startNode()
  await node.unhandle(DELTA_PROTOCOL)
  return node
}

const link = linkMapNodes

/** `node`'s map holds an edge between `x` and `y` */
function hasEdge (node: Node, x: Node, y: Node): boolean {
  return node.services.networkMap.edges().some(e => (e.from.equals(x.peerId) && e.to.equals(y.peerId)) || (e.from.equals(y.peerId) && e.to.equals(x.peerId)))
}

function payloadOf (envelope: Uint8Array): Uint8Array {
  return SignedEnvelope.decode(envelope).payload
}

describe('network map: record deltas, the parts', () => {
  it('a new version with a link lost, a link added and an RTT moved rebuilds the signed record from the old one', async () => {
    const [self, a, b, c, d, e] = await identities(6)
    const v1 = recordOf(self.id, { seq: 10n, neighbours: [a.id, b.id, d.id, e.id], rtt: 20 })
    v1.alias = 'x'
    v1.multiaddrs = [Uint8Array.from([4, 127, 0, 0, 1, 6, 0x10, 0x00]) as Bytes]
    const v2: NetmapRecord = { ...v1, seq: 11n, expires: v1.expires + 5_000n, neighbours: [{ ...v1.neighbours[1], rtt: 35 }, v1.neighbours[3], v1.neighbours[2], recordOf(self.id, { neighbours: [c.id] }).neighbours[0]] }
    const base = await sealRecord(v1, self.key, DEFAULT_MAX_RECORD_SIZE)
    const next = await sealRecord(v2, self.key, DEFAULT_MAX_RECORD_SIZE)

    const bytes = makeDelta(base, next)
    assert.ok(bytes != null, 'a delta')
    assert.ok(bytes.byteLength * 2 < next.byteLength, `delta ${bytes.byteLength} B, record ${next.byteLength} B`)
    const { key, delta } = decodeDelta(bytes, LIMITS)
    assert.equal(key, self.id.toString())
    assert.deepEqual(delta.neighbours.map(s => s.base), [1, 3, 2, undefined])
    assert.equal(delta.neighbours[0].rtt, 35)

    const rebuilt = applyDelta(base, delta)
    assert.deepEqual(payloadOf(rebuilt), payloadOf(next))
    const decoded = decodeRecord(rebuilt, LIMITS)
    await verifySignature(signerOf(decoded))
    assert.equal(decoded.record.seq, 11n)
    assert.equal(decoded.record.alias, 'x')
  })

  it('makes no delta when more than seq, expiry and neighbours changed, or for an older version', async () => {
    const [self, a] = await identities(2)
    const v1 = recordOf(self.id, { seq: 1n, neighbours: [a.id] })
    const base = await sealRecord(v1, self.key, DEFAULT_MAX_RECORD_SIZE)
    const changes: Array<Partial<NetmapRecord>> = [{ alias: 'renamed' }, { roles: ['relay'] }, { multiaddrs: [Uint8Array.from([4, 10, 0, 0, 1]) as Bytes] }, { departing: true, neighbours: [] }]
    for (const change of changes) {
      const next = await sealRecord({ ...v1, seq: 2n, ...change }, self.key, DEFAULT_MAX_RECORD_SIZE)
      assert.equal(makeDelta(base, next), undefined, JSON.stringify(Object.keys(change)))
    }
    const newer = await sealRecord({ ...v1, seq: 2n }, self.key, DEFAULT_MAX_RECORD_SIZE)
    assert.equal(makeDelta(newer, base), undefined, 'backwards')
  })

  it('refuses deltas that do not go forward, name no PeerId, or point outside the base', async () => {
    const [self, a] = await identities(2)
    const base = await sealRecord(recordOf(self.id, { seq: 5n, neighbours: [a.id] }), self.key, DEFAULT_MAX_RECORD_SIZE)
    const delta = (d: Partial<RecordDelta>): Uint8Array => RecordDelta.encode({ peerId: self.id.toMultihash().bytes, baseSeq: 5n, seq: 6n, expires: BigInt(Date.now() + 60_000), neighbours: [{ base: 0 }], signature: new Uint8Array(64), ...d })
    assert.throws(() => decodeDelta(delta({ seq: 5n }), LIMITS), MalformedRecordError)
    assert.throws(() => decodeDelta(delta({ peerId: new Uint8Array(DEFAULT_MAX_RECORD_SIZE).fill(1) as Bytes }), LIMITS), (err: Error) => err.name === 'RecordTooLargeError')
    assert.throws(() => decodeDelta(delta({ peerId: new Uint8Array(40).fill(1) as Bytes }), LIMITS), MalformedRecordError)
    assert.throws(() => decodeDelta(delta({ neighbours: Array.from({ length: 65 }, () => ({ base: 0 })) }), LIMITS), MalformedRecordError)
    for (const neighbours of [[{ base: 1 }], [{ base: 0, neighbour: Uint8Array.from([1]) as Bytes }], [{}], [{ neighbour: Uint8Array.from([0xff]) as Bytes }]]) {
      assert.throws(() => applyDelta(base, decodeDelta(delta({ neighbours }), LIMITS).delta), MalformedRecordError, JSON.stringify(neighbours))
    }
    assert.throws(() => applyDelta(base, decodeDelta(delta({ baseSeq: 4n }), LIMITS).delta), MalformedRecordError)
  })
})

describe('network map: record deltas between nodes', () => {
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map(async n => n.stop()))
  })

  it('a re-issue travels as a delta over two hops, and every map holds the new link', async () => {
    const a = await startNode()
    const b = await startNode()
    const x = await startNode()
    const c = await startNode()
    await link(a, b)
    await link(b, x)
    await waitFor(() => [a, b, x].every(n => hasEdge(n, a, b) && hasEdge(n, b, x)), 'a-b-x in every map')
    const before = { x: x.services.networkMap.stats().deltasSent, b: b.services.networkMap.stats().deltasSent }
    await link(c, x)
    await waitFor(() => hasEdge(a, x, c), 'a holds x-c')
    assert.ok(x.services.networkMap.stats().deltasSent > before.x, 'x sent its new version as a delta')
    // b's own record did not change: the deltas it sent carried x's new version on
    assert.ok(b.services.networkMap.stats().deltasSent > before.b, 'b forwarded the delta to a')
    for (const n of [a, b]) {
      assert.equal(n.services.networkMap.stats().deltasUnmatched, 0)
      assert.equal(n.services.networkMap.stats().recordsRejected, 0)
      assert.equal(n.services.networkMap.get(x.peerId)?.seq, x.services.networkMap.get(x.peerId)?.seq)
    }
  })

  it('a peer that speaks only 2.0.0 gets whole records and a whole map', async () => {
    const b = await startNode()
    const old1 = await startOldNode()
    const old2 = await startOldNode()
    await link(old1, b)
    await link(old2, b)
    await waitFor(() => hasEdge(old1, b, old2) && hasEdge(old2, b, old1), 'both old peers hold both edges')
    assert.equal(b.services.networkMap.stats().deltasSent, 0, 'no delta to a 2.0.0 reader')
    for (const old of [old1, old2]) {
      assert.equal(old.services.networkMap.stats().recordsRejected, 0)
      assert.equal(old.services.networkMap.get(b.peerId)?.seq, b.services.networkMap.get(b.peerId)?.seq)
    }
  })

  it('a delta that points outside its base is an offence; one whose signature fails on the base asks for the record, unpunished', async () => {
    const victim = await startNode()
    const honest = await startNode()
    await link(honest, victim)
    await waitFor(() => hasEdge(victim, victim, honest), 'victim holds the honest edge')
    const rejections: RecordRejection[] = []
    victim.services.networkMap.addEventListener('record:reject', (evt) => { rejections.push(evt.detail) })
    const attacker = await createLibp2p({ transports: [memory()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
    nodes.push(attacker)
    // what the victim writes back, on the stream it opens to the attacker
    const answers: NetmapMessage[] = []
    await attacker.handle([DELTA_PROTOCOL, PROTOCOL], async (stream) => {
      const reader = lpStream(stream)
      while (true) { answers.push(NetmapMessage.decode(await reader.read())) }
    })
    const seq = victim.services.networkMap.get(honest.peerId)?.seq
    assert.ok(seq != null)
    const delta = (neighbours: RecordDelta.Slot[]): Bytes => RecordDelta.encode({
      peerId: honest.peerId.toMultihash().bytes, baseSeq: seq, seq: seq + 1n, expires: BigInt(Date.now() + 60_000), neighbours, signature: new Uint8Array(64).fill(7)
    }) as Bytes
    const stream = await attacker.dialProtocol(victim.getMultiaddrs()[0], DELTA_PROTOCOL)
    const lp = lpStream(stream)
    const push = async (deltas: Bytes[]): Promise<void> => {
      await lp.write(NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: [], want: [], more: false, deltas }))
    }

    await push([delta([{ base: 0 }])])
    await waitFor(() => victim.services.networkMap.stats().deltasUnmatched === 1, 'the forged delta is asked for in full')
    await waitFor(() => answers.some(f => f.type === NetmapMessage.Type.RECORDS && f.want.length === 1), 'a want reaches the sender')
    assert.deepEqual(answers.find(f => f.want.length > 0)?.want[0], honest.peerId.toMultihash().bytes)
    assert.equal(victim.services.networkMap.penalty(attacker.peerId), 0)
    assert.equal(rejections.length, 0)

    await push([delta([{ base: 3 }])])
    await waitFor(() => rejections.some(r => r.from.equals(attacker.peerId) && r.error.name === 'MalformedRecordError'), 'the bad index refused')
    // 5 points, decaying from the moment they were given
    assert.ok(victim.services.networkMap.penalty(attacker.peerId) > 4)
    // the honest record is untouched
    assert.equal(victim.services.networkMap.get(honest.peerId)?.seq, seq)
    assert.ok(hasEdge(victim, victim, honest))
  })
})
