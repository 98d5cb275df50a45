/**
 * Range summaries for the 2.0.0 connect-time sync: each record version is
 * hashed (`sha256(peer id ‖ seq)`, first 8 bytes) and the hashes are XORed,
 * over everything (the root) and per bucket (a bucket is chosen by the peer
 * id, so every version of a node's record falls in the same one). Two peers
 * holding the same versions have the same root: an in-sync pair exchanges a
 * count and 8 bytes. Otherwise only the buckets whose XOR differs are listed.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type { StoredRecord } from './record-store.js'

/** Buckets of a summary; a digest of one bucket lists about N / 64 records */
export const SUMMARY_BUCKETS = 64

/** A side holding at most this many records sends its whole digest instead of a summary (about 50 B each) */
export const SMALL_DIGEST = 64

export interface SummaryValue {
  count: number
  root: bigint
  buckets: bigint[]
}

export interface RecordHash {
  peerId: Uint8Array
  bucket: number
  hash: bigint
}

/** The bucket of a PeerId multihash: its last byte (the key's or the digest's), mod {@link SUMMARY_BUCKETS} */
export function bucketOf (peerId: Uint8Array): number {
  return peerId.byteLength === 0 ? 0 : peerId[peerId.byteLength - 1] % SUMMARY_BUCKETS
}

/**
 * The 64-bit hash of one record version, as a signed 64-bit value: protons
 * decodes `fixed64` as signed, and XOR keeps values in the signed range, so
 * what we compute and what we read compare equal
 */
export function versionHash (peerId: Uint8Array, seq: bigint): bigint {
  const input = new Uint8Array(peerId.byteLength + 8)
  input.set(peerId)
  new DataView(input.buffer).setBigUint64(peerId.byteLength, BigInt.asUintN(64, seq))
  const digest = sha256(input)
  return new DataView(digest.buffer, digest.byteOffset, 8).getBigInt64(0)
}

/** A 64-bit value from the wire in the signed range {@link versionHash} uses */
export function asHash (value: bigint): bigint {
  return BigInt.asIntN(64, value)
}

/** Hashes of stored records, computed once per stored version (a stored record is replaced, never changed, when a new version arrives) */
const cache = new WeakMap<StoredRecord, RecordHash>()

export function hashOf (stored: StoredRecord): RecordHash {
  let entry = cache.get(stored)
  if (entry == null) {
    const peerId = stored.node.id.toMultihash().bytes
    entry = { peerId, bucket: bucketOf(peerId), hash: versionHash(peerId, stored.seq) }
    cache.set(stored, entry)
  }
  return entry
}

/** The summary of `records` (the caller picks which: the live ones) */
export function summarise (records: Iterable<StoredRecord>): SummaryValue {
  const summary = new LiveSummary()
  for (const stored of records) {
    summary.add(stored)
  }
  return summary.value()
}

/**
 * The summary of the live records, kept as they come and go: a sync and a
 * link's check read it at O(buckets) instead of hashing every record held (at
 * N = 1 000 in a cold start that was 8–9 % of a node's CPU, issue 19)
 */
export class LiveSummary {
  private readonly buckets = new Array<bigint>(SUMMARY_BUCKETS).fill(0n)
  private root = 0n
  private count = 0

  /** How many records are live */
  get size (): number {
    return this.count
  }

  /** `stored` became live: XOR it in */
  add (stored: StoredRecord): void {
    this.toggle(stored)
    this.count++
  }

  /** `stored` is no longer live (replaced, pruned or deleted): XOR it out */
  remove (stored: StoredRecord): void {
    this.toggle(stored)
    this.count--
  }

  clear (): void {
    this.buckets.fill(0n)
    this.root = 0n
    this.count = 0
  }

  value (): SummaryValue {
    return { count: this.count, root: this.root, buckets: [...this.buckets] }
  }

  private toggle (stored: StoredRecord): void {
    const { bucket, hash } = hashOf(stored)
    this.buckets[bucket] ^= hash
    this.root ^= hash
  }
}

/** The buckets in which two summaries differ, as a bit set (bit i for bucket i) */
export function differingBuckets (ours: bigint[], theirs: bigint[]): bigint {
  let scope = 0n
  for (let i = 0; i < SUMMARY_BUCKETS; i++) {
    if (asHash(ours[i]) !== asHash(theirs[i])) {
      scope |= 1n << BigInt(i)
    }
  }
  return scope
}

/** True when `bucket` is in `scope` (no scope: every bucket; signed or unsigned, as decoded or as built) */
export function inScope (scope: bigint | undefined, bucket: number): boolean {
  return scope == null || ((BigInt.asUintN(64, scope) >> BigInt(bucket)) & 1n) === 1n
}
