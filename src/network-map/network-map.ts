import { NotStartedError, TimeoutError, TypedEventEmitter, serviceCapabilities, serviceDependencies, setMaxListeners } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { CODE_P2P } from '@multiformats/multiaddr'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { LINK_KIND_RANK, bestConnection, linkKind } from '../utils/connections.js'
import {
  DEFAULT_FLOOD_DELAY, DEFAULT_GOODBYE_TIMEOUT, DEFAULT_LINK_PROBE_DELAY, DEFAULT_LOST_TIMEOUT, DEFAULT_MAX_RECORD_TTL, DEFAULT_MAX_RECORDS_PER_SECOND, DEFAULT_PENALTY_THRESHOLD,
  DEFAULT_PUBLISH_BURST, DEFAULT_PUBLISH_DELAY, DEFAULT_PUBLISH_INTERVAL, DEFAULT_RECORD_BURST, DEFAULT_RECORD_TTL, DEFAULT_STREAM_TIMEOUT, DEFAULT_UNREACHABLE_TIMEOUT, MAX_ALIAS_LENGTH,
  DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_MAX_FRAME_SIZE, MAX_MULTIADDRS, DEFAULT_MAX_NEIGHBOURS, DEFAULT_MAX_NODES, DEFAULT_MAX_OUTBOUND_STREAMS, DEFAULT_MAX_RECORD_SIZE,
  LEGACY_PROTOCOL, MAX_PUBLISH_HOLD, MAX_QUEUED_BYTES, MAX_ROLE_LENGTH, MAX_ROLES, OFFENCE_POINTS, PENALTY_HALF_LIFE, PROTOCOL, PUBLISH_LATE, UNMEASURED_RTT, channelIdleTimeout, refreshDelay,
  DEFAULT_RESYNC_INTERVAL, BOOTSTRAP_WAIT, DELTA_HOLD, DELTA_PROTOCOL, resyncDelay
} from './constants.js'
import { applyDelta, decodeDelta, makeDelta } from './delta.js'
import { ChannelFullError, MalformedRecordError, MapFullError, RecordRateLimitError, RecordSignatureError, StaleRecordError, UnexpectedRecordError } from './errors.js'
import { Channel, openingFrame, readChannel, rootFrame } from './channel.js'
import { Flooder } from './flooder.js'
import { NetmapMessage, NetmapRecord } from './pb/netmap.js'
import { Penalties } from './penalties.js'
import { RecordStore, kindToPb, sameClaims, storedRecord } from './record-store.js'
import { hashOf, inScope } from './summary.js'
import { answerSync, push, readFrame, receivePush, recordFrames, runSync } from './sync.js'
import { checkFields, decodeRecord, sealRecord, signerOf, verifySignature } from './validate.js'
import type { StoredDelta } from './delta.js'
import { operationDeadline, timeoutSignal } from '../utils/timeout-signal.js'
import { varint } from '../utils/length-prefix.js'
import type { Deadline } from '../utils/timeout-signal.js'
import type { LinkKind, MapEdge, MapNode, NetworkMap, NetworkMapComponents, NetworkMapEvents, NetworkMapInit, NetworkMapStats, PathOptions, PathResult } from './index.js'
import type { Emit, StoredRecord } from './record-store.js'
import type { ChannelContext } from './channel.js'
import type { SyncContext } from './sync.js'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'

/**
 * The map's default classification: the shared link kind, except that a mesh
 * circuit with `limits` is a signaling circuit (it lives only while WebRTC is
 * set up over it), never a link a path may use
 */
export function defaultLinkKind (connection: Connection): LinkKind | undefined {
  const kind = linkKind(connection)
  return kind === 'circuit' && connection.limits != null ? undefined : kind
}

type Counters = Omit<NetworkMapStats, 'recordsHeld' | 'nodesMissing'>

