/**
 * The map itself, with no I/O: verified records, the two-sided edges they
 * imply, shortest paths, expiry and reachability. The service feeds it records
 * and relays the events it emits.
 */
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { LINK_KIND_RANK } from '../utils/connections.js'
import { UNMEASURED_RTT } from './constants.js'
import { Claims, EdgeList, INDEXED } from './keyed-list.js'
import { NetmapRecord } from './pb/netmap.js'
import { LiveSummary } from './summary.js'
import type { LinkKind, MapEdge, MapNeighbour, MapNode, PathOptions } from './index.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { StoredDelta } from './delta.js'
import type { SummaryValue } from './summary.js'

/** A record we hold, verified */
export interface StoredRecord {
  /** The subject's PeerId string */
  key: string
  seq: bigint
  /** Local expiry, unix ms */
  expires: number
  /** The marshaled signed envelope, forwarded as received (its own copy, never a view into a frame) */
  envelope: Uint8Array
  node: MapNode
  /** Claimed neighbours by PeerId string: the list `node.neighbours` is */
  claims: Claims
  /** live: in the map; departed: said goodbye; pruned: unreachable (back to live when a path appears). Kept until expiry so older copies are not re-accepted */
  state: 'live' | 'departed' | 'pruned'
  acceptedAt: number
  /**
   * This record of the node has had a two-sided edge, or a path from us
   * reached it: if nothing reaches it now while the record is unchanged, the
   * others dropped their links to it (it was lost); it is not joining or
   * changing links
   */
  reached?: boolean
  unreachableSince?: number
  /**
   * This version changed nothing but its sequence number, expiry and RTTs
   * against the live version it replaced (a refresh): same neighbours and
   * kinds, addresses, alias and roles. Counted apart in the map's stats
   */
  refresh?: boolean
  /** This version as a delta against the version it replaced here, when one is smaller (`delta.ts`) */
  delta?: StoredDelta
}

/** The events the store emits, as the service's public events name them */
export interface RecordStoreEvents {
  'node:add': MapNode
  'node:update': MapNode
  'node:remove': MapNode
  'edge:add': MapEdge
  'edge:update': MapEdge
  'edge:remove': MapEdge
}

export type Emit = <K extends keyof RecordStoreEvents>(type: K, detail: RecordStoreEvents[K]) => void

export interface RecordStoreInit {
  /** Our own PeerId: the root of reachability and of every path */
  self: PeerId
  /** How long a node never reached yet (joining: its record came before the edges to it) may stay unreachable, in ms */
  unreachableTimeout: number
  /** How long a node that was reached, and that no node we reach claims any more, may stay unreachable (its last link was lost), in ms */
  lostTimeout: number
  emit: Emit
}

/** A link kind as a neighbour entry on the wire; WebRTC travels as DIRECT plus a flag older peers ignore */
export function kindToPb (kind: LinkKind): Pick<NetmapRecord.Neighbour, 'kind' | 'webrtc'> {
  switch (kind) {
    case 'webrtc': return { kind: NetmapRecord.LinkKind.DIRECT, webrtc: true }
    case 'relay': return { kind: NetmapRecord.LinkKind.RELAYED }
    case 'circuit': return { kind: NetmapRecord.LinkKind.CIRCUIT }
    default: return { kind: NetmapRecord.LinkKind.DIRECT }
  }
}

export function kindFromPb (neighbour: NetmapRecord.Neighbour): LinkKind {
  switch (neighbour.kind) {
    case NetmapRecord.LinkKind.RELAYED: return 'relay'
    case NetmapRecord.LinkKind.CIRCUIT: return 'circuit'
    default: return neighbour.webrtc === true ? 'webrtc' : 'direct'
  }
}

/**
 * A PeerId of its own from multihash bytes: the bytes are copied, so a
 * PeerId parsed from a view into a received frame does not keep the frame
 * (often a whole 8 KiB pool slab) alive for as long as the record is held
 */
export function ownPeerId (multihash: Uint8Array): PeerId {
  return peerIdFromMultihash(Digest.decode(new Uint8Array(multihash)))
}

