import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { RecordEnvelope } from '@libp2p/peer-record'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { NETWORK_MAP_PROTOCOL } from '../src/network-map/index.js'
import { RECORD_DOMAIN, RECORD_PAYLOAD_TYPE } from '../src/network-map/constants.js'
import { NetmapMessage, NetmapRecord } from '../src/network-map/pb/netmap.js'
import { link, startMapNode, tcpAddr } from './fixtures/netmap.js'
import { waitFor } from './fixtures/wait.js'
import type { MapNode } from './fixtures/netmap.js'
import type { RecordRejection } from '../src/network-map/index.js'
import type { Libp2p, PeerId, PrivateKey, Record as SignedRecord } from '@libp2p/interface'

type Bytes = Uint8Array<ArrayBuffer>

/** Sign arbitrary record bytes with `key` under the map's domain */
async function seal (payload: Uint8Array, key: PrivateKey): Promise<Bytes> {
  const record: SignedRecord = { domain: RECORD_DOMAIN, codec: RECORD_PAYLOAD_TYPE, marshal: () => payload, equals: () => false }
  return (await RecordEnvelope.seal(record, key)).marshal() as Bytes
}

function recordAbout (id: PeerId, seq: bigint, neighbours: PeerId[] = []): NetmapRecord {
  return {
    peerId: id.toMultihash().bytes,
    seq,
    expires: BigInt(Date.now() + 60_000),
    neighbours: neighbours.map(n => ({ peerId: n.toMultihash().bytes, kind: NetmapRecord.LinkKind.DIRECT })),
    roles: [],
    multiaddrs: [],
    departing: false
  }
}

interface Attacker { node: Libp2p, key: PrivateKey }

/** A stock libp2p node without the map service, whose key the test holds */
async function startAttacker (): Promise<Attacker> {
  const key = await generateKeyPair('Ed25519')
  const node = await createLibp2p({
    privateKey: key,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  return { node, key }
}

/** Send raw frames on a new map stream; errors (the victim aborting) are expected */
async function sendFrames (from: Libp2p, to: Libp2p, frames: Uint8Array[]): Promise<void> {
  try {
    const stream = await from.dialProtocol(multiaddr(tcpAddr(to)), NETWORK_MAP_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream, { maxDataLength: 20 * 1024 * 1024 })
    for (const frame of frames) {
      await lp.write(frame, { signal: AbortSignal.timeout(10_000) })
    }
    await stream.close({ signal: AbortSignal.timeout(10_000) })
  } catch {}
}

function push (records: Uint8Array[], more = false): Bytes {
  return NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: records as Bytes[], want: [], more })
}