/**
 * The network map service: it issues our own record, feeds verified records
 * into the {@link RecordStore}, floods them through the {@link Flooder},
 * serves the wire flows of `./sync.js` and keeps score in {@link Penalties}.
 */
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
  private readonly publishInterval: number
  private readonly publishBurst: number
  /** Link-caused re-issues we may make now (a token bucket of `publishBurst`, one back per `publishInterval`), as of `tokensAt` */
  private publishTokens = 0
  private tokensAt = 0
  /** When the pending link-caused re-issue was first due, while it is held because its timer fired late */
  private heldSince?: number
  private readonly maxRecordSize: number
  private readonly maxNeighbours: number
  private readonly maxNodes: number
  private readonly maxFrameSize: number
  private readonly streamTimeout: number
  private readonly goodbyeTimeout: number
  private readonly linkProbeDelay: number
  /** Probes of connections identify may never name, by connection id */
  private readonly probes = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly maxInboundStreams: number
  private readonly maxOutboundStreams: number
  private readonly linkKind: (connection: Connection) => LinkKind | undefined

  private readonly store: RecordStore
  private readonly flooder: Flooder
  private readonly penalties: Penalties
  private readonly counters: Counters = { bytesSent: 0, bytesReceived: 0, recordsAccepted: 0, recordsRejected: 0, recordsIssued: 0, reissuesSkipped: 0, refreshBytesSent: 0, reissuesHeld: 0, streamsRefused: 0, streamsOpened: 0, resyncsSent: 0, deltasSent: 0, deltasUnmatched: 0 }
  /** Nodes refused because the map was full, with the expiry of the record refused: the map is partial while any is left */
  private readonly missing = new Map<string, number>()
  /** Our 2.0.0 stream to each neighbour (and to a peer we answer) */
  private readonly channels = new Map<string, Channel>()
  /** Neighbours that do not speak 2.0.0: they get 1.0.0 streams */
  private readonly legacy = new Set<string>()
  /** The bootstrap sync in progress, if any (`startBootstrap()`) */
  private bootstrap?: { key: string, wait(key: string): Promise<void>, resolve(): void }
  /** When the sweep next drops the deltas of versions older than DELTA_HOLD (a later neighbour syncs whole records) */
  private deltaSweepAt = 0
  /** Records we asked each peer for (SYNC, want), which its push budget does not pay for */
  private readonly allowances = new Map<string, number>()
  private readonly idleTimeout: number
  private seq = 0n
  private started = false
  private readonly topologyIds: string[] = []
  private publishTimer?: ReturnType<typeof setTimeout>
  private refreshTimer?: ReturnType<typeof setTimeout>
  private sweepTimer?: ReturnType<typeof setInterval>
  private resyncTimer?: ReturnType<typeof setTimeout>
  private readonly resyncInterval: number
  private readonly recordDeltas: boolean
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
    this.publishInterval = init.publishInterval ?? DEFAULT_PUBLISH_INTERVAL
    this.publishBurst = Math.max(1, init.publishBurst ?? DEFAULT_PUBLISH_BURST)
    this.maxRecordSize = init.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE
    this.maxNeighbours = init.maxNeighbours ?? DEFAULT_MAX_NEIGHBOURS
    this.maxNodes = init.maxNodes ?? DEFAULT_MAX_NODES
    this.maxFrameSize = init.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    this.streamTimeout = init.streamTimeout ?? init.timeout ?? DEFAULT_STREAM_TIMEOUT
    this.goodbyeTimeout = init.goodbyeTimeout ?? DEFAULT_GOODBYE_TIMEOUT
    this.linkProbeDelay = init.linkProbeDelay ?? DEFAULT_LINK_PROBE_DELAY
    this.maxInboundStreams = init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS
    this.maxOutboundStreams = init.maxOutboundStreams ?? DEFAULT_MAX_OUTBOUND_STREAMS
    this.linkKind = init.linkKind ?? defaultLinkKind
    this.idleTimeout = init.idleTimeout ?? channelIdleTimeout(this.recordTtl)
    this.resyncInterval = init.resyncInterval ?? DEFAULT_RESYNC_INTERVAL
    this.recordDeltas = init.recordDeltas ?? true
    const unreachableTimeout = init.unreachableTimeout ?? DEFAULT_UNREACHABLE_TIMEOUT
    const lostTimeout = init.lostTimeout ?? DEFAULT_LOST_TIMEOUT

    if (!(this.recordTtl > 0)) {
      throw new RangeError(`recordTtl must be positive, got ${this.recordTtl}`)
    }
    if (!(this.resyncInterval > 0)) {
      throw new RangeError(`resyncInterval must be positive, got ${this.resyncInterval}`)
    }
    if (this.alias != null && this.alias.length > MAX_ALIAS_LENGTH) {
      throw new RangeError(`alias is longer than ${MAX_ALIAS_LENGTH} characters`)
    }
    if (this.roles.length > MAX_ROLES || this.roles.some(r => r.length > MAX_ROLE_LENGTH)) {
      throw new RangeError(`at most ${MAX_ROLES} roles of at most ${MAX_ROLE_LENGTH} characters`)
    }

    const emit: Emit = (type, detail) => { this.safeDispatchEvent(type, { detail }) }
    this.store = new RecordStore({ self: components.peerId, unreachableTimeout, lostTimeout, emit })
    this.flooder = new Flooder({
      floodDelay: init.floodDelay ?? DEFAULT_FLOOD_DELAY,
      send: async (peer, records, held) => {
        // a version the neighbour holds the base of goes as a delta, when it reads them
        const deltas = this.channels.get(peer.toString())?.readsDeltas === true
        const wire = records.map((r, i) => deltas && r.delta != null && r.delta.base === held[i] ? r.delta.bytes : undefined)
        const sent = wire.filter(d => d != null)
        if (await this.send(peer, records.filter((_, i) => wire[i] == null).map(r => r.envelope), undefined, sent)) {
          this.counters.deltasSent += sent.length
          // each record or delta field of a frame: its tag, its length varint and the bytes
          this.counters.refreshBytesSent += records.reduce((s, r, i) => {
            const bytes = wire[i] ?? r.envelope
            return r.refresh === true ? s + 1 + varint(bytes.byteLength).byteLength + bytes.byteLength : s
          }, 0)
        }
      },
      isCurrent: (record) => this.store.record(record.key) === record,
      canonical: (key, seq) => this.store.canonical(key, seq),
      log: this.log
    })
    this.penalties = new Penalties({
      threshold: init.penaltyThreshold ?? DEFAULT_PENALTY_THRESHOLD,
      halfLife: PENALTY_HALF_LIFE,
      maxRecordsPerSecond: init.maxRecordsPerSecond ?? DEFAULT_MAX_RECORDS_PER_SECOND,
      recordBurst: init.recordBurst ?? DEFAULT_RECORD_BURST
    })
    this.sweepInterval = Math.max(50, Math.min(1000, this.recordTtl / 4, unreachableTimeout / 4, lostTimeout / 4))

    this.handleStream = this.handleStream.bind(this)
    this.handleChannel = this.handleChannel.bind(this)
    this.onConnectionChange = this.onConnectionChange.bind(this)
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
  }

  private readonly sweepInterval: number

  readonly [Symbol.toStringTag] = '@membrane/network-map'
  readonly [serviceCapabilities]: string[] = ['@membrane/network-map']
  readonly [serviceDependencies]: string[] = ['@libp2p/identify']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    setMaxListeners(Infinity, this.shutdownController.signal)
    const limits = { maxInboundStreams: this.maxInboundStreams, maxOutboundStreams: this.maxOutboundStreams, runOnLimitedConnection: true }
    await this.components.registrar.handle(PROTOCOL, this.handleChannel, limits)
    await this.components.registrar.handle(DELTA_PROTOCOL, this.handleChannel, limits)
    await this.components.registrar.handle(LEGACY_PROTOCOL, this.handleStream, limits)
    // a neighbour is linked by whichever protocol it speaks (a 2.0.0 peer speaks both: linked once)
    for (const protocol of [PROTOCOL, LEGACY_PROTOCOL]) {
      this.topologyIds.push(await this.components.registrar.register(protocol, {
        notifyOnLimitedConnection: true,
        onConnect: (peer, connection) => { this.onLink(peer, connection) },
        onDisconnect: (peer) => { this.onUnlink(peer) }
      }))
    }
    this.components.events.addEventListener('connection:open', this.onConnectionChange)
    this.components.events.addEventListener('connection:close', this.onConnectionChange)
    this.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
    this.sweepTimer = setInterval(() => { this.sweep() }, this.sweepInterval)
    this.flooder.start()
    this.started = true
    this.publishTokens = this.publishBurst
    this.tokensAt = Date.now()
    this.armResync()
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
    clearTimeout(this.resyncTimer)
    try {
      await this.publishing
      const goodbye = await this.issue(true)
      this.counters.recordsIssued++
      const signal = timeoutSignal(this.goodbyeTimeout)
      setMaxListeners(Infinity, signal)
      await Promise.allSettled([...this.flooder.peers()].map(async peer => {
        await this.send(peer, [goodbye.envelope], signal)
        await this.channels.get(peer.toString())?.close(signal)
      }))
    } catch (err) {
      this.log.error('could not announce departure - %e', err)
    }
  }

  async stop (): Promise<void> {
    this.started = false
    this.shutdownController.abort()
    clearTimeout(this.publishTimer)
    clearTimeout(this.refreshTimer)
    clearTimeout(this.resyncTimer)
    clearInterval(this.sweepTimer)
    for (const timer of this.probes.values()) {
      clearTimeout(timer)
    }
    this.probes.clear()
    this.flooder.stop()
    this.components.events.removeEventListener('connection:open', this.onConnectionChange)
    this.components.events.removeEventListener('connection:close', this.onConnectionChange)
    this.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
    for (const id of this.topologyIds.splice(0)) {
      this.components.registrar.unregister(id)
    }
    await this.components.registrar.unhandle(PROTOCOL)
    await this.components.registrar.unhandle(DELTA_PROTOCOL)
    await this.components.registrar.unhandle(LEGACY_PROTOCOL)
    for (const channel of this.channels.values()) {
      channel.abort(new Error('the network map stopped'))
    }
    this.channels.clear()
    this.legacy.clear()
    this.allowances.clear()
    if (this.bootstrap != null) {
      this.bootstrapped(this.bootstrap.key)
    }
    this.store.clear()
    this.penalties.clear()
    this.missing.clear()
  }

  // --- public API ---

  get size (): number {
    return this.store.size
  }

  nodes (): MapNode[] {
    return this.store.nodes()
  }

  edges (): MapEdge[] {
    return this.store.edges()
  }

  get (peerId: PeerId): MapNode | undefined {
    return this.store.node(peerId.toString())
  }

  neighbours (peerId: PeerId): PeerId[] {
    return this.store.neighbours(peerId.toString())
  }

  path (to: PeerId, options: PathOptions = {}): PeerId[] | undefined {
    if (!this.started) {
      throw new NotStartedError('the network map is not started')
    }
    return this.store.path(to, options)
  }

  findPath (to: PeerId, options: PathOptions = {}): PathResult {
    const path = this.path(to, options)
    if (path != null) {
      return { found: true, path }
    }
    const state = this.store.record(to.toString())?.state
    return { found: false, reason: state == null ? 'unknown' : state === 'departed' ? 'departed' : 'unreachable' }
  }

  penalty (peerId: PeerId): number {
    return this.penalties.current(peerId.toString())
  }

  stats (): NetworkMapStats {
    return { ...this.counters, recordsHeld: this.store.held, nodesMissing: this.missing.size }
  }

  // --- our own record ---

  private onConnectionChange (evt: CustomEvent<Connection>): void {
    const connection = evt.detail
    const key = connection.remotePeer.toString()
    if (evt.type === 'connection:open' && this.started) {
      this.probes.set(connection.id, setTimeout(() => {
        this.probes.delete(connection.id)
        void this.probe(connection)
      }, this.linkProbeDelay))
    } else if (evt.type === 'connection:close') {
      clearTimeout(this.probes.get(connection.id))
      this.probes.delete(connection.id)
      if (this.components.connectionManager.getConnections(connection.remotePeer).length === 0) {
        this.dropChannel(key)
        // a neighbour linked without identify (probe) gets no onDisconnect from the registrar
        this.onUnlink(connection.remotePeer)
      }
    }
    if (this.flooder.isLinked(key)) {
      this.schedulePublish()
    }
  }

  /**
   * A connection the registrar has not linked `linkProbeDelay` after it
   * opened, because identify did not name the peer's protocols: identify runs
   * once per connection, and its deadline passes while a slow event loop is
   * behind, so the registrar never links the peer. Open our 2.0.0 stream with a
   * summary (the connect-time sync); a peer that accepts it speaks the map and
   * is a neighbour. A peer that does not speak 2.0.0 refuses the stream: one
   * negotiation per connection, and nothing else changes.
   */
  private async probe (connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    const key = peer.toString()
    if (!this.started || connection.status !== 'open' || this.flooder.isLinked(key) || this.penalties.isRefused(key)) {
      return
    }
    try {
      if (!await this.writeChannel(peer, [openingFrame(this.syncContext(peer))])) {
        return
      }
    } catch (err) {
      this.log('probe of %p failed - %e', peer, err)
      return
    }
    if (this.started && connection.status === 'open' && !this.penalties.isRefused(key) && this.flooder.link(peer)) {
      this.log('%p speaks %s but identify never said so: linked', peer, PROTOCOL)
      this.schedulePublish()
    }
  }

  private onSelfUpdate (): void {
    if (this.announceAddresses) {
      this.schedulePublish()
    }
  }

  /**
   * Re-issue our record soon: link and address changes. Folded into one
   * re-issue per `publishDelay`, and rate limited by a token bucket (a burst of
   * `publishBurst`, then one per `publishInterval`); the record issued lists the
   * links of the moment it is issued, so nothing is lost by waiting
   */
  private schedulePublish (): void {
    if (!this.started || this.publishTimer != null) {
      return
    }
    const now = Date.now()
    this.refill(now)
    // a token comes back every publishInterval: wait for the next one when none is left
    const wait = this.publishTokens >= 1 ? 0 : (1 - this.publishTokens) * this.publishInterval
    this.armPublish(Math.max(this.publishDelay, wait))
  }

  /**
   * The re-issue timer. When it fires `PUBLISH_LATE` or more behind, this
   * node's event loop is that far behind its work (at a mass start: checking
   * the signatures of everyone's new versions); the re-issue is held for
   * another `publishInterval`, up to the hold limit, and link changes meanwhile
   * fold into it. A node whose timers run on time re-issues as before.
   */
  private armPublish (delay: number): void {
    const due = Date.now() + delay
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined
      if (!this.started) {
        return
      }
      const now = Date.now()
      const heldSince = this.heldSince ?? due
      if (now - due >= PUBLISH_LATE && now - heldSince < Math.min(MAX_PUBLISH_HOLD, this.recordTtl / 10)) {
        this.heldSince = heldSince
        this.counters.reissuesHeld++
        this.armPublish(this.publishInterval)
        return
      }
      this.heldSince = undefined
      this.refill(now)
      this.publishTokens = Math.max(0, this.publishTokens - 1)
      void this.republish(true)
    }, delay)
  }

  private refill (now: number): void {
    this.publishTokens = Math.min(this.publishBurst, this.publishTokens + (now - this.tokensAt) / this.publishInterval)
    this.tokensAt = now
  }

  /**
   * Issue, store and flood a new record of ours; serialised so sequence
   * numbers stay ordered. `change`: a re-issue for a link or address change,
   * skipped (and its token given back) when the record would claim what our
   * last one claims. Events fire without a change of ours: libp2p's
   * `self:peer:update` for an observed address that is not announced, a
   * second connection to a neighbour, a link lost and back before the timer.
   * A skipped re-issue saves a signature here and a verify at every node.
   */
  private async republish (change = false): Promise<void> {
    this.publishing = this.publishing.then(async () => {
      if (!this.started) {
        return
      }
      const record = this.ownRecord(false)
      const next = this.unsealed(record)
      // the store holds the last record we issued (the sweep never prunes our own)
      const last = this.store.record(this.self)
      if (change && last != null && sameClaims(last, next)) {
        this.counters.reissuesSkipped++
        this.publishTokens = Math.min(this.publishBurst, this.publishTokens + 1)
        // a record of no links held back from syncs while this re-issue was due (heldBack()) goes now
        this.flooder.flood(last)
        return
      }
      const stored = await this.seal(record, next)
      this.counters.recordsIssued++
      this.put(stored, undefined)
      clearTimeout(this.refreshTimer)
      this.refreshTimer = setTimeout(() => { void this.republish() }, refreshDelay(this.recordTtl))
    }).catch(err => {
      this.log.error('could not publish our record - %e', err)
    })
    return this.publishing
  }

  private currentNeighbours (): NetmapRecord.Neighbour[] {
    const neighbours: Array<NetmapRecord.Neighbour & { rank: number }> = []
    for (const peer of this.flooder.peers()) {
      let kind: LinkKind | undefined
      let rtt: number | undefined
      for (const connection of this.components.connectionManager.getConnections(peer)) {
        if (connection.status !== 'open') { continue }
        const k = this.linkKind(connection)
        if (k != null && (kind == null || LINK_KIND_RANK[k] < LINK_KIND_RANK[kind])) { kind = k }
        if (connection.rtt != null && Number.isFinite(connection.rtt) && (rtt == null || connection.rtt < rtt)) { rtt = Math.round(connection.rtt) }
      }
      if (kind != null) {
        neighbours.push({ peerId: peer.toMultihash().bytes, ...kindToPb(kind), rtt, rank: LINK_KIND_RANK[kind] * 1e6 + (rtt ?? UNMEASURED_RTT) })
      }
    }
    return neighbours.sort((a, b) => a.rank - b.rank).slice(0, this.maxNeighbours).map(({ rank: _rank, ...n }) => n)
  }

  private async issue (departing: boolean): Promise<StoredRecord> {
    return this.seal(this.ownRecord(departing))
  }

  /** Our record as of now, with the next sequence number */
  private ownRecord (departing: boolean): NetmapRecord {
    const now = Date.now()
    this.seq = this.seq + 1n > BigInt(now) ? this.seq + 1n : BigInt(now)
    const multiaddrs = this.announceAddresses && !departing
      ? this.components.addressManager.getAddresses().map(ma => ma.decapsulateCode(CODE_P2P).bytes).slice(0, MAX_MULTIADDRS)
      : []
    return {
      peerId: this.components.peerId.toMultihash().bytes,
      seq: this.seq,
      expires: BigInt(now + this.recordTtl),
      neighbours: departing ? [] : this.currentNeighbours(),
      alias: this.alias,
      roles: this.roles,
      multiaddrs,
      departing
    }
  }

  /** Our record as the store will hold it, before it is signed (its envelope empty) */
  private unsealed (record: NetmapRecord): StoredRecord {
    return storedRecord(this.components.peerId, record, new Uint8Array(0), Number(record.expires), Date.now(), (k, m) => this.store.peerIdFor(k, m))
  }

  /** Sign `record` into `stored` (the record as the store holds it) */
  private async seal (record: NetmapRecord, stored = this.unsealed(record)): Promise<StoredRecord> {
    stored.envelope = await sealRecord(record, this.components.privateKey, this.maxRecordSize)
    return stored
  }

  /** Put a verified record in the map, note that its sender holds it, flood it on */
  private put (stored: StoredRecord, from: PeerId | undefined): void {
    const previous = this.store.record(stored.key)
    if (stored.delta == null && previous != null && previous.seq < stored.seq && this.readsDeltas()) {
      // what a neighbour holding the version replaced gets instead of the whole record
      const bytes = makeDelta(previous.envelope, stored.envelope)
      stored.delta = bytes == null ? undefined : { base: previous.seq, bytes }
    }
    this.store.put(stored)
    this.missing.delete(stored.key)
    const fromKey = from?.toString()
    if (fromKey != null) {
      this.flooder.noteKnown(fromKey, stored.key, stored.seq)
    }
    this.flooder.flood(stored, fromKey)
  }

  /**
   * Our own record, listing no link, while a re-issue for a link change is
   * due (within `publishDelay`): a sync does not offer it, since every node
   * would check it and then, a moment later, the version that lists the
   * link. At a join that is one record flooded instead of two; at a mass
   * start, one version of every node fewer. If the re-issue finds nothing
   * new to claim, it floods this record instead.
   */
  private heldBack (stored: StoredRecord): boolean {
    return stored.key === this.self && stored.claims.size === 0 && stored.state === 'live' && this.publishTimer != null
  }

  /** Some neighbour reads record deltas (only a stream we opened asking for 2.1.0 can) */
  private readsDeltas (): boolean {
    if (!this.recordDeltas) {
      return false
    }
    for (const channel of this.channels.values()) {
      if (channel.readsDeltas) { return true }
    }
    return false
  }

  private sweep (): void {
    const now = Date.now()
    // a version accepted while its node was pruned went to no neighbour (flood() skips pruned records):
    // without this, maps that held an older version kept it until the next refresh (issue 19)
    for (const revived of this.store.sweep(now, key => this.flooder.isLinked(key))) {
      this.flooder.flood(revived)
    }
    this.penalties.prune(now)
    if (now >= this.deltaSweepAt) {
      // a pass over the map every DELTA_HOLD: deltas older than that have been flooded
      this.deltaSweepAt = now + DELTA_HOLD
      for (const stored of this.store.all()) {
        if (stored.delta != null && stored.acceptedAt <= now - DELTA_HOLD) { stored.delta = undefined }
      }
    }
    for (const [key, expires] of this.missing) {
      if (expires <= now) { this.missing.delete(key) }
    }
  }

  /**
   * Check every 2.0.0 link: our summary's count and root to each neighbour
   * (about 20 bytes); one holding other versions answers and the two sync
   * what differs. 1.0.0 neighbours have no such frame: they are repaired by
   * refreshes and reconnects, as before.
   */
  private armResync (): void {
    clearTimeout(this.resyncTimer)
    this.resyncTimer = setTimeout(() => {
      if (!this.started) {
        return
      }
      const frame = rootFrame(this.store.summary())
      for (const peer of this.flooder.peers()) {
        // writeChannel() writes nothing to a 1.0.0 neighbour (false)
        this.writeChannel(peer, [frame]).then(written => {
          if (written) { this.counters.resyncsSent++ }
        }, err => { this.log('could not send a summary to %p - %e', peer, err) })
      }
      this.armResync()
    }, resyncDelay(this.resyncInterval))
  }

  // --- neighbours ---

  private onLink (peer: PeerId, connection: Connection): void {
    const key = peer.toString()
    if (!this.started) {
      return
    }
    if (this.penalties.isRefused(key)) {
      this.disconnect(peer)
      return
    }
    const hadHistory = this.flooder.hasHistory(key)
    if (this.flooder.link(peer)) {
      // the dialer runs the sync so one exchange covers both directions
      if (connection.direction === 'outbound') {
        void this.sync(peer, connection)
      } else if (hadHistory) {
        // it synced with us (or its stream opened) before we saw it as a link: what changed since
        // was not flooded to it
        void this.catchUp(peer)
      }
    }
    this.schedulePublish()
  }

  /**
   * Bring a neighbour up to date with what it may have missed: a summary on
   * 2.0.0 (a few bytes when nothing was missed; flooding everything it is not
   * known to hold would resend what a sync still being read is about to
   * confirm, and spend its push budget); floods to a 1.0.0 neighbour
   */
  private async catchUp (peer: PeerId): Promise<void> {
    try {
      if (await this.writeChannel(peer, [openingFrame(this.syncContext(peer))])) {
        return
      }
    } catch (err) {
      this.log('could not send a summary to %p - %e', peer, err)
      return
    }
    for (const stored of this.store.all()) {
      this.flooder.flood(stored, undefined, peer.toString())
    }
  }

  private onUnlink (peer: PeerId): void {
    const key = peer.toString()
    if (this.flooder.unlink(key)) {
      this.penalties.forget(key)
      this.dropChannel(key)
      this.schedulePublish()
    }
  }

  private dropChannel (key: string): void {
    this.channels.get(key)?.abort(new Error('the link closed'))
    this.channels.delete(key)
    this.legacy.delete(key)
    this.allowances.delete(key)
  }

  // --- streams ---

  /**
   * One stream's deadline: `signal` or the stream timeout, and shutdown. Not
   * AbortSignal.any() for the stream timeout: it leaves a cell per call on the
   * long-lived shutdown signal (src/utils/timeout-signal.ts). `clear()` it when
   * the stream is done.
   */
  private streamSignal (signal?: AbortSignal): Deadline {
    const deadline = operationDeadline(this.streamTimeout, this.shutdownController.signal, signal)
    setMaxListeners(Infinity, deadline.signal)
    return deadline
  }

  /** Our 2.0.0 stream to `peer`, opened on its first write */
  private channel (peer: PeerId): Channel {
    const key = peer.toString()
    let channel = this.channels.get(key)
    if (channel == null) {
      channel = new Channel({
        open: async (signal) => {
          const connection = bestConnection(this.components.connectionManager.getConnections(peer), { allowLimited: true })
          if (connection == null) {
            throw new ChannelFullError(`no connection to ${key}`)
          }
          this.counters.streamsOpened++
          // asking for 2.1.0 first is what makes a neighbour a delta reader (recordDeltas)
          return connection.newStream(this.recordDeltas ? [DELTA_PROTOCOL, PROTOCOL] : PROTOCOL, { signal, runOnLimitedConnection: true })
        },
        deltaProtocol: DELTA_PROTOCOL,
        maxFrameSize: this.maxFrameSize,
        writeTimeout: this.streamTimeout,
        idleTimeout: this.idleTimeout,
        maxQueuedBytes: MAX_QUEUED_BYTES,
        stats: this.counters,
        signal: this.shutdownController.signal,
        // what we wrote on the stream before may be lost: a summary finds it
        reopened: () => this.flooder.isLinked(key) ? [openingFrame(this.syncContext(peer))] : [],
        log: this.log
      })
      this.channels.set(key, channel)
    }
    return channel
  }

  /** Write frames on our 2.0.0 stream to `peer`; false when it speaks only 1.0.0 (noted, so it gets 1.0.0 from now on) */
  private async writeChannel (peer: PeerId, frames: NetmapMessage[], signal?: AbortSignal): Promise<boolean> {
    const key = peer.toString()
    if (this.legacy.has(key)) {
      return false
    }
    try {
      await this.channel(peer).write(frames, signal)
      return true
    } catch (err) {
      if ((err as Error).name !== 'UnsupportedProtocolError') {
        throw err
      }
      this.log('%p does not speak %s: using %s', peer, PROTOCOL, LEGACY_PROTOCOL)
      this.legacy.add(key)
      this.channels.get(key)?.abort(err as Error)
      this.channels.delete(key)
      return false
    }
  }

  /**
   * Push envelopes (and deltas, to a neighbour that reads them) to one
   * neighbour: on our long-lived stream, or a fresh 1.0.0 stream; false when
   * there was no connection to push on
   */
  private async send (peer: PeerId, envelopes: Uint8Array[], signal?: AbortSignal, deltas: Uint8Array[] = []): Promise<boolean> {
    const ctx = { maxFrameSize: this.maxFrameSize, maxEntries: this.maxEntries }
    if (await this.writeChannel(peer, recordFrames(NetmapMessage.Type.PUSH, envelopes, [], ctx, deltas), signal)) {
      return true
    }
    if (deltas.length > 0) {
      throw new ChannelFullError('record deltas for a neighbour that does not read them')
    }
    const connection = bestConnection(this.components.connectionManager.getConnections(peer), { allowLimited: true })
    if (connection == null) {
      return false
    }
    const deadline = this.streamSignal(signal)
    const streamSignal = deadline.signal
    try {
      this.counters.streamsOpened++
      const stream = await connection.newStream(LEGACY_PROTOCOL, { signal: streamSignal, runOnLimitedConnection: true })
      try {
        const lp = lpStream(stream, { maxDataLength: this.maxFrameSize })
        await push(lp, envelopes, this.syncContext(peer), streamSignal)
        await stream.close({ signal: streamSignal })
        return true
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    } finally {
      deadline.clear()
    }
  }

  /** What an honest peer at the default cap may send in one frame or sync, or more when ours is larger */
  private get maxEntries (): number {
    return Math.max(this.maxNodes, DEFAULT_MAX_NODES)
  }

  /** The service as the 1.0.0 flows see it, for one remote peer and one stream */
  private syncContext (peer: PeerId): SyncContext & ChannelContext {
    const peerKey = peer.toString()
    // versions this stream carried so far (frames on one stream are ordered; separate streams are not)
    const claimed = new Map<string, bigint>()
    this.flooder.track(peerKey)
    // what a sync may list or send at all: not a pruned record, nor our own held back (heldBack())
    const shown = (stored: StoredRecord): boolean => stored.state !== 'pruned' && !this.heldBack(stored)
    // what we would offer: a goodbye matters only to a peer holding an older version of the node's record
    const offerable = (stored: StoredRecord, held: bigint | undefined): boolean =>
      shown(stored) && !(stored.state === 'departed' && held == null) && (held ?? -1n) < stored.seq
    const ctx: SyncContext & ChannelContext = {
      maxFrameSize: this.maxFrameSize,
      maxEntries: this.maxEntries,
      stats: this.counters,
      selfKey: this.self,
      summary: () => this.store.summary(),
      digest: (scope?: bigint) => {
        const entries = []
        for (const stored of this.store.all()) {
          if (!shown(stored)) { continue }
          const { peerId, bucket } = hashOf(stored)
          if (inScope(scope, bucket)) {
            entries.push({ peerId: peerId as Uint8Array<ArrayBuffer>, seq: stored.seq })
          }
        }
        return entries
      },
      seqOf: (key) => this.store.record(key)?.seq,
      offer: (theirs, scope?: bigint) => {
        const envelopes: Uint8Array[] = []
        for (const stored of this.store.all()) {
          const held = theirs.get(stored.key)
          if (offerable(stored, held) && (scope == null || inScope(scope, hashOf(stored).bucket))) {
            envelopes.push(stored.envelope)
            this.flooder.noteKnown(peerKey, stored.key, stored.seq)
          }
        }
        return envelopes
      },
      give: (keys) => {
        const envelopes: Uint8Array[] = []
        for (const key of keys) {
          const stored = this.store.record(key)
          if (stored != null && shown(stored)) {
            envelopes.push(stored.envelope)
            this.flooder.noteKnown(peerKey, stored.key, stored.seq)
          }
        }
        return envelopes
      },
      noteKnown: (key, seq) => {
        this.flooder.noteKnown(peerKey, key, seq)
        this.claim(claimed, key, seq)
      },
      accept: async (envelopes: Uint8Array[], wanted?: Set<string>) => { await this.acceptAll(peer, envelopes, claimed, wanted) },
      answered: () => { this.bootstrapped(peerKey) },
      acceptDeltas: async (deltas: Uint8Array[]) => {
        const want = await this.acceptDeltas(peer, deltas, claimed)
        if (want.length > 0) {
          // their answer is ours to pay for, not the peer's push budget
          ctx.grant(want.length)
          ctx.reply(recordFrames(NetmapMessage.Type.RECORDS, [], want, ctx))
        }
      },
      spend: (count) => { this.penalties.spend(peerKey, count) },
      grant: (count) => {
        this.allowances.set(peerKey, Math.min(2 * this.maxEntries, (this.allowances.get(peerKey) ?? 0) + count))
      },
      consume: (count) => {
        const allowed = this.allowances.get(peerKey) ?? 0
        const taken = Math.min(allowed, count)
        if (taken > 0) {
          this.allowances.set(peerKey, allowed - taken)
        }
        return count - taken
      },
      reply: (frames) => {
        this.writeChannel(peer, frames).catch(err => { this.log('could not answer %p - %e', peer, err) })
      }
    }
    return ctx
  }

  /**
   * A newcomer (holding only its own record) opens each new link's sync with
   * its whole digest, and each neighbour answers with every record it holds:
   * with two links up at once it would download the map twice. The first such
   * sync is a bootstrap; the syncs of other links wait until its answer came
   * (or `BOOTSTRAP_WAIT`), and then start from the map it brought.
   */
  private startBootstrap (key: string): void {
    let resolve = (): void => {}
    const done = new Promise<void>(r => { resolve = r })
    const timer = setTimeout(() => { this.bootstrapped(key) }, BOOTSTRAP_WAIT)
    this.bootstrap = {
      key,
      wait: async (other) => { if (other !== key) { await done } },
      resolve: () => { clearTimeout(timer); resolve() }
    }
  }

  /** The bootstrap sync with `key` is over (records came, or it failed) */
  private bootstrapped (key: string): void {
    if (this.bootstrap?.key === key) {
      this.bootstrap.resolve()
      this.bootstrap = undefined
    }
  }

  /** Dialer side of the connect-time sync: a summary on our 2.0.0 stream, or a 1.0.0 digest sync */
  private async sync (peer: PeerId, connection: Connection): Promise<void> {
    const key = peer.toString()
    await this.bootstrap?.wait(key)
    if (!this.started) {
      return
    }
    try {
      const frame = openingFrame(this.syncContext(peer))
      // only a node holding no record but its own: any neighbour has at least its own record to answer with
      if (frame.type === NetmapMessage.Type.SYNC && this.bootstrap == null && this.store.held <= 1) {
        this.startBootstrap(key)
      }
      if (await this.writeChannel(peer, [frame])) {
        return
      }
    } catch (err) {
      this.log('sync with %p failed - %e', peer, err)
      this.bootstrapped(key)
      return
    }
    const deadline = this.streamSignal()
    const signal = deadline.signal
    let stream: Stream | undefined
    try {
      this.counters.streamsOpened++
      stream = await connection.newStream(LEGACY_PROTOCOL, { signal, runOnLimitedConnection: true })
      const lp = lpStream(stream, { maxDataLength: this.maxFrameSize })
      await runSync(lp, this.syncContext(peer), signal)
      await stream.close({ signal })
    } catch (err) {
      this.log('sync with %p failed - %e', peer, err)
      stream?.abort(err as Error)
      this.offence(peer, err as Error)
    } finally {
      deadline.clear()
      this.bootstrapped(key)
    }
  }

  /** True (and the stream refused) when the peer is refused for its offences */
  private refuse (stream: Stream, peer: PeerId): boolean {
    if (!this.penalties.isRefused(peer.toString())) {
      return false
    }
    this.counters.streamsRefused++
    stream.abort(new RecordRateLimitError('peer is refused for repeated offences'))
    this.disconnect(peer)
    return true
  }

  /** Listener, 2.0.0: the neighbour's long-lived stream, read until it ends */
  private async handleChannel (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    if (this.refuse(stream, peer)) {
      return
    }
    if (connection.status === 'open' && !this.flooder.isLinked(peer.toString())) {
      // it speaks the map: a neighbour, as the registrar would have made it had identify not timed out here
      this.log('%p opened %s on a link the registrar did not tell us of: linked', peer, PROTOCOL)
      this.onLink(peer, connection)
    }
    try {
      const lp = lpStream(stream, { maxDataLength: this.maxFrameSize })
      // twice the writer's idle close: the neighbour closes an idle stream first, cleanly
      await readChannel(lp, this.syncContext(peer), this.shutdownController.signal, 2 * this.idleTimeout)
      const closing = this.streamSignal()
      await stream.close({ signal: closing.signal }).finally(() => { closing.clear() })
    } catch (err) {
      this.log('stream from %p failed - %e', peer, err)
      stream.abort(err as Error)
      this.offence(peer, err as Error)
    }
  }

  /** Listener, 1.0.0: a sync or a push */
  private async handleStream (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    if (this.refuse(stream, peer)) {
      return
    }
    const deadline = this.streamSignal()
    const signal = deadline.signal
    try {
      const lp = lpStream(stream, { maxDataLength: this.maxFrameSize })
      const ctx = this.syncContext(peer)
      const first = await readFrame(lp, ctx, signal)
      if (first.type === NetmapMessage.Type.SYNC) {
        await answerSync(lp, first, ctx, signal)
      } else {
        await receivePush(lp, first, ctx, signal)
      }
      await stream.close({ signal })
    } catch (err) {
      this.log('stream from %p failed - %e', peer, err)
      stream.abort(err as Error)
      this.offence(peer, err as Error)
    } finally {
      deadline.clear()
    }
  }

  // --- validation ---

  private async acceptAll (from: PeerId, envelopes: Uint8Array[], claimed: Map<string, bigint>, wanted?: Set<string>): Promise<void> {
    for (const envelope of envelopes) {
      try {
        await this.accept(from, envelope, claimed, wanted)
      } catch (err) {
        this.offence(from, err as Error)
      }
    }
  }

  /** Note that a stream carried `seq` of `key`'s record, under the key and bigint the map holds ({@link RecordStore.canonical}) */
  private claim (claimed: Map<string, bigint>, key: string, seq: bigint): void {
    if ((claimed.get(key) ?? -1n) < seq) {
      claimed.set(...this.store.canonical(key, seq))
    }
  }

  /**
   * True when we hold version `seq` of `key`'s record already (noted as held
   * by the sender too); throws when we hold a newer one. Notes that the
   * stream carried `seq`.
   */
  private seen (from: PeerId, key: string, seq: bigint, claimed: Map<string, bigint>): boolean {
    const existing = this.store.record(key)
    // going back below a version the same stream already carried is what only a misbehaving sender does
    const regressed = (claimed.get(key) ?? -1n) > seq
    this.claim(claimed, key, seq)
    if (existing == null || seq > existing.seq) {
      return false
    }
    if (seq === existing.seq) {
      this.flooder.noteKnown(from.toString(), key, seq)
      return true
    }
    // versions cross in the floods, arrive late from slow peers, and separate streams are processed
    // concurrently: an older version is delay, not an offence, unless this stream itself went back
    const error = new StaleRecordError(`record ${seq} about ${key} is older than ${existing.seq}`)
    throw regressed ? error : Object.assign(error, { excused: true })
  }

  /**
   * Received deltas: each rebuilt on the version we hold and then accepted as
   * a full record. Returns the PeerIds whose full records to ask for: we hold
   * no record of the node or another version than the delta's base (expired,
   * pruned, refused at the cap), or the rebuilt record's signature failed (a
   * base that is not the one the subject signed on: the full record settles
   * whose fault it is). Typed errors count as offences, as for records.
   */
  private async acceptDeltas (from: PeerId, deltas: Uint8Array[], claimed: Map<string, bigint>): Promise<Uint8Array[]> {
    const want: Uint8Array[] = []
    for (const bytes of deltas) {
      try {
        const { key, delta } = decodeDelta(bytes, { maxRecordSize: this.maxRecordSize, maxNeighbours: this.maxNeighbours })
        if (this.seen(from, key, delta.seq, claimed)) {
          continue
        }
        const base = this.store.record(key)
        if (base == null || base.seq !== delta.baseSeq || base.envelope.byteLength === 0) {
          this.counters.deltasUnmatched++
          want.push(delta.peerId)
          continue
        }
        const envelope = applyDelta(base.envelope, delta)
        try {
          // what came in is what a neighbour holding the same base gets
          await this.accept(from, envelope, claimed, undefined, { base: base.seq, bytes: new Uint8Array(bytes) })
        } catch (err) {
          if (!(err instanceof RecordSignatureError)) {
            throw err
          }
          this.counters.deltasUnmatched++
          want.push(delta.peerId)
        }
      } catch (err) {
        this.offence(from, err as Error)
      }
    }
    return want
  }

  /** Verify one signed record; store it when newer. Throws a typed error otherwise */
  private async accept (from: PeerId, bytes: Uint8Array, claimed: Map<string, bigint>, wanted?: Set<string>, delta?: StoredDelta): Promise<void> {
    // a record rebuilt from a delta is decoded again too: its addresses are then views of its own
    // bytes, which the store holds as spans of the envelope it keeps anyway
    const decoded = decodeRecord(bytes, { maxRecordSize: this.maxRecordSize, maxNeighbours: this.maxNeighbours })
    const { record } = decoded
    // the subject passed a byte check of its shape (at most 44 bytes): encoding it is cheap
    const key = uint8ArrayToString(record.peerId, 'base58btc')
    if (wanted != null && !wanted.has(key)) {
      throw new UnexpectedRecordError(`record about ${key} was not asked for`)
    }
    // most records arrive several times over; drop copies before the signature check
    const existing = this.store.record(key)
    if (this.seen(from, key, record.seq, claimed)) {
      return
    }
    const { subject, signed } = signerOf(decoded)
    if (key === this.self) {
      // copies of our own records are expected; a newer one means an earlier run of ours: outdate it
      if (record.seq >= this.seq) {
        await verifySignature({ subject, signed })
        this.seq = record.seq
        void this.republish()
      }
      return
    }
    const now = Date.now()
    checkFields(record, now)
    await verifySignature({ subject, signed })
    if (existing == null && this.store.record(key) == null && this.store.held >= this.maxNodes && !this.store.evict()) {
      // bounded: one entry per node refused, at most maxNodes of them
      if (this.missing.size < this.maxNodes || this.missing.has(key)) {
        this.missing.set(key, Math.min(Number(record.expires), now + this.maxRecordTtl))
      }
      throw new MapFullError(`already holding ${this.maxNodes} node records`)
    }
    let stored: StoredRecord
    try {
      // copies of its own: a view would keep the whole received frame alive (and Buffer's slice() is a view);
      // the subject's and its neighbours' PeerIds are the ones the map holds already, when it does
      const id = this.store.peerIdFor(key, record.peerId)
      stored = storedRecord(id, record, new Uint8Array(bytes), Math.min(Number(record.expires), now + this.maxRecordTtl), now, (k, m) => this.store.peerIdFor(k, m), bytes, this.store.record(key))
    } catch (err) {
      throw new MalformedRecordError(`invalid neighbour or address - ${(err as Error).message}`)
    }
    // another stream may have stored a newer copy while we verified
    if ((this.store.record(key)?.seq ?? -1n) >= record.seq || !this.started) {
      return
    }
    stored.delta = delta
    this.counters.recordsAccepted++
    this.put(stored, from)
  }

  // --- penalties ---

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
    if (this.penalties.add(peer.toString(), points)) {
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
