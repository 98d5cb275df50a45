/**
 * Map records as signed envelopes, both ways: seal our own, and take a
 * received one apart in order of cost — size, envelope, payload, PeerId
 * shape (all byte checks), then key and signature. Nothing here touches the
 * map; the service decides what a valid record means for it.
 */
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import * as Digest from 'multiformats/hashes/digest'
import { MaxLengthError } from 'protons-runtime'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { MAX_ALIAS_LENGTH, MAX_IDENTITY_DIGEST_LENGTH, MAX_MULTIADDRS, MAX_ROLE_LENGTH, MAX_ROLES, RECORD_DOMAIN, RECORD_PAYLOAD_TYPE } from './constants.js'
import {
  ExpiredRecordError, InvalidRecordError, MalformedRecordError, RecordSignatureError, RecordSignerMismatchError, RecordTooLargeError
} from './errors.js'
import { NetmapRecord, SignedEnvelope } from './pb/netmap.js'
import type { PeerId, PrivateKey, Record as SignedRecord } from '@libp2p/interface'

/** A signed-envelope payload: our record bytes under our domain and payload type */
class NetmapSignedRecord implements SignedRecord {
  readonly domain = RECORD_DOMAIN
  readonly codec = RECORD_PAYLOAD_TYPE
  constructor (private readonly bytes: Uint8Array) {}
  marshal (): Uint8Array { return this.bytes }
  equals (other: SignedRecord): boolean { return uint8ArrayEquals(this.bytes, other.marshal()) }
}

/**
 * Sign `record` with `privateKey`. When the envelope exceeds `maxRecordSize`,
 * the neighbour list (already sorted best first) is cut until it fits.
 */
export async function sealRecord (record: NetmapRecord, privateKey: PrivateKey, maxRecordSize: number): Promise<Uint8Array> {
  let envelope = (await RecordEnvelope.seal(new NetmapSignedRecord(NetmapRecord.encode(record)), privateKey)).marshal()
  while (envelope.byteLength > maxRecordSize && record.neighbours.length > 0) {
    // many addresses crowd out neighbours: keep the best links that fit
    record.neighbours = record.neighbours.slice(0, Math.floor(record.neighbours.length * 0.8))
    envelope = (await RecordEnvelope.seal(new NetmapSignedRecord(NetmapRecord.encode(record)), privateKey)).marshal()
  }
  return envelope
}

/**
 * True when `bytes` has the shape of a libp2p PeerId multihash: an identity
 * multihash of an inlined key (at most 42 bytes) or a sha2-256 one. A byte
 * check, so an attacker's megabyte "peer id" costs nothing before it is refused.
 */
export function isPeerIdBytes (bytes: Uint8Array): boolean {
  if (bytes.byteLength < 2) {
    return false
  }
  if (bytes[0] === 0x00) {
    return bytes[1] <= MAX_IDENTITY_DIGEST_LENGTH && bytes.byteLength === 2 + bytes[1]
  }
  return bytes[0] === 0x12 && bytes[1] === 0x20 && bytes.byteLength === 34
}

export interface DecodedRecord {
  envelope: SignedEnvelope
  record: NetmapRecord
}

export interface DecodeLimits {
  maxRecordSize: number
  maxNeighbours: number
}

/** Cheap structural checks of one received record; throws a typed error */
export function decodeRecord (bytes: Uint8Array, limits: DecodeLimits): DecodedRecord {
  if (bytes.byteLength > limits.maxRecordSize) {
    throw new RecordTooLargeError(`record of ${bytes.byteLength} bytes exceeds ${limits.maxRecordSize}`)
  }
  let envelope: SignedEnvelope
  let record: NetmapRecord
  try {
    envelope = SignedEnvelope.decode(bytes)
  } catch (err) {
    throw new MalformedRecordError(`not a signed envelope - ${(err as Error).message}`)
  }
  if (!uint8ArrayEquals(envelope.payloadType, RECORD_PAYLOAD_TYPE)) {
    throw new InvalidRecordError('envelope payload is not a network map record')
  }
  try {
    record = NetmapRecord.decode(envelope.payload, { limits: { neighbours: limits.maxNeighbours, roles: MAX_ROLES, multiaddrs: MAX_MULTIADDRS } })
  } catch (err) {
    if (err instanceof MaxLengthError) {
      throw new InvalidRecordError(`record exceeds a field limit - ${err.message}`)
    }
    throw new MalformedRecordError(`invalid record payload - ${(err as Error).message}`)
  }
  if (!isPeerIdBytes(record.peerId)) {
    throw new MalformedRecordError(`record subject is not a PeerId multihash (${record.peerId.byteLength} bytes)`)
  }
  for (const n of record.neighbours) {
    if (!isPeerIdBytes(n.peerId)) {
      throw new MalformedRecordError(`neighbour is not a PeerId multihash (${n.peerId.byteLength} bytes)`)
    }
  }
  return { envelope, record }
}

/** Public fields within their limits and the record not expired */
export function checkFields (record: NetmapRecord, now = Date.now()): void {
  if (Number(record.expires) <= now) {
    throw new ExpiredRecordError('record expired')
  }
  if (record.alias != null && record.alias.length > MAX_ALIAS_LENGTH) {
    throw new InvalidRecordError(`alias longer than ${MAX_ALIAS_LENGTH}`)
  }
  if (record.roles.some(r => r.length > MAX_ROLE_LENGTH)) {
    throw new InvalidRecordError(`role longer than ${MAX_ROLE_LENGTH}`)
  }
}

export interface SignedBy {
  /** The record's subject, equal to the signer */
  subject: PeerId
  signed: RecordEnvelope
}

/** Parse the subject and the signer's key; the signer must be the subject. The signature is not checked yet */
export function signerOf ({ envelope, record }: DecodedRecord): SignedBy {
  let subject: PeerId
  let signed: RecordEnvelope
  try {
    subject = peerIdFromMultihash(Digest.decode(record.peerId))
    signed = new RecordEnvelope({ publicKey: publicKeyFromProtobuf(envelope.publicKey), payloadType: envelope.payloadType, payload: envelope.payload, signature: envelope.signature })
  } catch (err) {
    throw new MalformedRecordError(`invalid record PeerId or key - ${(err as Error).message}`)
  }
  const signer = peerIdFromPublicKey(signed.publicKey)
  if (!signer.equals(subject)) {
    throw new RecordSignerMismatchError(`record about ${subject} is signed by ${signer}`)
  }
  return { subject, signed }
}

/** Check the envelope signature under the map's domain */
export async function verifySignature ({ subject, signed }: SignedBy): Promise<void> {
  if (!await signed.validate(RECORD_DOMAIN)) {
    throw new RecordSignatureError(`bad signature on record about ${subject}`)
  }
}