/** PeerIds held for claimed nodes without a record, beyond the records held, before a sweep drops the unclaimed ones */
const CLAIMED_IDS_SLACK = 64

/**
 * A node as the store holds it. A class, so that every node shares one shape
 * with `multiaddrs` on the prototype: as an object literal with its own getter
 * (and the optional alias spread in), V8 turned the nodes into dictionary-mode
 * objects after the first few thousand, about 440 B more each (a third of what
 * a held record cost beyond its own bytes; scripts/heap-breakdown.js,
 * docs/scaling.md). Read-only to its users, as the {@link MapNode} it is.
 */
class HeldNode implements MapNode {
  readonly id: PeerId
  readonly seq: bigint
  readonly expires: number
  /** Set only when the record has one (`'alias' in node` is false otherwise, as before) */
  declare readonly alias?: string
  readonly roles: string[]
  readonly neighbours: MapNeighbour[]
  /** The bytes the addresses are held in, and each one's start and end in them */
  readonly #bytes: Uint8Array
  readonly #spans: number[]

  constructor (id: PeerId, record: NetmapRecord, expires: number, addresses: AddressSpans, neighbours: MapNeighbour[]) {
    this.id = id
    this.seq = record.seq
    this.expires = expires
    if (record.alias != null) {
      (this as { alias?: string }).alias = record.alias
    }
    this.roles = record.roles
    this.neighbours = neighbours
    this.#bytes = addresses.bytes
    this.#spans = addresses.spans
  }

  /** Same addresses (byte for byte, in order), alias and roles as `other` */
  sameClaimsAs (other: HeldNode): boolean {
    if (this.alias !== other.alias || this.roles.length !== other.roles.length || this.#spans.length !== other.#spans.length) {
      return false
    }
    for (let i = 0; i < this.roles.length; i++) {
      if (this.roles[i] !== other.roles[i]) { return false }
    }
    for (let i = 0; i < this.#spans.length; i += 2) {
      const a = this.#bytes.subarray(this.#spans[i], this.#spans[i + 1])
      const b = other.#bytes.subarray(other.#spans[i], other.#spans[i + 1])
      if (!uint8ArrayEquals(a, b)) { return false }
    }
    return true
  }

