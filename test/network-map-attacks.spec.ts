import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { NETWORK_MAP_LEGACY_PROTOCOL, NETWORK_MAP_PROTOCOL } from '../src/network-map/index.js'
import { RECORD_DOMAIN, RECORD_PAYLOAD_TYPE } from '../src/network-map/constants.js'
import { NetmapMessage, NetmapRecord } from '../src/network-map/pb/netmap.js'
import { link, startMapNode, tcpAddr } from './fixtures/netmap.js'
import { assertPingsAnswered, watchPings } from './fixtures/ping-watch.js'
import { waitFor } from './fixtures/wait.js'
import type { PingResult } from './fixtures/ping-watch.js'
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

  it('refuses a replayed old record of another node without rolling back; a late copy is no offence', async () => {
    const before = snapshot()
    const { node } = await attacker()
    // capture the honest node's current record by syncing like a 1.0.0 newcomer (one stream, request and reply)
    const stream = await node.dialProtocol(multiaddr(tcpAddr(victim)), NETWORK_MAP_LEGACY_PROTOCOL)
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
    await lp.write(NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest: [], records: [], want: [], more: false, deltas: [] }))
    const reply = NetmapMessage.decode(await lp.read({ signal: AbortSignal.timeout(10_000) }))
    await stream.close()
    const captured = reply.records.map(r => ({ bytes: r, record: NetmapRecord.decode(RecordEnvelope.createFromProtobuf(r).payload) }))
      .find(r => uint8ArrayEquals(r.record.peerId, honest.peerId.toMultihash().bytes))
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
    // it never claimed a newer version: an honest peer on a slow path delivers the same bytes
    assert.equal(victim.services.networkMap.penalty(node.peerId), 0)
    assert.equal(snapshot(), before)
  })

  it('an older version on a later stream is no offence; going back within one stream is', async () => {
    const { node, key } = await attacker()
    await sendFrames(node, victim, [push([await seal(NetmapRecord.encode(recordAbout(node.peerId, 50n)), key)])])
    await waitFor(() => victim.services.networkMap.get(node.peerId)?.seq === 50n, 'seq 50 accepted')
    // streams from one neighbour are processed concurrently: a later stream may carry what an earlier one replaced
    await sendFrames(node, victim, [push([await seal(NetmapRecord.encode(recordAbout(node.peerId, 20n)), key)])])
    await expectRejection(node.peerId, 'StaleRecordError')
    assert.equal(victim.services.networkMap.penalty(node.peerId), 0)
    // one stream's frames are ordered: 60 then 30 on it is what only a misbehaving sender does
    await sendFrames(node, victim, [
      push([await seal(NetmapRecord.encode(recordAbout(node.peerId, 60n)), key)], true),
      push([await seal(NetmapRecord.encode(recordAbout(node.peerId, 30n)), key)])
    ])
    await waitFor(() => victim.services.networkMap.penalty(node.peerId) > 0, 'the regression within one stream penalised')
    assert.equal(victim.services.networkMap.get(node.peerId)?.seq, 60n)
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
    // both ends: a dial while the flooder still holds the closing connection would open its stream on
    // that connection and fail before the victim could refuse it (sendFrames swallows the failure)
    await waitFor(() => victim.getConnections(node.peerId).length === 0 && node.getConnections(victim.peerId).length === 0, 'flooder disconnected', 10_000)
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

/** Identity-multihash-shaped bytes of an inlined 36-byte key (random, no key behind it) */
function fakePeerIdBytes (): Bytes {
  return Uint8Array.from([0x00, 0x24, ...crypto.getRandomValues(new Uint8Array(36))])
}

describe('the worst inputs neither stall the event loop nor grow the map past its cap', () => {
  const CAP = 100
  let victim: MapNode
  let pinger: MapNode
  let rejections: RecordRejection[]
  const attackers: Libp2p[] = []

  before(async () => {
    victim = await startMapNode({ maxNodes: CAP, unreachableTimeout: 60_000 })
    pinger = await startMapNode()
    await link(pinger, victim)
    await waitFor(() => victim.services.networkMap.edges().length === 1, 'pinger linked', 15_000)
    rejections = []
    victim.services.networkMap.addEventListener('record:reject', (evt) => { rejections.push(evt.detail) })
  })

  after(async () => {
    await Promise.allSettled([victim, pinger, ...attackers].map(async n => n.stop()))
  })

  /**
   * Ping the victim from an honest neighbour, one ping after another, from
   * before `attack` until `processed` holds; returns what the pinger saw
   */
  async function pingsDuring (attack: () => Promise<void>, processed: () => boolean): Promise<PingResult> {
    // warm up: the ping protocol is negotiated before the clock matters
    await pinger.services.ping.ping(victim.peerId, { signal: AbortSignal.timeout(5_000) })
    const watch = watchPings(pinger, victim.peerId)
    try {
      await attack()
      await waitFor(processed, 'attack processed', 20_000, 10)
    } catch (err) {
      await watch.stop()
      throw err
    }
    return await watch.stop()
  }

  it('a digest of 30 peer ids of 32 KiB each is refused at once as malformed', async () => {
    const { node } = await startAttacker()
    attackers.push(node)
    const frame = NetmapMessage.encode({
      type: NetmapMessage.Type.SYNC,
      digest: Array.from({ length: 30 }, () => ({ peerId: new Uint8Array(32 * 1024).fill(0xab), seq: 1n })),
      records: [],
      want: [],
      more: false,
      deltas: []
    })
    const pings = await pingsDuring(async () => { await sendFrames(node, victim, [frame]) },
      () => rejections.some(r => r.from.equals(node.peerId) && r.error.name === 'MalformedFrameError'))
    assertPingsAnswered(pings)
    assert.ok(victim.services.networkMap.penalty(node.peerId) > 0, 'the sender is penalised')
  })

  it('a digest of 1000 well-formed unknown peer ids is answered with one want list, in linear time', async () => {
    const { node } = await startAttacker()
    attackers.push(node)
    const digest = Array.from({ length: 1000 }, () => ({ peerId: fakePeerIdBytes(), seq: 1n }))
    let want = -1
    const pings = await pingsDuring(async () => {
      const stream = await node.dialProtocol(multiaddr(tcpAddr(victim)), NETWORK_MAP_LEGACY_PROTOCOL)
      const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
      await lp.write(NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest, records: [], want: [], more: false, deltas: [] }))
      const reply = NetmapMessage.decode(await lp.read({ signal: AbortSignal.timeout(10_000) }))
      want = reply.want.length
      stream.abort(new Error('done'))
    }, () => want >= 0)
    assert.equal(want, 1000, 'it asks for every record it lacks')
    assertPingsAnswered(pings)
  })

  it('a frame of 900 records whose subject is a 1000-byte "peer id" is refused record by record without parsing them', async () => {
    const { node, key } = await startAttacker()
    attackers.push(node)
    const bad = recordAbout(node.peerId, 1n)
    bad.peerId = new Uint8Array(1000).fill(0xab)
    const envelope = await seal(NetmapRecord.encode(bad), key)
    const count = () => rejections.filter(r => r.from.equals(node.peerId) && r.error.name === 'MalformedRecordError').length
    const pings = await pingsDuring(async () => { await sendFrames(node, victim, [push(Array.from({ length: 900 }, () => envelope))]) }, () => count() === 900)
    assertPingsAnswered(pings)
  })

  it('validly signed records about 300 fresh identities fill the map to its cap and no further; the map says it is partial', async () => {
    const { node } = await startAttacker()
    attackers.push(node)
    const fresh = await Promise.all(Array.from({ length: 300 }, async () => generateKeyPair('Ed25519')))
    const envelopes = await Promise.all(fresh.map(async k => seal(NetmapRecord.encode(recordAbout(peerIdFromPrivateKey(k), 1n)), k)))
    const before = victim.services.networkMap.stats()
    const ids = fresh.map(k => peerIdFromPrivateKey(k))
    // every fresh record either held or refused as the map is full
    const settled = (): boolean => ids.filter(id => victim.services.networkMap.get(id) != null).length +
      rejections.filter(r => r.from.equals(node.peerId) && r.error.name === 'MapFullError').length === 300
    const pings = await pingsDuring(async () => { await sendFrames(node, victim, [push(envelopes)]) }, settled)
    assertPingsAnswered(pings)
    const stats = victim.services.networkMap.stats()
    assert.equal(stats.recordsHeld, CAP, 'held records stop at the cap')
    // counted up to the cap (the count is bounded like the map)
    assert.equal(stats.nodesMissing, Math.min(CAP, 300 - (CAP - before.recordsHeld)))
    assert.equal(victim.services.networkMap.penalty(node.peerId), 0, 'a full map is no offence')
    const refused = peerIdFromPrivateKey(fresh.at(-1)!)
    assert.deepEqual(victim.services.networkMap.findPath(refused), { found: false, reason: 'unknown' })
    assert.deepEqual(victim.services.networkMap.findPath(peerIdFromPrivateKey(fresh[0])), { found: false, reason: 'unreachable' })
    assert.deepEqual(victim.services.networkMap.findPath(pinger.peerId).found, true)
    // the honest link is intact
    assert.deepEqual(victim.services.networkMap.neighbours(pinger.peerId).map(String), [victim.peerId.toString()])
  })
})

