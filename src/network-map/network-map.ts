import { NotStartedError, TimeoutError, TypedEventEmitter, serviceCapabilities, serviceDependencies, setMaxListeners } from '@libp2p/interface'
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { lpStream } from '@libp2p/utils'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { MaxLengthError } from 'protons-runtime'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import {
  DEFAULT_FLOOD_DELAY, DEFAULT_GOODBYE_TIMEOUT, DEFAULT_MAX_RECORD_TTL, DEFAULT_MAX_RECORDS_PER_SECOND, DEFAULT_PENALTY_THRESHOLD,
  DEFAULT_PUBLISH_DELAY, DEFAULT_RECORD_BURST, DEFAULT_RECORD_TTL, DEFAULT_TIMEOUT, DEFAULT_UNREACHABLE_TIMEOUT, MAX_ALIAS_LENGTH,
  MAX_INBOUND_STREAMS, MAX_FRAME_SIZE, MAX_MULTIADDRS, MAX_NEIGHBOURS, MAX_NODES, MAX_OUTBOUND_STREAMS, MAX_RECORD_SIZE,
  MAX_ROLE_LENGTH, MAX_ROLES, OFFENCE_POINTS, PENALTY_HALF_LIFE, PROTOCOL, RECORD_DOMAIN, RECORD_PAYLOAD_TYPE, STALE_GRACE, STALE_RACE_WINDOW, UNMEASURED_RTT
} from './constants.js'
import {
  ExpiredRecordError, InvalidRecordError, MalformedFrameError, MalformedRecordError, MapFullError, FrameTooLargeError,
  RecordRateLimitError, RecordSignatureError, RecordSignerMismatchError, RecordTooLargeError, StaleRecordError, UnexpectedRecordError
} from './errors.js'
import { NetmapMessage, NetmapRecord, SignedEnvelope } from './pb/netmap.js'
import type { LinkKind, MapEdge, MapNeighbour, MapNode, NetworkMap, NetworkMapComponents, NetworkMapEvents, NetworkMapInit, NetworkMapStats, PathOptions } from './index.js'
import type { Connection, Logger, PeerId, Record as SignedRecord, Startable, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/** Bytes as the generated protobuf code types them */
type Bytes = Uint8Array<ArrayBuffer>

/** A record we hold, verified */
interface StoredRecord {
  key: string
  seq: bigint
  /** Local expiry, unix ms */
  expires: number
  /** The marshaled signed envelope, forwarded as received */
  envelope: Uint8Array
  node: MapNode
  /** Claimed neighbours by PeerId string */
  claims: Map<string, MapNeighbour>
  /** live: in the map; departed: said goodbye; pruned: unreachable (back to live when a path appears). Kept until expiry so older copies are not re-accepted */
  state: 'live' | 'departed' | 'pruned'
  acceptedAt: number
  /** The sequence number this record replaced: a copy of it arriving just after is a flooding race, not a replay */
  previousSeq?: bigint
  unreachableSince?: number
}

interface Outbox {
  peer: PeerId
  records: Map<string, StoredRecord>
  timer?: ReturnType<typeof setTimeout>
  sending: boolean
}

const KIND_TO_PB: Record<LinkKind, NetmapRecord.LinkKind> = {
  direct: NetmapRecord.LinkKind.DIRECT,
  relayed: NetmapRecord.LinkKind.RELAYED,
  circuit: NetmapRecord.LinkKind.CIRCUIT
}
const PB_TO_KIND: Record<NetmapRecord.LinkKind, LinkKind> = {
  [NetmapRecord.LinkKind.DIRECT]: 'direct',
  [NetmapRecord.LinkKind.RELAYED]: 'relayed',
  [NetmapRecord.LinkKind.CIRCUIT]: 'circuit'
}
/** Lower is more direct */
const KIND_RANK: Record<LinkKind, number> = { direct: 0, circuit: 1, relayed: 2 }

function defaultLinkKind (connection: Connection): LinkKind {
  return connection.remoteAddr.toString().includes('/p2p-circuit') || connection.limits != null ? 'relayed' : 'direct'
}

function edgeKey (a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a]
}

/** A signed-envelope payload: our record bytes under our domain and payload type */
class NetmapSignedRecord implements SignedRecord {
  readonly domain = RECORD_DOMAIN
  readonly codec = RECORD_PAYLOAD_TYPE
  constructor (private readonly bytes: Uint8Array) {}
  marshal (): Uint8Array { return this.bytes }
  equals (other: SignedRecord): boolean { return uint8ArrayEquals(this.bytes, other.marshal()) }
}