  /** New Multiaddr objects on each read: read it once where it is used */
  get multiaddrs (): Multiaddr[] {
    const out: Multiaddr[] = []
    for (let i = 0; i < this.#spans.length; i += 2) {
      out.push(multiaddr(this.#bytes.subarray(this.#spans[i], this.#spans[i + 1])))
    }
    return out
  }
}

interface AddressSpans { bytes: Uint8Array, spans: number[] }

/**
 * Where a record's addresses are held: spans of the stored envelope when the
 * record was decoded from `decodedFrom` and `envelope` is its copy (the
 * addresses are in it already), else one buffer with copies of them all. Not
 * a `Uint8Array` of its own per address: with its `ArrayBuffer` that cost
 * about 180 B per address of every node held (scripts/heap-breakdown.js).
 */
function addressSpans (addresses: Uint8Array[], envelope: Uint8Array, decodedFrom?: Uint8Array): AddressSpans {
  const spans: number[] = []
  const inside = (a: Uint8Array): boolean => decodedFrom != null && a.buffer === decodedFrom.buffer &&
    a.byteOffset >= decodedFrom.byteOffset && a.byteOffset + a.byteLength <= decodedFrom.byteOffset + decodedFrom.byteLength
  if (decodedFrom != null && decodedFrom.byteLength === envelope.byteLength && addresses.every(inside)) {
    for (const a of addresses) {
      const start = a.byteOffset - decodedFrom.byteOffset
      spans.push(start, start + a.byteLength)
    }
    return { bytes: envelope, spans }
  }
  const bytes = new Uint8Array(addresses.reduce((n, a) => n + a.byteLength, 0))
  let offset = 0
  for (const a of addresses) {
    bytes.set(a, offset)
    spans.push(offset, offset + a.byteLength)
    offset += a.byteLength
  }
  return { bytes, spans }
}

/**
 * A decoded, verified record in the form the store holds. Throws on a
 * neighbour id or address that does not parse. `peerId(key, multihash)`
 * returns the PeerId the map holds for `key` ({@link RecordStore.peerIdFor}):
 * every record of a map names about `d` neighbours, and one PeerId (its
 * digest, public key, bytes and string) per claim instead of per node was
 * most of the map's heap (issue 19).
 * Whatever the record keeps is its own copy, never a view into `record`'s bytes.
 * `decodedFrom`: the bytes `record` was decoded from, when `envelope` is a copy
 * of them (the addresses are then held as spans of `envelope`). `previous`: the
 * version of the record the map holds, whose claims most of this one's repeat.
 */
export function storedRecord (id: PeerId, record: NetmapRecord, envelope: Uint8Array, expires: number, now = Date.now(), peerId?: (key: string, multihash: Uint8Array) => PeerId, decodedFrom?: Uint8Array, previous?: StoredRecord): StoredRecord {
  const key = id.toString()
  const claims = new Map<string, MapNeighbour>()
  for (const n of record.neighbours) {
    // the PeerId string is the base58btc of its multihash (the string of a claim the previous version
    // made, when one matches byte for byte: base58 was a twentieth of a cold start's CPU): look it up
    // before parsing a new one
    const nkey = (previous == null ? undefined : claimedBefore(previous, n.peerId)) ?? uint8ArrayToString(n.peerId, 'base58btc')
    if (nkey !== key) {
      const nid = peerId?.(nkey, n.peerId) ?? ownPeerId(n.peerId)
      claims.set(nid.toString(), { id: nid, kind: kindFromPb(n), ...(n.rtt != null ? { rtt: n.rtt } : {}) })
    }
  }
  // every address is parsed here (one that does not parse refuses the record) but held as bytes, and
  // made a Multiaddr each time it is asked for: a Multiaddr costs 350-670 B more than its bytes, per
  // address of every node held, and a member dials few of the nodes its map holds
  for (const bytes of record.multiaddrs) {
    multiaddr(bytes)
  }
  const held = new Claims([...claims.values()])
  const node = new HeldNode(id, record, expires, addressSpans(record.multiaddrs, envelope, decodedFrom), held.neighbours)
  return { key, seq: record.seq, expires, envelope, node, claims: held, state: record.departing ? 'departed' : 'live', acceptedAt: now }
}

/** The PeerId string of the claim of `previous` whose multihash is `multihash`, if one is (searched only in a short list) */
function claimedBefore (previous: StoredRecord, multihash: Uint8Array): string | undefined {
  if (previous.claims.size > INDEXED) {
    return undefined
  }
  for (const claim of previous.claims.values()) {
    if (uint8ArrayEquals(claim.id.toMultihash().bytes, multihash)) {
      return claim.id.toString()
    }
  }
  return undefined
}

/**
 * `next` claims what `prev` claims: the same neighbours (in any order) with the
 * same kinds, and the same addresses (in order), alias and roles. Sequence
 * number, expiry and RTTs are not compared: a live version that differs from
 * the live one before it only in those is a refresh.
 */
export function sameClaims (prev: StoredRecord, next: StoredRecord): boolean {
  if (prev.claims.size !== next.claims.size || !(prev.node instanceof HeldNode) || !(next.node instanceof HeldNode) || !next.node.sameClaimsAs(prev.node)) {
    return false
  }
  for (const [key, claim] of next.claims) {
    if (prev.claims.get(key)?.kind !== claim.kind) { return false }
  }
  return true
}

function edgeEnds (a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a]
}

/** Every node `prev` claims, `next` claims too */
function claimsWithin (prev: StoredRecord, next: StoredRecord): boolean {
  for (const key of prev.claims.keys()) {
    if (!next.claims.has(key)) { return false }
  }
  return true
}

function sameEdge (a: MapEdge, b: MapEdge): boolean {
  return a.kind === b.kind && a.rtt === b.rtt
}

export class RecordStore {
  private readonly self: PeerId
  private readonly selfKey: string
  private readonly unreachableTimeout: number
  private readonly lostTimeout: number
  private readonly emit: Emit
  private readonly records = new Map<string, StoredRecord>()
  /**
   * The PeerIds of nodes that records held claim as neighbours but whose own
   * record we do not hold (yet): when it comes, it takes the same PeerId. Without
   * this, every claim made before a node's record arrived kept a PeerId of its
   * own (about 700 B each), two per record held at N = 120 (issue 19).
   * Entries no record claims any more go at the next sweep once they outnumber
   * the records held and twice what the last such sweep kept (so a map whose
   * records claim many nodes it does not hold is not walked at every sweep).
   */
  private readonly claimedIds = new Map<string, PeerId>()
  private claimedIdsBound = CLAIMED_IDS_SLACK
  /** Two-sided edges, under both ends */
  private readonly adjacency = new Map<string, EdgeList>()
  /** The live records' count, root and buckets, updated wherever a record becomes live or stops being live */
  private readonly live = new LiveSummary()
  /**
   * What the last reachability pass reached (ourselves included), kept
   * between sweeps: undefined until the first pass, and after any change that
   * can shrink it (a record that lost a claim or changed state, a record
   * deleted), when the next sweep walks the whole map again
   */
  private reached?: Set<string>
  /** Records put since the last sweep that can only add to `reached`: the next sweep walks on from these alone */
  private readonly grown = new Set<string>()
  /** Live records not in `reached`: the only ones whose unreachable and lost timers a sweep checks */
  private readonly unreached = new Set<string>()
  /** The earliest expiry of a record held (ours aside): a sweep before it deletes nothing */
  private nextExpiry = Infinity