describe('at the cap, churn never turns an honest map into a malformed frame', () => {
  let hub: MapNode
  const others: Libp2p[] = []
  // synthetic nodes are never reachable: keep them in the map for the whole test
  const HOLD = { recordTtl: 120_000, unreachableTimeout: 120_000 }

  before(async () => {
    hub = await startMapNode(HOLD)
  })

  after(async () => {
    await Promise.allSettled([hub, ...others].map(async n => n.stop()))
  })

  async function feeder (): Promise<Libp2p> {
    const { node } = await startAttacker()
    others.push(node)
    return node
  }

  it('after goodbyes and newcomers at the default cap, a newcomer gets the whole map; a smaller map says it is partial', async () => {
    const keys = await Promise.all(Array.from({ length: 1009 }, async () => generateKeyPair('Ed25519')))
    const records = async (ks: PrivateKey[], seq: bigint, departing = false): Promise<Uint8Array[]> => Promise.all(ks.map(async k => {
      const record = recordAbout(peerIdFromPrivateKey(k), seq)
      record.departing = departing
      return seal(NetmapRecord.encode(record), k)
    }))
    // fill the hub to MAX_NODES (1000) with itself and 999 others, from two neighbours (each within its push budget)
    await sendFrames(await feeder(), hub, [push(await records(keys.slice(0, 500), 1n))])
    await sendFrames(await feeder(), hub, [push(await records(keys.slice(500, 999), 1n))])
    await waitFor(() => hub.services.networkMap.size === 1000, 'hub full', 60_000)
    // 12 leave, 10 join
    const churn = await feeder()
    await sendFrames(churn, hub, [push(await records(keys.slice(0, 12), 2n, true))])
    await waitFor(() => hub.services.networkMap.size === 988, 'goodbyes taken')
    await sendFrames(churn, hub, [push(await records(keys.slice(999, 1009), 1n))])
    await waitFor(() => hub.services.networkMap.size === 998, 'newcomers take the departed records\' places')
    assert.equal(hub.services.networkMap.stats().recordsHeld, 1000)
    assert.equal(hub.services.networkMap.stats().nodesMissing, 0)

    const newcomer = await startMapNode(HOLD)
    others.push(newcomer)
    const rejected: RecordRejection[] = []
    newcomer.services.networkMap.addEventListener('record:reject', (evt) => { rejected.push(evt.detail) })
    await link(newcomer, hub)
    await waitFor(() => newcomer.services.networkMap.size === 999 && hub.services.networkMap.size === 999 &&
      newcomer.services.networkMap.neighbours(hub.peerId).length === 1 && hub.services.networkMap.neighbours(newcomer.peerId).length === 1, 'newcomer has the whole map, the hub has the newcomer', 60_000)
      .catch(err => {
        throw new Error(`${err.message}: newcomer ${JSON.stringify(newcomer.services.networkMap.stats(), (_k, v) => typeof v === 'bigint' ? String(v) : v)} size ${newcomer.services.networkMap.size}, hub ${JSON.stringify(hub.services.networkMap.stats())} size ${hub.services.networkMap.size}; rejected ${rejected.map(r => r.error.name).join(',')}`)
      })
    // a late copy crossing a newer one in the floods is the only refusal an honest hub may cause, and it costs nothing
    assert.deepEqual(rejected.map(r => r.error.name).filter(name => name !== 'StaleRecordError'), [])
    assert.equal(newcomer.services.networkMap.penalty(hub.peerId), 0)
    assert.equal(newcomer.services.networkMap.stats().nodesMissing, 0)
    assert.equal(hub.services.networkMap.penalty(newcomer.peerId), 0)

    // a member with a smaller cap holds what fits and says the rest is missing
    const small = await startMapNode({ ...HOLD, maxNodes: 500 })
    others.push(small)
    const smallRejected: RecordRejection[] = []
    small.services.networkMap.addEventListener('record:reject', (evt) => { smallRejected.push(evt.detail) })
    await link(small, hub)
    await waitFor(() => small.services.networkMap.stats().recordsHeld === 500 && small.services.networkMap.stats().nodesMissing >= 499, 'small map full and partial', 60_000)
    assert.ok(smallRejected.every(r => r.error.name === 'MapFullError'), `only MapFullError: ${[...new Set(smallRejected.map(r => r.error.name))].join(', ')}`)
    assert.equal(small.services.networkMap.penalty(hub.peerId), 0)
    const absent = keys.slice(12, 999).map(k => peerIdFromPrivateKey(k)).find(id => small.services.networkMap.get(id) == null)!
    assert.deepEqual(small.services.networkMap.findPath(absent), { found: false, reason: 'unknown' })
  })
})