export class DefaultNetworkMap extends TypedEventEmitter<NetworkMapEvents> implements NetworkMap, Startable {
  private readonly components: NetworkMapComponents
  private readonly log: Logger
  private readonly self: string
  private readonly alias?: string
  private readonly roles: string[]
  private readonly announceAddresses: boolean
  private readonly recordTtl: number
  private readonly maxRecordTtl: number
  private readonly publishDelay: number
  private readonly floodDelay: number
  private readonly unreachableTimeout: number
  private readonly maxRecordSize: number
  private readonly maxNeighbours: number
  private readonly maxNodes: number
  private readonly maxFrameSize: number
  private readonly timeout: number
  private readonly goodbyeTimeout: number
  private readonly maxRecordsPerSecond: number
  private readonly recordBurst: number
  private readonly penaltyThreshold: number
  private readonly maxInboundStreams: number
  private readonly maxOutboundStreams: number
  private readonly linkKind: (connection: Connection) => LinkKind | undefined

  private readonly records = new Map<string, StoredRecord>()
  /** Two-sided edges, under both ends */
  private readonly adjacency = new Map<string, Map<string, MapEdge>>()
  /** Connected peers that run the map protocol */
  private readonly links = new Map<string, PeerId>()
  /** Which record version each neighbour is known to hold, so nothing is sent twice */
  private readonly knownBy = new Map<string, Map<string, bigint>>()
  private readonly outboxes = new Map<string, Outbox>()
  private readonly penalties = new Map<string, { points: number, at: number }>()
  private readonly buckets = new Map<string, { tokens: number, at: number }>()
  private readonly counters: NetworkMapStats = { bytesSent: 0, bytesReceived: 0, recordsAccepted: 0, recordsRejected: 0 }
  private seq = 0n
  private started = false
  private topologyId?: string
  private publishTimer?: ReturnType<typeof setTimeout>
  private refreshTimer?: ReturnType<typeof setTimeout>
  private sweepTimer?: ReturnType<typeof setInterval>
  private publishing: Promise<void> = Promise.resolve()
  private shutdownController = new AbortController()

  constructor (components: NetworkMapComponents, init: NetworkMapInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('membrane:network-map')
    this.self = components.peerId.toString()
    this.alias = init.alias
    this.roles = init.roles ?? []
    this.announceAddresses = init.announceAddresses ?? true
    this.recordTtl = init.recordTtl ?? DEFAULT_RECORD_TTL
    this.maxRecordTtl = Math.max(init.maxRecordTtl ?? DEFAULT_MAX_RECORD_TTL, this.recordTtl)
    this.publishDelay = init.publishDelay ?? DEFAULT_PUBLISH_DELAY
    this.floodDelay = init.floodDelay ?? DEFAULT_FLOOD_DELAY
    this.unreachableTimeout = init.unreachableTimeout ?? DEFAULT_UNREACHABLE_TIMEOUT
    this.maxRecordSize = init.maxRecordSize ?? MAX_RECORD_SIZE
    this.maxNeighbours = init.maxNeighbours ?? MAX_NEIGHBOURS
    this.maxNodes = init.maxNodes ?? MAX_NODES
    this.maxFrameSize = init.maxFrameSize ?? MAX_FRAME_SIZE
    this.timeout = init.timeout ?? DEFAULT_TIMEOUT
    this.goodbyeTimeout = init.goodbyeTimeout ?? DEFAULT_GOODBYE_TIMEOUT
    this.maxRecordsPerSecond = init.maxRecordsPerSecond ?? DEFAULT_MAX_RECORDS_PER_SECOND
    this.recordBurst = init.recordBurst ?? DEFAULT_RECORD_BURST
    this.penaltyThreshold = init.penaltyThreshold ?? DEFAULT_PENALTY_THRESHOLD
    this.maxInboundStreams = init.maxInboundStreams ?? MAX_INBOUND_STREAMS
    this.maxOutboundStreams = init.maxOutboundStreams ?? MAX_OUTBOUND_STREAMS
    this.linkKind = init.linkKind ?? defaultLinkKind

    if (!(this.recordTtl > 0)) {
      throw new RangeError(`recordTtl must be positive, got ${this.recordTtl}`)
    }
    if (this.alias != null && this.alias.length > MAX_ALIAS_LENGTH) {
      throw new RangeError(`alias is longer than ${MAX_ALIAS_LENGTH} characters`)
    }
    if (this.roles.length > MAX_ROLES || this.roles.some(r => r.length > MAX_ROLE_LENGTH)) {
      throw new RangeError(`at most ${MAX_ROLES} roles of at most ${MAX_ROLE_LENGTH} characters`)
    }

    this.handleStream = this.handleStream.bind(this)
    this.onConnectionChange = this.onConnectionChange.bind(this)
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/network-map'
  readonly [serviceCapabilities]: string[] = ['@membrane/network-map']
  readonly [serviceDependencies]: string[] = ['@libp2p/identify']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    setMaxListeners(Infinity, this.shutdownController.signal)
    await this.components.registrar.handle(PROTOCOL, this.handleStream, {
      maxInboundStreams: this.maxInboundStreams,
      maxOutboundStreams: this.maxOutboundStreams,
      runOnLimitedConnection: true
    })
    this.topologyId = await this.components.registrar.register(PROTOCOL, {
      notifyOnLimitedConnection: true,
      onConnect: (peer, connection) => { this.onLink(peer, connection) },
      onDisconnect: (peer) => { this.onUnlink(peer) }
    })
    this.components.events.addEventListener('connection:open', this.onConnectionChange)
    this.components.events.addEventListener('connection:close', this.onConnectionChange)
    this.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
    this.sweepTimer = setInterval(() => { this.sweep() }, Math.max(50, Math.min(1000, this.recordTtl / 4, this.unreachableTimeout / 4)))
    this.started = true
    await this.republish()
  }