  constructor (init: RecordStoreInit) {
    this.self = init.self
    this.selfKey = init.self.toString()
    this.unreachableTimeout = init.unreachableTimeout
    this.lostTimeout = init.lostTimeout
    this.emit = init.emit
  }

  /** Live nodes, ourselves included */
  get size (): number {
    return this.live.size
  }

  /** The summary of the live records (the connect-time sync's and the link checks') */
  summary (): SummaryValue {
    return this.live.value()
  }

  /** Every record held, live or not (departed and pruned ones stay until expiry) */
  get held (): number {
    return this.records.size
  }

  record (key: string): StoredRecord | undefined {
    return this.records.get(key)
  }

  all (): IterableIterator<StoredRecord> {
    return this.records.values()
  }

  /** The PeerId the map holds for `key` (ours, that of a record held, or that of a node records claim), so records share one per node */
  peerId (key: string): PeerId | undefined {
    return key === this.selfKey ? this.self : (this.records.get(key)?.node.id ?? this.claimedIds.get(key))
  }

  /**
   * `key` and `seq` as the map holds them, where it does: its own PeerId
   * string for the node, and the bigint of the version it holds when `seq` is
   * that version. Notes kept per neighbour and per stream (one per record
   * each) hold these instead of the copies a frame was decoded into, which
   * cost about 130 B per record per neighbour (issue 19).
   */
  canonical (key: string, seq: bigint): [string, bigint] {
    const held = this.records.get(key)
    return [held?.key ?? this.peerId(key)?.toString() ?? key, held?.seq === seq ? held.seq : seq]
  }

  /** {@link peerId}, or a PeerId of its own parsed from `multihash` (copied), which the map then holds for `key` */
  peerIdFor (key: string, multihash: Uint8Array): PeerId {
    let id = this.peerId(key)
    if (id == null) {
      id = ownPeerId(multihash)
      this.claimedIds.set(key, id)
    }
    return id
  }

  isLive (key: string): boolean {
    return this.records.get(key)?.state === 'live'
  }

  nodes (): MapNode[] {
    const nodes: MapNode[] = []
    for (const r of this.records.values()) {
      if (r.state === 'live') {
        nodes.push(r.node)
      }
    }
    return nodes
  }

  edges (): MapEdge[] {
    const edges: MapEdge[] = []
    for (const [a, others] of this.adjacency) {
      for (const [b, edge] of others) {
        if (a < b) {
          edges.push(edge)
        }
      }
    }
    return edges
  }

  node (key: string): MapNode | undefined {
    const r = this.records.get(key)
    return r?.state === 'live' ? r.node : undefined
  }

  neighbours (key: string): PeerId[] {
    return [...(this.adjacency.get(key)?.keys() ?? [])].map(k => this.records.get(k)!.node.id)
  }

