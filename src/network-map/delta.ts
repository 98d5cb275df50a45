/**
 * Record deltas (`/membrane/netmap/2.1.0`): a new version of a node's record
 * as what changed against a version the receiver holds. Most new versions
 * differ from the one before only in their sequence number, expiry and
 * neighbours (a refresh, a link added or lost, an RTT moved), so a delta
 * carries those, the signature, and each neighbour as an index into the base
 * record where it can: about a third of a full record.
 *
 * The receiver rebuilds the payload from its own copy of the base and checks
 * the signature on it exactly as on a full record; nothing here trusts the
 * sender. A delta is only made when rebuilding it from the base gives the
 * signed payload byte for byte, so a holder of the same base always rebuilds
 * what the subject signed.
 */
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { MalformedRecordError, RecordTooLargeError } from './errors.js'
import { NetmapRecord, RecordDelta, SignedEnvelope } from './pb/netmap.js'
import { isPeerIdBytes } from './validate.js'

/** Bytes as the generated protobuf code types them */
type Bytes = Uint8Array<ArrayBuffer>

/** A delta as the store keeps it beside the version it leads to */
export interface StoredDelta {
  /** The version the delta applies to */
  base: bigint
  /** The marshaled RecordDelta */
  bytes: Uint8Array
}

export interface DeltaLimits {
  maxRecordSize: number
  maxNeighbours: number
}

/** A received delta, decoded and byte-checked, with its subject as a PeerId string */
export interface DecodedDelta {
  key: string
  delta: RecordDelta
}

function unpack (envelope: Uint8Array): { envelope: SignedEnvelope, record: NetmapRecord } {
  const decoded = SignedEnvelope.decode(envelope)
  return { envelope: decoded, record: NetmapRecord.decode(decoded.payload) }
}

function sameStrings (a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i])
}

function sameBytesList (a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length && a.every((x, i) => uint8ArrayEquals(x, b[i]))
}

/** The record `delta` describes, built on `base` */
function rebuilt (base: NetmapRecord, delta: RecordDelta): NetmapRecord {
  const neighbours = delta.neighbours.map((slot, i): NetmapRecord.Neighbour => {
    if (slot.base != null) {
      const from = base.neighbours[slot.base]
      if (from == null || slot.neighbour != null) {
        throw new MalformedRecordError(`delta neighbour ${i} names base neighbour ${slot.base} of ${base.neighbours.length}`)
      }
      return slot.rtt == null ? from : { ...from, rtt: slot.rtt }
    }
    if (slot.neighbour == null || slot.rtt != null) {
      throw new MalformedRecordError(`delta neighbour ${i} is neither a base index nor a neighbour`)
    }
    try {
      return NetmapRecord.Neighbour.decode(slot.neighbour)
    } catch (err) {
      throw new MalformedRecordError(`delta neighbour ${i} does not decode - ${(err as Error).message}`)
    }
  })
  return { ...base, seq: delta.seq, expires: delta.expires, neighbours }
}

/**
 * The delta from the record in envelope `base` to the one in `next`, both of
 * the same node and both verified; undefined when `next` changes more than
 * seq, expiry and neighbours, or when the delta would not be smaller
 */
export function makeDelta (base: Uint8Array, next: Uint8Array): Uint8Array | undefined {
  let from: NetmapRecord
  let to: { envelope: SignedEnvelope, record: NetmapRecord }
  try {
    from = unpack(base).record
    to = unpack(next)
  } catch {
    return undefined
  }
  const r = to.record
  if (!uint8ArrayEquals(from.peerId, r.peerId) || from.seq >= r.seq || from.alias !== r.alias || from.departing !== r.departing ||
    !sameStrings(from.roles, r.roles) || !sameBytesList(from.multiaddrs, r.multiaddrs)) {
    return undefined
  }
  const index = new Map<string, number>()
  from.neighbours.forEach((n, i) => { index.set(uint8ArrayToString(n.peerId, 'base64'), i) })
  const neighbours = r.neighbours.map((n): RecordDelta.Slot => {
    const i = index.get(uint8ArrayToString(n.peerId, 'base64'))
    const old = i == null ? undefined : from.neighbours[i]
    if (i != null && old != null && old.kind === n.kind && old.webrtc === n.webrtc && (n.rtt != null || old.rtt == null)) {
      return n.rtt === old.rtt ? { base: i } : { base: i, rtt: n.rtt }
    }
    return { neighbour: NetmapRecord.Neighbour.encode(n) as Bytes }
  })
  const delta: RecordDelta = { peerId: r.peerId, baseSeq: from.seq, seq: r.seq, expires: r.expires, neighbours, signature: to.envelope.signature }
  // only what rebuilds the signed payload exactly is worth sending
  if (!uint8ArrayEquals(NetmapRecord.encode(rebuilt(from, delta)), to.envelope.payload)) {
    return undefined
  }
  const bytes = RecordDelta.encode(delta)
  return bytes.byteLength < next.byteLength ? bytes : undefined
}

/** Cheap structural checks of one received delta; throws a typed error */
export function decodeDelta (bytes: Uint8Array, limits: DeltaLimits): DecodedDelta {
  if (bytes.byteLength > limits.maxRecordSize) {
    throw new RecordTooLargeError(`delta of ${bytes.byteLength} bytes exceeds ${limits.maxRecordSize}`)
  }
  let delta: RecordDelta
  try {
    delta = RecordDelta.decode(bytes, { limits: { neighbours: limits.maxNeighbours } })
  } catch (err) {
    throw new MalformedRecordError(`invalid delta - ${(err as Error).message}`)
  }
  if (!isPeerIdBytes(delta.peerId)) {
    throw new MalformedRecordError(`delta subject is not a PeerId multihash (${delta.peerId.byteLength} bytes)`)
  }
  if (delta.seq <= delta.baseSeq) {
    throw new MalformedRecordError(`delta from ${delta.baseSeq} to ${delta.seq} does not go forward`)
  }
  return { key: uint8ArrayToString(delta.peerId, 'base58btc'), delta }
}

/**
 * The signed envelope `delta` describes, built on the envelope of its base
 * version; the caller checks it as any received record (size, fields, signature)
 */
export function applyDelta (base: Uint8Array, delta: RecordDelta): Uint8Array {
  let from: { envelope: SignedEnvelope, record: NetmapRecord }
  try {
    from = unpack(base)
  } catch (err) {
    throw new MalformedRecordError(`the base record does not decode - ${(err as Error).message}`)
  }
  if (from.record.seq !== delta.baseSeq) {
    throw new MalformedRecordError(`delta applies to ${delta.baseSeq}, the base is ${from.record.seq}`)
  }
  const payload = NetmapRecord.encode(rebuilt(from.record, delta)) as Bytes
  return SignedEnvelope.encode({ publicKey: from.envelope.publicKey, payloadType: from.envelope.payloadType, payload, signature: delta.signature })
}