  /** Announce departure while connections are still open */
  async beforeStop (): Promise<void> {
    if (!this.started) {
      return
    }
    this.started = false
    clearTimeout(this.publishTimer)
    clearTimeout(this.refreshTimer)
    try {
      await this.publishing
      const goodbye = await this.issue(true)
      const signal = AbortSignal.timeout(this.goodbyeTimeout)
      setMaxListeners(Infinity, signal)
      await Promise.allSettled([...this.links.values()].map(async peer => this.send(peer, [goodbye], signal)))
    } catch (err) {
      this.log.error('could not announce departure - %e', err)
    }
  }

  async stop (): Promise<void> {
    this.started = false
    this.shutdownController.abort()
    clearTimeout(this.publishTimer)
    clearTimeout(this.refreshTimer)
    clearInterval(this.sweepTimer)
    for (const outbox of this.outboxes.values()) {
      clearTimeout(outbox.timer)
    }
    this.components.events.removeEventListener('connection:open', this.onConnectionChange)
    this.components.events.removeEventListener('connection:close', this.onConnectionChange)
    this.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
    if (this.topologyId != null) {
      this.components.registrar.unregister(this.topologyId)
    }
    await this.components.registrar.unhandle(PROTOCOL)
    this.records.clear()
    this.adjacency.clear()
    this.links.clear()
    this.knownBy.clear()
    this.outboxes.clear()
    this.buckets.clear()
  }

  // --- public API ---

  get size (): number {
    let n = 0
    for (const r of this.records.values()) {
      if (r.state === 'live') { n++ }
    }
    return n
  }