  /** Put a verified record in the map and emit what changed; returns the record it replaced */
  put (stored: StoredRecord): StoredRecord | undefined {
    const prev = this.records.get(stored.key)
    const wasLive = prev?.state === 'live'
    if (prev != null && prev.state !== 'departed' && stored.state === 'live') {
      // A node we have reached is not joining: a new version of its record does not buy it the join
      // grace. Otherwise a record issued just before its node died (and handed over by a sync
      // after we had lost our own links) kept the dead node in our map for `unreachableTimeout`.
      // A node that swapped links keeps its place while a node we reach still claims it (sweep).
      stored.reached = prev.reached
      // a pruned node we had reached stays out of the map until a path reaches it (the next sweep),
      // instead of flapping in and out: no node:add for a node that is still unreachable
      const staysPruned = prev.state === 'pruned' && prev.reached === true
      if (staysPruned) {
        stored.state = 'pruned'
      }
      if (wasLive || staysPruned) {
        stored.unreachableSince = prev.unreachableSince
      }
    }
    stored.refresh = wasLive && stored.state === 'live' && sameClaims(prev, stored)
    this.records.set(stored.key, stored)
    this.claimedIds.delete(stored.key)
    // a version that only adds claims can only add to what we reach; anything else may take from it
    if (prev != null && (prev.state !== stored.state || !claimsWithin(prev, stored))) {
      this.reached = undefined
    } else {
      this.grown.add(stored.key)
    }
    if (stored.state === 'live' && this.reached?.has(stored.key) !== true) {
      this.unreached.add(stored.key)
    }
    if (stored.key !== this.selfKey && stored.expires < this.nextExpiry) {
      this.nextExpiry = stored.expires
    }
    if (wasLive) {
      this.live.remove(prev)
    }
    if (stored.state === 'live') {
      this.live.add(stored)
      this.emit(wasLive ? 'node:update' : 'node:add', stored.node)
      this.updateEdges(stored.key)
    } else {
      this.updateEdges(stored.key)
      if (wasLive) {
        this.emit('node:remove', prev.node)
      }
    }
    return prev
  }

  /**
   * Make room for a record about a new node by forgetting the non-live
   * record (departed or pruned) that expires first. False when every record
   * held is live.
   */
  evict (): boolean {
    let victim: StoredRecord | undefined
    for (const r of this.records.values()) {
      if (r.state !== 'live' && (victim == null || r.expires < victim.expires)) {
        victim = r
      }
    }
    if (victim == null) {
      return false
    }
    this.records.delete(victim.key)
    this.reached = undefined
    return true
  }

  clear (): void {
    this.records.clear()
    this.claimedIds.clear()
    this.claimedIdsBound = CLAIMED_IDS_SLACK
    this.adjacency.clear()
    this.live.clear()
    this.reached = undefined
    this.grown.clear()
    this.unreached.clear()
    this.nextExpiry = Infinity
  }

  /**
   * The shortest path over two-sided edges, `[self, …hops, to]`, or
   * `undefined` when `to` is not live or no path reaches it.
   */
  path (to: PeerId, options: PathOptions = {}): PeerId[] | undefined {
    const target = to.toString()
    if (target === this.selfKey) {
      return [this.self]
    }
    if (!this.isLive(target)) {
      return undefined
    }
    const excluded = new Set((options.exclude ?? []).map(String))
    excluded.delete(target)
    excluded.delete(this.selfKey)
    const latency = options.weight === 'latency'
    // Dijkstra; with unit weights the first settle of `target` is a BFS shortest path
    const dist = new Map<string, number>([[this.selfKey, 0]])
    const prev = new Map<string, string>()
    const done = new Set<string>()
    while (true) {
      let current: string | undefined
      let best = Infinity
      for (const [k, d] of dist) {
        if (!done.has(k) && d < best) { best = d; current = k }
      }
      if (current == null) {
        return undefined
      }
      if (current === target) {
        break
      }
      done.add(current)
      for (const [next, edge] of this.adjacency.get(current) ?? []) {
        if (done.has(next) || excluded.has(next)) { continue }
        const w = latency ? (edge.rtt ?? UNMEASURED_RTT) : 1
        if (best + w < (dist.get(next) ?? Infinity)) {
          dist.set(next, best + w)
          prev.set(next, current)
        }
      }
    }
    const keys = [target]
    while (keys[0] !== this.selfKey) {
      keys.unshift(prev.get(keys[0])!)
    }
    return keys.map(k => k === this.selfKey ? this.self : this.records.get(k)!.node.id)
  }