describe('network map rejects hostile input over real streams', () => {
  let victim: MapNode
  let honest: MapNode
  let rejections: RecordRejection[]
  const attackers: Libp2p[] = []

  /** ids of nodes and edges in the victim's map */
  const snapshot = (): string => JSON.stringify({
    nodes: victim.services.networkMap.nodes().map(n => n.id.toString()).sort(),
    edges: victim.services.networkMap.edges().map(e => `${e.from}|${e.to}`).sort()
  })

  async function attacker (): Promise<Attacker> {
    const a = await startAttacker()
    attackers.push(a.node)
    return a
  }

  async function expectRejection (from: PeerId, name: string): Promise<RecordRejection> {
    await waitFor(() => rejections.some(r => r.from.equals(from) && r.error.name === name), `${name} from ${from}`, 10_000)
    return rejections.find(r => r.from.equals(from) && r.error.name === name)!
  }

  before(async () => {
    victim = await startMapNode({ recordBurst: 40, maxRecordsPerSecond: 5, unreachableTimeout: 60_000 })
    honest = await startMapNode({ recordTtl: 3_000 })
    await link(honest, victim)
    await waitFor(() => victim.services.networkMap.edges().length === 1 && honest.services.networkMap.edges().length === 1, 'honest pair converged', 15_000)
    rejections = []
    victim.services.networkMap.addEventListener('record:reject', (evt) => { rejections.push(evt.detail) })
  })

  after(async () => {
    await Promise.allSettled([victim, honest, ...attackers].map(async n => n.stop()))
  })

  it('accepts a well-formed record from a stranger (control)', async () => {
    const { node, key } = await attacker()
    await sendFrames(node, victim, [push([await seal(NetmapRecord.encode(recordAbout(node.peerId, 1n)), key)])])
    await waitFor(() => victim.services.networkMap.get(node.peerId) != null, 'control record accepted')
    assert.equal(victim.services.networkMap.penalty(node.peerId), 0)
  })

  it('rejects a forged signature', async () => {
    const before = snapshot()
    const { node, key } = await attacker()
    const envelope = RecordEnvelope.createFromProtobuf(await seal(NetmapRecord.encode(recordAbout(node.peerId, 5n, [honest.peerId])), key))
    envelope.signature = crypto.getRandomValues(new Uint8Array(64))
    envelope.marshaled = undefined
    await sendFrames(node, victim, [push([envelope.marshal()])])
    await expectRejection(node.peerId, 'RecordSignatureError')
    assert.equal(victim.services.networkMap.get(node.peerId), undefined)
    assert.ok(victim.services.networkMap.penalty(node.peerId) > 0, 'sender penalised')
    assert.equal(snapshot(), before)
  })

  it('rejects a record signed by X claiming to be Y', async () => {
    const before = snapshot()
    const honestSeq = victim.services.networkMap.get(honest.peerId)!.seq
    const { node, key } = await attacker()
    // claims to be the honest node, with a higher sequence number and no neighbours
    const forged = recordAbout(honest.peerId, honestSeq + 1_000_000n)
    await sendFrames(node, victim, [push([await seal(NetmapRecord.encode(forged), key)])])
    await expectRejection(node.peerId, 'RecordSignerMismatchError')
    assert.ok(victim.services.networkMap.get(honest.peerId)!.seq < forged.seq, 'the honest record stands')
    assert.ok(victim.services.networkMap.penalty(node.peerId) > 0)
    assert.equal(snapshot(), before)
  })

  it('never turns a one-sided edge claim into an edge', async () => {
    const { node, key } = await attacker()
    // a valid record of the attacker claiming links to both honest nodes
    await sendFrames(node, victim, [push([await seal(NetmapRecord.encode(recordAbout(node.peerId, 10n, [victim.peerId, honest.peerId])), key)])])
    await waitFor(() => victim.services.networkMap.get(node.peerId)?.seq === 10n, 'claim received')
    // edges are derived synchronously when a record is stored, and the attacker runs no map
    // protocol, so no later record of the victim's can list it: the map below is final
    const map = victim.services.networkMap
    assert.equal(map.neighbours(node.peerId).length, 0)
    assert.ok(!map.edges().some(e => e.from.equals(node.peerId) || e.to.equals(node.peerId)))
    assert.deepEqual(map.neighbours(honest.peerId).map(String), [victim.peerId.toString()])
    assert.equal(map.path(node.peerId), undefined, 'unreachable without a two-sided edge')
  })

  it('rejects a replayed old record of another node, and penalises the replayer', async () => {
    const before = snapshot()
    const { node } = await attacker()
    // capture the honest node's current record by syncing like a newcomer
    const stream = await node.dialProtocol(multiaddr(tcpAddr(victim)), NETWORK_MAP_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
    await lp.write(NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest: [], records: [], want: [], more: false }))
    const reply = NetmapMessage.decode(await lp.read({ signal: AbortSignal.timeout(10_000) }))
    await stream.close()
    const captured = reply.records.map(r => ({ bytes: r, record: NetmapRecord.decode(RecordEnvelope.createFromProtobuf(r).payload) }))
      .find(r => uint8Equal(r.record.peerId, honest.peerId.toMultihash().bytes))
    assert.ok(captured != null, 'the sync reply carries the honest record')
    // the honest node refreshes twice (ttl 3 s), so the captured copy is two versions old
    const seen = new Set<bigint>()
    await waitFor(() => {
      const seq = victim.services.networkMap.get(honest.peerId)!.seq
      if (seq > captured.record.seq) { seen.add(seq) }
      return seen.size >= 2
    }, 'honest node refreshed twice', 15_000)
    const current = victim.services.networkMap.get(honest.peerId)!.seq
    await sendFrames(node, victim, [push([captured.bytes])])
    await expectRejection(node.peerId, 'StaleRecordError')
    assert.ok(victim.services.networkMap.get(honest.peerId)!.seq >= current, 'not rolled back')
    assert.ok(victim.services.networkMap.penalty(node.peerId) > 0)
    assert.equal(snapshot(), before)
  })

  it('rejects a 10 MB frame and an oversize record without buffering them', async () => {
    const before = snapshot()
    const a = await attacker()
    await sendFrames(a.node, victim, [new Uint8Array(10 * 1024 * 1024)])
    await expectRejection(a.node.peerId, 'FrameTooLargeError')
    const b = await attacker()
    const huge = recordAbout(b.node.peerId, 1n)
    huge.alias = 'x'.repeat(100 * 1024)
    await sendFrames(b.node, victim, [push([await seal(NetmapRecord.encode(huge), b.key)])])
    await expectRejection(b.node.peerId, 'RecordTooLargeError')
    assert.equal(victim.services.networkMap.get(b.node.peerId), undefined)
    assert.equal(snapshot(), before)
  })

  it('rejects garbage frames and garbage records', async () => {
    const before = snapshot()
    const a = await attacker()
    // a length-delimited field whose length runs past the end: never valid protobuf
    await sendFrames(a.node, victim, [Uint8Array.from([0x1a, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])])
    await expectRejection(a.node.peerId, 'MalformedFrameError')
    const b = await attacker()
    await sendFrames(b.node, victim, [push([Uint8Array.from([0x0a, 0xff, 0xff, 0x7f, 9, 9])])])
    await expectRejection(b.node.peerId, 'MalformedRecordError')
    const c = await attacker()
    const wrongType: SignedRecord = { domain: RECORD_DOMAIN, codec: Uint8Array.from([3, 1]), marshal: () => NetmapRecord.encode(recordAbout(c.node.peerId, 1n)), equals: () => false }
    await sendFrames(c.node, victim, [push([(await RecordEnvelope.seal(wrongType, c.key)).marshal()])])
    await expectRejection(c.node.peerId, 'InvalidRecordError')
    assert.equal(snapshot(), before)
  })

  it('rate-limits a record flood, disconnects the flooder and refuses its streams', async () => {
    const { node, key } = await attacker()
    const frames: Uint8Array[] = []
    for (let f = 0; f < 10; f++) {
      const records: Uint8Array[] = []
      for (let i = 0; i < 10; i++) {
        records.push(await seal(NetmapRecord.encode(recordAbout(node.peerId, BigInt(100 + f * 10 + i))), key))
      }
      frames.push(push(records))
    }
    // one frame per stream, as a flooding neighbour would push
    for (const frame of frames) {
      await sendFrames(node, victim, [frame])
    }
    await expectRejection(node.peerId, 'RecordRateLimitError')
    await waitFor(() => victim.getConnections(node.peerId).length === 0, 'flooder disconnected', 10_000)
    assert.ok(victim.services.networkMap.penalty(node.peerId) >= 10)
    const accepted = victim.services.networkMap.get(node.peerId)?.seq ?? 0n
    assert.ok(accepted < 150n, `about the burst was accepted, not the flood (seq ${accepted})`)
    // it comes back: its streams are refused, nothing more is accepted
    const refused = victim.services.networkMap.stats().streamsRefused
    await sendFrames(node, victim, [push([await seal(NetmapRecord.encode(recordAbout(node.peerId, 10_000n)), key)])])
    await waitFor(() => victim.services.networkMap.stats().streamsRefused > refused, 'the returning flooder\'s stream refused')
    assert.equal(victim.services.networkMap.get(node.peerId)?.seq ?? 0n, accepted)
  })

  it('the honest map is still correct and the victim still serves honest peers', async () => {
    const map = victim.services.networkMap
    assert.deepEqual(map.edges().map(e => [e.from, e.to].map(String).sort()), [[victim.peerId, honest.peerId].map(String).sort()])
    assert.deepEqual(honest.services.networkMap.edges().map(e => [e.from, e.to].map(String).sort()), [[victim.peerId, honest.peerId].map(String).sort()])
    // a newcomer linking to the victim converges with both
    const newcomer = await startMapNode()
    attackers.push(newcomer)
    await link(newcomer, victim)
    await waitFor(() => newcomer.services.networkMap.neighbours(victim.peerId).length === 2 &&
      honest.services.networkMap.neighbours(victim.peerId).length === 2, 'newcomer converged', 15_000)
    assert.equal(honest.services.networkMap.path(newcomer.peerId)?.length, 3)
  })
})

function uint8Equal (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}