  nodes (): MapNode[] {
    return [...this.records.values()].filter(r => r.state === 'live').map(r => r.node)
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

  get (peerId: PeerId): MapNode | undefined {
    const r = this.records.get(peerId.toString())
    return r?.state === 'live' ? r.node : undefined
  }

  neighbours (peerId: PeerId): PeerId[] {
    return [...(this.adjacency.get(peerId.toString())?.keys() ?? [])].map(k => this.records.get(k)!.node.id)
  }

  path (to: PeerId, options: PathOptions = {}): PeerId[] | undefined {
    if (!this.started) {
      throw new NotStartedError('the network map is not started')
    }
    const target = to.toString()
    if (target === this.self) {
      return [this.components.peerId]
    }
    if (this.records.get(target)?.state !== 'live') {
      return undefined
    }
    const excluded = new Set((options.exclude ?? []).map(String))
    excluded.delete(target)
    excluded.delete(this.self)
    const latency = options.weight === 'latency'
    // Dijkstra; with unit weights the first settle of `target` is a BFS shortest path
    const dist = new Map<string, number>([[this.self, 0]])
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
    while (keys[0] !== this.self) {
      keys.unshift(prev.get(keys[0])!)
    }
    return keys.map(k => k === this.self ? this.components.peerId : this.records.get(k)!.node.id)
  }

  penalty (peerId: PeerId): number {
    return this.currentPenalty(peerId.toString())
  }

  stats (): NetworkMapStats {
    return { ...this.counters }
  }

  // --- our own record ---

  private onConnectionChange (evt: CustomEvent<Connection>): void {
    if (this.links.has(evt.detail.remotePeer.toString())) {
      this.schedulePublish()
    }
  }

  private onSelfUpdate (): void {
    if (this.announceAddresses) {
      this.schedulePublish()
    }
  }

  private schedulePublish (): void {
    if (!this.started || this.publishTimer != null) {
      return
    }
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined
      void this.republish()
    }, this.publishDelay)
  }

  /** Issue, store and flood a new record of ours; serialised so sequence numbers stay ordered */
  private async republish (): Promise<void> {
    this.publishing = this.publishing.then(async () => {
      if (!this.started) {
        return
      }
      const stored = await this.issue(false)
      this.store(stored, undefined)
      clearTimeout(this.refreshTimer)
      this.refreshTimer = setTimeout(() => { void this.republish() }, this.recordTtl / 2)
    }).catch(err => {
      this.log.error('could not publish our record - %e', err)
    })
    return this.publishing
  }

  private currentNeighbours (): NetmapRecord.Neighbour[] {
    const neighbours: Array<NetmapRecord.Neighbour & { rank: number }> = []
    for (const peer of this.links.values()) {
      let kind: LinkKind | undefined
      let rtt: number | undefined
      for (const connection of this.components.connectionManager.getConnections(peer)) {
        if (connection.status !== 'open') { continue }
        const k = this.linkKind(connection)
        if (k != null && (kind == null || KIND_RANK[k] < KIND_RANK[kind])) { kind = k }
        if (connection.rtt != null && Number.isFinite(connection.rtt) && (rtt == null || connection.rtt < rtt)) { rtt = Math.round(connection.rtt) }
      }
      if (kind != null) {
        neighbours.push({ peerId: peer.toMultihash().bytes, kind: KIND_TO_PB[kind], rtt, rank: KIND_RANK[kind] * 1e6 + (rtt ?? UNMEASURED_RTT) })
      }
    }
    return neighbours.sort((a, b) => a.rank - b.rank).slice(0, this.maxNeighbours).map(({ rank: _rank, ...n }) => n)
  }

  private async issue (departing: boolean): Promise<StoredRecord> {
    const now = Date.now()
    this.seq = this.seq + 1n > BigInt(now) ? this.seq + 1n : BigInt(now)
    const multiaddrs = this.announceAddresses && !departing
      ? this.components.addressManager.getAddresses().map(ma => ma.decapsulateCode(CODE_P2P).bytes).slice(0, MAX_MULTIADDRS)
      : []
    const record: NetmapRecord = {
      peerId: this.components.peerId.toMultihash().bytes,
      seq: this.seq,
      expires: BigInt(now + this.recordTtl),
      neighbours: departing ? [] : this.currentNeighbours(),
      alias: this.alias,
      roles: this.roles,
      multiaddrs,
      departing
    }
    let envelope = (await RecordEnvelope.seal(new NetmapSignedRecord(NetmapRecord.encode(record)), this.components.privateKey)).marshal()
    while (envelope.byteLength > this.maxRecordSize && record.neighbours.length > 0) {
      // many addresses crowd out neighbours: keep the best links that fit
      record.neighbours = record.neighbours.slice(0, Math.floor(record.neighbours.length * 0.8))
      envelope = (await RecordEnvelope.seal(new NetmapSignedRecord(NetmapRecord.encode(record)), this.components.privateKey)).marshal()
    }
    return this.toStored(this.components.peerId, record, envelope, now + this.recordTtl)
  }

  // --- the map ---

  private toStored (id: PeerId, record: NetmapRecord, envelope: Uint8Array, expires: number): StoredRecord {
    const key = id.toString()
    const claims = new Map<string, MapNeighbour>()
    for (const n of record.neighbours) {
      const nid = peerIdFromMultihash(Digest.decode(n.peerId))
      const nkey = nid.toString()
      if (nkey !== key) {
        claims.set(nkey, { id: nid, kind: PB_TO_KIND[n.kind] ?? 'direct', ...(n.rtt != null ? { rtt: n.rtt } : {}) })
      }
    }
    const node: MapNode = {
      id,
      seq: record.seq,
      expires,
      ...(record.alias != null ? { alias: record.alias } : {}),
      roles: record.roles,
      multiaddrs: record.multiaddrs.map(bytes => multiaddr(bytes)),
      neighbours: [...claims.values()]
    }
    return { key, seq: record.seq, expires, envelope, node, claims, state: record.departing ? 'departed' : 'live', acceptedAt: Date.now() }
  }

  /** Put a verified record in the map, emit what changed, flood it on */
  private store (stored: StoredRecord, from: PeerId | undefined): void {
    const prev = this.records.get(stored.key)
    const wasLive = prev?.state === 'live'
    stored.previousSeq = prev?.seq
    this.records.set(stored.key, stored)
    if (from != null) {
      this.known(from.toString()).set(stored.key, stored.seq)
    }
    if (stored.state === 'live') {
      this.safeDispatchEvent(wasLive ? 'node:update' : 'node:add', { detail: stored.node })
      this.updateEdges(stored.key)
    } else {
      this.updateEdges(stored.key)
      if (wasLive) {
        this.safeDispatchEvent('node:remove', { detail: prev.node })
      }
    }
    this.flood(stored, from)
  }

  /** Take a node out of the map (expired, unreachable) */
  private drop (stored: StoredRecord, state: 'pruned' | 'expired'): void {
    stored.state = 'pruned'
    this.updateEdges(stored.key)
    if (state === 'expired') {
      this.records.delete(stored.key)
    }
    this.safeDispatchEvent('node:remove', { detail: stored.node })
  }

  private isLive (key: string): boolean {
    return this.records.get(key)?.state === 'live'
  }

  /** Re-derive the two-sided edges at `key` after its record changed */
  private updateEdges (key: string): void {
    const record = this.records.get(key)
    const live = record?.state === 'live'
    const current = this.adjacency.get(key) ?? new Map<string, MapEdge>()
    const candidates = new Set([...current.keys(), ...(live ? record.claims.keys() : [])])
    for (const other of candidates) {
      const should = live && this.isLive(other) && record.claims.has(other) && this.records.get(other)!.claims.has(key)
      const edge = current.get(other)
      if (should) {
        // kind and RTT may change while the edge stays
        this.link(key, other, this.edge(key, other))
        if (edge == null) {
          this.safeDispatchEvent('edge:add', { detail: this.adjacency.get(key)!.get(other)! })
        }
      } else if (edge != null) {
        this.unlink(key, other)
        this.safeDispatchEvent('edge:remove', { detail: edge })
      }
    }
  }

  private link (a: string, b: string, edge: MapEdge): void {
    for (const [x, y] of [[a, b], [b, a]]) {
      let map = this.adjacency.get(x)
      if (map == null) {
        map = new Map()
        this.adjacency.set(x, map)
      }
      map.set(y, edge)
    }
  }

  private unlink (a: string, b: string): void {
    for (const [x, y] of [[a, b], [b, a]]) {
      const map = this.adjacency.get(x)
      map?.delete(y)
      if (map?.size === 0) {
        this.adjacency.delete(x)
      }
    }
  }

  private edge (a: string, b: string): MapEdge {
    const [from, to] = edgeKey(a, b)
    const fromRecord = this.records.get(from)!
    const toRecord = this.records.get(to)!
    const x = fromRecord.claims.get(to)
    const y = toRecord.claims.get(from)
    const kinds = [x?.kind ?? 'direct', y?.kind ?? 'direct']
    const kind = KIND_RANK[kinds[0]] >= KIND_RANK[kinds[1]] ? kinds[0] : kinds[1]
    const rtts = [x?.rtt, y?.rtt].filter((r): r is number => r != null)
    return {
      from: fromRecord.node.id,
      to: toRecord.node.id,
      kind,
      ...(rtts.length > 0 ? { rtt: rtts.reduce((s, r) => s + r, 0) / rtts.length } : {})
    }
  }

  /** Expire records, drop nodes no two-sided path reaches */
  private sweep (): void {
    const now = Date.now()
    for (const stored of [...this.records.values()]) {
      if (stored.key !== this.self && stored.expires <= now) {
        if (stored.state === 'live') {
          this.drop(stored, 'expired')
        } else {
          this.records.delete(stored.key)
        }
      }
    }
    // reachability over two-sided claims of live and pruned records, so a pruned node comes back when a path to it appears
    const reached = new Set<string>([this.self])
    const queue = [this.self]
    while (queue.length > 0) {
      const key = queue.pop()!
      for (const next of this.records.get(key)?.claims.keys() ?? []) {
        const other = this.records.get(next)
        if (!reached.has(next) && other != null && other.state !== 'departed' && other.claims.has(key)) {
          reached.add(next)
          queue.push(next)
        }
      }
    }
    for (const stored of [...this.records.values()]) {
      if (stored.state === 'departed') {
        continue
      }
      if (reached.has(stored.key)) {
        stored.unreachableSince = undefined
        if (stored.state === 'pruned') {
          stored.state = 'live'
          this.safeDispatchEvent('node:add', { detail: stored.node })
          this.updateEdges(stored.key)
        }
        continue
      }
      if (stored.state === 'live') {
        stored.unreachableSince ??= now
        if (now - stored.unreachableSince >= this.unreachableTimeout) {
          this.log('dropping unreachable %s', stored.key)
          this.drop(stored, 'pruned')
        }
      }
    }
    for (const [key, p] of this.penalties) {
      if (this.currentPenalty(key) < 0.1 && now - p.at > PENALTY_HALF_LIFE) {
        this.penalties.delete(key)
      }
    }
  }

  // --- neighbours ---

  private onLink (peer: PeerId, connection: Connection): void {
    const key = peer.toString()
    if (!this.started) {
      return
    }
    if (this.isRefused(key)) {
      this.disconnect(peer)
      return
    }
    if (!this.links.has(key)) {
      this.links.set(key, peer)
      this.schedulePublish()
      // the dialer runs the sync so one exchange covers both directions
      if (connection.direction === 'outbound') {
        void this.sync(peer, connection)
      } else if (this.knownBy.has(key)) {
        // it synced with us before we saw it as a link: send what changed since
        for (const stored of this.records.values()) {
          this.flood(stored, undefined, key)
        }
      }
    } else {
      this.schedulePublish()
    }
  }

  private onUnlink (peer: PeerId): void {
    const key = peer.toString()
    if (this.links.delete(key)) {
      this.knownBy.delete(key)
      const outbox = this.outboxes.get(key)
      clearTimeout(outbox?.timer)
      this.outboxes.delete(key)
      this.buckets.delete(key)
      this.schedulePublish()
    }
  }

  /** The neighbour holds at least `seq` of `key`'s record */
  private noteKnown (peerKey: string, key: string, seq: bigint): void {
    const known = this.known(peerKey)
    if ((known.get(key) ?? -1n) < seq) {
      known.set(key, seq)
    }
  }

  private known (peerKey: string): Map<string, bigint> {
    let known = this.knownBy.get(peerKey)
    if (known == null) {
      known = new Map()
      this.knownBy.set(peerKey, known)
    }
    return known
  }

  // --- flooding ---

  private flood (stored: StoredRecord, from: PeerId | undefined, only?: string): void {
    if (stored.state === 'pruned') {
      return
    }
    const fromKey = from?.toString()
    for (const [key, peer] of this.links) {
      if ((only != null && key !== only) || key === fromKey || key === stored.key || (this.knownBy.get(key)?.get(stored.key) ?? -1n) >= stored.seq) {
        continue
      }
      let outbox = this.outboxes.get(key)
      if (outbox == null) {
        outbox = { peer, records: new Map(), sending: false }
        this.outboxes.set(key, outbox)
      }
      outbox.records.set(stored.key, stored)
      this.scheduleFlush(key, outbox)
    }
  }

  private scheduleFlush (key: string, outbox: Outbox): void {
    if (outbox.timer != null || outbox.sending || !this.started) {
      return
    }
    outbox.timer = setTimeout(() => {
      outbox.timer = undefined
      void this.flush(key, outbox)
    }, this.floodDelay)
  }

  private async flush (key: string, outbox: Outbox): Promise<void> {
    const known = this.known(key)
    const batch = [...outbox.records.values()].filter(r => this.records.get(r.key) === r && (known.get(r.key) ?? -1n) < r.seq)
    outbox.records.clear()
    if (batch.length === 0 || !this.links.has(key)) {
      return
    }
    outbox.sending = true
    for (const r of batch) {
      known.set(r.key, r.seq)
    }
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeout), this.shutdownController.signal])
    setMaxListeners(Infinity, signal)
    try {
      await this.send(outbox.peer, batch, signal)
    } catch (err) {
      this.log('could not push %d records to %p - %e', batch.length, outbox.peer, err)
      // let the next change or the sync on reconnection repair it
      for (const r of batch) {
        if (known.get(r.key) === r.seq) { known.delete(r.key) }
      }
    } finally {
      outbox.sending = false
      if (outbox.records.size > 0) {
        this.scheduleFlush(key, outbox)
      }
    }
  }

  private connectionTo (peer: PeerId): Connection | undefined {
    const open = this.components.connectionManager.getConnections(peer).filter(c => c.status === 'open')
    return open.find(c => c.limits == null) ?? open[0]
  }

  /** Push records to one neighbour on a fresh stream */
  private async send (peer: PeerId, records: StoredRecord[], signal: AbortSignal): Promise<void> {
    const connection = this.connectionTo(peer)
    if (connection == null) {
      return
    }
    const stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
    try {
      const lp = lpStream(stream, { maxDataLength: this.maxFrameSize })
      await this.writeRecords(lp, NetmapMessage.Type.PUSH, records.map(r => r.envelope), [], signal)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  private async write (lp: LengthPrefixedStream<Stream>, message: NetmapMessage, signal: AbortSignal): Promise<void> {
    const bytes = NetmapMessage.encode(message)
    this.counters.bytesSent += bytes.byteLength
    await lp.write(bytes, { signal })
  }

  /** Write envelopes in as many frames as the frame size needs; `want` rides on the last */
  private async writeRecords (lp: LengthPrefixedStream<Stream>, type: NetmapMessage.Type, envelopes: Uint8Array[], want: Bytes[], signal: AbortSignal): Promise<void> {
    const budget = this.maxFrameSize - 1024 - want.reduce((s, w) => s + w.byteLength + 2, 0)
    let frame: Bytes[] = []
    let size = 0
    for (const envelope of envelopes) {
      if (frame.length > 0 && size + envelope.byteLength + 4 > budget) {
        await this.write(lp, { type, digest: [], records: frame, want: [], more: true }, signal)
        frame = []
        size = 0
      }
      frame.push(envelope as Bytes)
      size += envelope.byteLength + 4
    }
    await this.write(lp, { type, digest: [], records: frame, want, more: false }, signal)
  }

  private async read (lp: LengthPrefixedStream<Stream>, signal: AbortSignal): Promise<NetmapMessage> {
    let bytes
    try {
      bytes = await lp.read({ signal })
    } catch (err) {
      if ((err as Error).name === 'InvalidDataLengthError') {
        throw new FrameTooLargeError(`frame exceeds ${this.maxFrameSize} bytes`)
      }
      if ((err as Error).name === 'InvalidDataLengthLengthError') {
        throw new FrameTooLargeError('frame length prefix too long')
      }
      throw err
    }
    this.counters.bytesReceived += bytes.byteLength
    try {
      return NetmapMessage.decode(bytes, { limits: { digest: this.maxNodes, records: this.maxNodes, want: this.maxNodes } })
    } catch (err) {
      throw new MalformedFrameError(`invalid frame - ${(err as Error).message}`)
    }
  }

  // --- anti-entropy on connect ---

  private digest (): NetmapMessage['digest'] {
    return [...this.records.values()].map(r => ({ peerId: r.node.id.toMultihash().bytes, seq: r.seq }))
  }

  /** Initiator: send our digest, take what the peer has newer, give what it wants */
  private async sync (peer: PeerId, connection: Connection): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeout), this.shutdownController.signal])
    setMaxListeners(Infinity, signal)
    let stream: Stream | undefined
    try {
      stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
      const lp = lpStream(stream, { maxDataLength: this.maxFrameSize })
      await this.write(lp, { type: NetmapMessage.Type.SYNC, digest: this.digest(), records: [], want: [], more: false }, signal)
      let want: Bytes[] = []
      let received = 0
      while (true) {
        const frame = await this.read(lp, signal)
        received += frame.records.length
        if (received > this.maxNodes) {
          throw new MalformedFrameError(`sync reply carries more than ${this.maxNodes} records`)
        }
        await this.acceptAll(peer, frame.records)
        if (!frame.more) {
          want = frame.want
          break
        }
      }
      if (want.length > 0) {
        const envelopes: Uint8Array[] = []
        const known = this.known(peer.toString())
        for (const id of want.slice(0, this.maxNodes)) {
          const stored = this.records.get(uint8ArrayToString(id, 'base58btc'))
          if (stored != null && stored.state !== 'pruned') {
            envelopes.push(stored.envelope)
            known.set(stored.key, stored.seq)
          }
        }
        await this.writeRecords(lp, NetmapMessage.Type.PUSH, envelopes, [], signal)
      }
      await stream.close({ signal })
    } catch (err) {
      this.log('sync with %p failed - %e', peer, err)
      stream?.abort(err as Error)
      this.offence(peer, err as Error)
    }
  }

  /** Responder side of a sync, or a push */
  private async handleStream (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    if (this.isRefused(peer.toString())) {
      stream.abort(new RecordRateLimitError('peer is refused for repeated offences'))
      this.disconnect(peer)
      return
    }
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeout), this.shutdownController.signal])
    setMaxListeners(Infinity, signal)
    try {
      const lp = lpStream(stream, { maxDataLength: this.maxFrameSize })
      const first = await this.read(lp, signal)
      if (first.type === NetmapMessage.Type.SYNC) {
        await this.answerSync(peer, lp, first, signal)
      } else {
        let frame = first
        let received = 0
        while (true) {
          received += frame.records.length
          if (received > this.maxNodes) {
            throw new MalformedFrameError(`push carries more than ${this.maxNodes} records`)
          }
          this.spend(peer, frame.records.length)
          await this.acceptAll(peer, frame.records)
          if (!frame.more) { break }
          frame = await this.read(lp, signal)
        }
      }
      await stream.close({ signal })
    } catch (err) {
      this.log('stream from %p failed - %e', peer, err)
      stream.abort(err as Error)
      this.offence(peer, err as Error)
    }
  }

  private async answerSync (peer: PeerId, lp: LengthPrefixedStream<Stream>, request: NetmapMessage, signal: AbortSignal): Promise<void> {
    const theirs = new Map<string, bigint>()
    const known = this.known(peer.toString())
    for (const entry of request.digest) {
      const key = uint8ArrayToString(entry.peerId, 'base58btc')
      theirs.set(key, entry.seq)
      this.noteKnown(peer.toString(), key, entry.seq)
    }
    const envelopes: Uint8Array[] = []
    for (const stored of this.records.values()) {
      if (stored.state !== 'pruned' && (theirs.get(stored.key) ?? -1n) < stored.seq) {
        envelopes.push(stored.envelope)
        known.set(stored.key, stored.seq)
      }
    }
    const want: Bytes[] = []
    const wanted = new Set<string>()
    for (const [key, seq] of theirs) {
      if (key !== this.self && (this.records.get(key)?.seq ?? -1n) < seq && want.length < this.maxNodes) {
        want.push(request.digest.find(e => uint8ArrayToString(e.peerId, 'base58btc') === key)!.peerId)
        wanted.add(key)
      }
    }
    await this.writeRecords(lp, NetmapMessage.Type.PUSH, envelopes, want, signal)
    if (want.length === 0) {
      return
    }
    let received = 0
    while (true) {
      const frame = await this.read(lp, signal)
      received += frame.records.length
      if (received > want.length) {
        throw new UnexpectedRecordError('sync answer carries more records than were asked for')
      }
      await this.acceptAll(peer, frame.records, wanted)
      if (!frame.more) { break }
    }
  }

  // --- validation ---

  private async acceptAll (from: PeerId, envelopes: Uint8Array[], wanted?: Set<string>): Promise<void> {
    for (const envelope of envelopes) {
      try {
        await this.accept(from, envelope, wanted)
      } catch (err) {
        this.offence(from, err as Error)
      }
    }
  }

  /** Verify one signed record; store it when newer. Throws a typed error otherwise */
  private async accept (from: PeerId, bytes: Uint8Array, wanted?: Set<string>): Promise<void> {
    if (bytes.byteLength > this.maxRecordSize) {
      throw new RecordTooLargeError(`record of ${bytes.byteLength} bytes exceeds ${this.maxRecordSize}`)
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
      record = NetmapRecord.decode(envelope.payload, { limits: { neighbours: this.maxNeighbours, roles: MAX_ROLES, multiaddrs: MAX_MULTIADDRS } })
    } catch (err) {
      if (err instanceof MaxLengthError) {
        throw new InvalidRecordError(`record exceeds a field limit - ${err.message}`)
      }
      throw new MalformedRecordError(`invalid record payload - ${(err as Error).message}`)
    }
    const key = uint8ArrayToString(record.peerId, 'base58btc')
    if (wanted != null && !wanted.has(key)) {
      throw new UnexpectedRecordError(`record about ${key} was not asked for`)
    }
    // most records arrive several times over; drop copies before any key parsing or signature check
    const existing = this.records.get(key)
    if (existing != null && record.seq === existing.seq) {
      this.noteKnown(from.toString(), key, record.seq)
      return
    }
    if (existing != null && record.seq < existing.seq) {
      const error = new StaleRecordError(`record ${record.seq} about ${key} is older than ${existing.seq}`)
      // under churn a record is re-issued every publishDelay, so several versions race through the floods at once
      const race = (record.seq === existing.previousSeq && Date.now() - existing.acceptedAt < STALE_GRACE) || existing.seq - record.seq <= BigInt(STALE_RACE_WINDOW)
      throw race ? Object.assign(error, { excused: true }) : error
    }
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
    if (key === this.self) {
      // copies of our own records are expected; a newer one means an earlier run of ours: outdate it
      if (record.seq >= this.seq && await signed.validate(RECORD_DOMAIN)) {
        this.seq = record.seq
        void this.republish()
      }
      return
    }
    const now = Date.now()
    if (Number(record.expires) <= now) {
      throw new ExpiredRecordError(`record about ${key} expired`)
    }
    if (record.alias != null && record.alias.length > MAX_ALIAS_LENGTH) {
      throw new InvalidRecordError(`alias longer than ${MAX_ALIAS_LENGTH}`)
    }
    if (record.roles.some(r => r.length > MAX_ROLE_LENGTH)) {
      throw new InvalidRecordError(`role longer than ${MAX_ROLE_LENGTH}`)
    }
    if (existing == null && this.size >= this.maxNodes) {
      throw new MapFullError(`already tracking ${this.maxNodes} nodes`)
    }
    if (!await signed.validate(RECORD_DOMAIN)) {
      throw new RecordSignatureError(`bad signature on record about ${key}`)
    }
    let stored: StoredRecord
    try {
      stored = this.toStored(subject, record, bytes, Math.min(Number(record.expires), now + this.maxRecordTtl))
    } catch (err) {
      throw new MalformedRecordError(`invalid neighbour or address - ${(err as Error).message}`)
    }
    // another stream may have stored a newer copy while we verified
    if ((this.records.get(key)?.seq ?? -1n) >= record.seq || !this.started) {
      return
    }
    this.counters.recordsAccepted++
    this.store(stored, from)
  }

  // --- penalties ---

  private spend (peer: PeerId, count: number): void {
    const key = peer.toString()
    const now = Date.now()
    const bucket = this.buckets.get(key) ?? { tokens: this.recordBurst, at: now }
    bucket.tokens = Math.min(this.recordBurst, bucket.tokens + (now - bucket.at) / 1000 * this.maxRecordsPerSecond)
    bucket.at = now
    this.buckets.set(key, bucket)
    if (bucket.tokens < count) {
      throw new RecordRateLimitError(`${peer} pushed records faster than ${this.maxRecordsPerSecond}/s`)
    }
    bucket.tokens -= count
  }

  private currentPenalty (key: string): number {
    const p = this.penalties.get(key)
    return p == null ? 0 : p.points * Math.pow(0.5, (Date.now() - p.at) / PENALTY_HALF_LIFE)
  }

  private isRefused (key: string): boolean {
    return this.currentPenalty(key) >= this.penaltyThreshold
  }

  /** Record a rejection; disconnect the sender once its points reach the threshold */
  private offence (peer: PeerId, error: Error): void {
    const listed = OFFENCE_POINTS[error.name]
    const stalled = error instanceof TimeoutError || error.name === 'TimeoutError'
    if (listed == null && !stalled) {
      // transport trouble (resets, closes, our own shutdown) is not the peer's offence
      return
    }
    const points = (error as Error & { excused?: boolean }).excused === true ? 0 : (listed ?? 1)
    this.counters.recordsRejected++
    this.log('rejected input from %p (%d points) - %e', peer, points, error)
    this.safeDispatchEvent('record:reject', { detail: { from: peer, error } })
    if (points === 0) {
      return
    }
    const key = peer.toString()
    const before = this.currentPenalty(key)
    this.penalties.set(key, { points: before + points, at: Date.now() })
    if (before < this.penaltyThreshold && before + points >= this.penaltyThreshold) {
      this.log('disconnecting %p after repeated offences', peer)
      this.disconnect(peer)
    }
  }

  private disconnect (peer: PeerId): void {
    this.onUnlink(peer)
    this.components.connectionManager.closeConnections(peer).catch(err => {
      this.log('could not close connections to %p - %e', peer, err)
    })
  }
}