  /**
   * Expire records and prune nodes no two-sided path from us reaches for
   * `unreachableTimeout`; a pruned node comes back when a path appears.
   * `linked` says whether we hold a map link to a node now: our next record
   * will claim it (ours may be held back by the re-issue limit), so it is
   * changing links, not lost. Returns the records a path brought back: a
   * version accepted while its node was pruned was flooded to no one, so the
   * caller floods these now.
   */
  sweep (now = Date.now(), linked: (key: string) => boolean = () => false): StoredRecord[] {
    if (now >= this.nextExpiry) {
      this.expire(now)
    }
    if (this.claimedIds.size > Math.max(this.claimedIdsBound, this.records.size)) {
      this.forgetUnclaimedIds()
      this.claimedIdsBound = Math.max(CLAIMED_IDS_SLACK, 2 * this.claimedIds.size)
    }
    const revived: StoredRecord[] = []
    // what a pass newly reached: clear its timers, and bring back a pruned node a path now reaches
    const reach = (stored: StoredRecord): void => {
      stored.unreachableSince = undefined
      stored.reached = true
      this.unreached.delete(stored.key)
      if (stored.state === 'pruned') {
        stored.state = 'live'
        this.live.add(stored)
        this.emit('node:add', stored.node)
        this.updateEdges(stored.key)
        revived.push(stored)
      }
    }
    if (this.reached == null) {
      // reachability over two-sided claims of live and pruned records, so a pruned node comes back when a path to it appears
      this.reached = new Set([this.selfKey])
      this.grown.clear()
      this.walk([this.selfKey])
      this.unreached.clear()
      for (const stored of [...this.records.values()]) {
        if (stored.state === 'departed') {
          continue
        }
        if (this.reached.has(stored.key)) {
          reach(stored)
        } else if (stored.state === 'live') {
          this.unreached.add(stored.key)
        }
      }
    } else if (this.grown.size > 0) {
      // only claims were added since the last pass: walk on from the records that gained them
      const reached = this.reached
      const from: string[] = []
      for (const key of this.grown) {
        const stored = this.records.get(key)
        if (stored == null || stored.state === 'departed') {
          continue
        }
        if (reached.has(key) || [...stored.claims.keys()].some(k => reached.has(k) && this.twoSided(k, key))) {
          from.push(key)
        }
      }
      this.grown.clear()
      for (const key of from) {
        if (!reached.has(key)) {
          reached.add(key)
          reach(this.records.get(key)!)
        }
      }
      for (const key of this.walk(from)) {
        reach(this.records.get(key)!)
      }
    }
    // a node that a node we reach still claims is changing links, not lost: the other end's record may be on its way
    let claimed: Set<string> | undefined
    const claimedByReached = (): Set<string> => {
      claimed = new Set()
      for (const key of this.reached ?? []) {
        for (const other of this.records.get(key)?.claims.keys() ?? []) { claimed.add(other) }
      }
      return claimed
    }
    for (const key of [...this.unreached]) {
      const stored = this.records.get(key)
      if (stored == null || stored.state !== 'live' || this.reached?.has(key) === true) {
        this.unreached.delete(key)
        continue
      }
      stored.unreachableSince ??= now
      const lost = stored.reached === true && !(claimed ?? claimedByReached()).has(stored.key) && !linked(stored.key)
      if (now - stored.unreachableSince >= (lost ? this.lostTimeout : this.unreachableTimeout)) {
        this.unreached.delete(key)
        this.drop(stored)
      }
    }
    return revived
  }

  /** Drop the PeerIds held for nodes that no record held claims any more */
  private forgetUnclaimedIds (): void {
    const claimed = new Set<string>()
    for (const stored of this.records.values()) {
      for (const key of stored.claims.keys()) { claimed.add(key) }
    }
    for (const key of this.claimedIds.keys()) {
      if (!claimed.has(key)) { this.claimedIds.delete(key) }
    }
  }

  /** Delete expired records (ours aside) and find the next expiry */
  private expire (now: number): void {
    let next = Infinity
    for (const stored of [...this.records.values()]) {
      if (stored.key === this.selfKey) {
        continue
      }
      if (stored.expires <= now) {
        if (stored.state === 'live') {
          this.drop(stored)
        }
        this.records.delete(stored.key)
        this.unreached.delete(stored.key)
        this.reached = undefined
      } else if (stored.expires < next) {
        next = stored.expires
      }
    }
    this.nextExpiry = next
  }

  /** `b`'s record is live or pruned and claims `a`, whose record claims `b` */
  private twoSided (a: string, b: string): boolean {
    const other = this.records.get(b)
    return other != null && other.state !== 'departed' && other.claims.has(a) && this.records.get(a)?.claims.has(b) === true
  }

  /** Add to `reached` every node a two-sided path from `from` (reached already) reaches; returns those added */
  private walk (from: string[]): string[] {
    const reached = this.reached!
    const added: string[] = []
    const queue = [...from]
    while (queue.length > 0) {
      const key = queue.pop()!
      for (const next of this.records.get(key)?.claims.keys() ?? []) {
        if (!reached.has(next) && this.twoSided(key, next)) {
          reached.add(next)
          added.push(next)
          queue.push(next)
        }
      }
    }
    return added
  }

  /** Take a node out of the map (expired or unreachable); its record stays as `pruned` */
  private drop (stored: StoredRecord): void {
    stored.state = 'pruned'
    this.live.remove(stored)
    this.updateEdges(stored.key)
    this.emit('node:remove', stored.node)
  }

  /** Re-derive the two-sided edges at `key` after its record changed */
  private updateEdges (key: string): void {
    const record = this.records.get(key)
    const live = record?.state === 'live'
    const current = this.adjacency.get(key) ?? new EdgeList(key)
    const candidates = new Set([...current.keys(), ...(live ? record.claims.keys() : [])])
    for (const other of candidates) {
      const should = live && this.isLive(other) && record.claims.has(other) && this.records.get(other)!.claims.has(key)
      const edge = current.get(other)
      if (should) {
        // kind and RTT may change while the edge stays
        const next = this.edge(key, other)
        this.link(key, other, next)
        if (edge == null) {
          record.reached = true
          this.records.get(other)!.reached = true
          this.emit('edge:add', next)
        } else if (!sameEdge(edge, next)) {
          this.emit('edge:update', next)
        }
      } else if (edge != null) {
        this.unlink(key, other)
        this.emit('edge:remove', edge)
      }
    }
  }

  private link (a: string, b: string, edge: MapEdge): void {
    for (const x of [a, b]) {
      let edges = this.adjacency.get(x)
      if (edges == null) {
        edges = new EdgeList(x)
        this.adjacency.set(x, edges)
      }
      edges.set(edge)
    }
  }

  private unlink (a: string, b: string): void {
    for (const [x, y] of [[a, b], [b, a]]) {
      const edges = this.adjacency.get(x)
      edges?.delete(y)
      if (edges?.size === 0) {
        this.adjacency.delete(x)
      }
    }
  }

  private edge (a: string, b: string): MapEdge {
    const [from, to] = edgeEnds(a, b)
    const fromRecord = this.records.get(from)!
    const toRecord = this.records.get(to)!
    const x = fromRecord.claims.get(to)
    const y = toRecord.claims.get(from)
    const kinds = [x?.kind ?? 'direct', y?.kind ?? 'direct']
    const kind = LINK_KIND_RANK[kinds[0]] >= LINK_KIND_RANK[kinds[1]] ? kinds[0] : kinds[1]
    const rtts = [x?.rtt, y?.rtt].filter((r): r is number => r != null)
    return {
      from: fromRecord.node.id,
      to: toRecord.node.id,
      kind,
      ...(rtts.length > 0 ? { rtt: rtts.reduce((s, r) => s + r, 0) / rtts.length } : {})
    }
  }
}
