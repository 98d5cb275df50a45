import { DefaultNetworkMap } from './network-map.js'
import type { ComponentLogger, Connection, Libp2pEvents, PeerId, PrivateKey, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { LinkKind as ConnectionLinkKind } from '../utils/connections.js'
import type { Multiaddr } from '@multiformats/multiaddr'

export { PROTOCOL as NETWORK_MAP_PROTOCOL, LEGACY_PROTOCOL as NETWORK_MAP_LEGACY_PROTOCOL, RECORD_DOMAIN as NETWORK_MAP_RECORD_DOMAIN, DEFAULT_RECORD_TTL, DEFAULT_LOST_TIMEOUT, DEFAULT_MAX_RECORD_SIZE, DEFAULT_MAX_NEIGHBOURS, DEFAULT_MAX_NODES, MAX_RECORD_SIZE, MAX_NEIGHBOURS, MAX_NODES } from './constants.js'
export * from './errors.js'

/**
 * How a neighbour is linked, as `linkKind()` of `src/utils/connections.ts`
 * classifies the connection: `direct` (TCP, WebSockets), `webrtc`, `relay`
 * (circuit relay v2, usually limited) or `circuit` (a multi-hop Membrane mesh
 * circuit). A mesh circuit with `limits` is a signaling circuit, not a link:
 * it is never listed. Records of 1.0.0 peers read WebRTC links as `direct`.
 */
export type LinkKind = ConnectionLinkKind

/** One neighbour as a node's own record claims it */
export interface MapNeighbour {
  id: PeerId
  kind: LinkKind
  /** The round trip the claiming node measured, in ms */
  rtt?: number
}

/** A node as its latest verified record describes it */
export interface MapNode {
  id: PeerId
  /** The record's sequence number */
  seq: bigint
  /** When the record expires, unix ms (clamped to `maxRecordTtl` from receipt) */
  expires: number
  alias?: string
  /** e.g. `bootstrap`, `relay` */
  roles: string[]
  /**
   * Addresses the node says it can be dialed on (without `/p2p`). The map
   * holds them as bytes: each read returns new Multiaddr objects, so read it
   * once where it is used
   */
  readonly multiaddrs: Multiaddr[]
  /** The neighbours the node claims; only two-sided claims become edges */
  neighbours: MapNeighbour[]
}

/** A link both ends' records confirm. `from` is the end with the smaller PeerId string */
export interface MapEdge {
  from: PeerId
  to: PeerId
  /** What both ends report; when they differ, the less direct kind */
  kind: LinkKind
  /** The mean of the round trips the ends reported, in ms, when any did */
  rtt?: number
}

/** Why a record or frame from a peer was refused */
export interface RecordRejection {
  /** The neighbour that sent it */
  from: PeerId
  /** A typed error from ./errors.js (`name` says which) */
  error: Error
}

export interface NetworkMapEvents {
  'node:add': CustomEvent<MapNode>
  'node:update': CustomEvent<MapNode>
  'node:remove': CustomEvent<MapNode>
  'edge:add': CustomEvent<MapEdge>
  /** An edge stays but its kind or RTT changed (e.g. a relayed link became direct) */
  'edge:update': CustomEvent<MapEdge>
  'edge:remove': CustomEvent<MapEdge>
  /** A record or frame was refused and its sender penalised */
  'record:reject': CustomEvent<RecordRejection>
}

export interface PathOptions {
  /** Peers the path must not pass through (the ends themselves are never excluded) */
  exclude?: PeerId[]
  /**
   * `hops`: fewest edges. `latency`: lowest sum of edge RTTs, an unmeasured
   * edge counting as 100 ms.
   *
   * @default 'hops'
   */
  weight?: 'hops' | 'latency'
}

/**
 * Why {@link NetworkMap.findPath} found no path:
 * - `unknown`: we hold no record of the node. When `stats().nodesMissing > 0`
 *   the map is partial (full at `maxNodes`) and the node may exist beyond it.
 * - `unreachable`: its record is held but no chain of two-sided edges reaches it.
 * - `departed`: it said goodbye.
 */
export type NoPathReason = 'unknown' | 'unreachable' | 'departed'

export type PathResult =
  | { found: true, path: PeerId[] }
  | { found: false, reason: NoPathReason }

/** Traffic counters of the map protocol (frame bytes, before muxer and encryption) */
export interface NetworkMapStats {
  bytesSent: number
  bytesReceived: number
  recordsAccepted: number
  recordsRejected: number
  /**
   * Records of our own we issued: the first, re-issues after link or address
   * changes (at most `publishBurst` at once, then one per `publishInterval`),
   * refreshes, and the goodbye
   */
  recordsIssued: number
  /**
   * The part of `bytesSent` that pushed refreshes: record versions that
   * changed nothing but their sequence number, expiry and RTTs against the
   * version they replaced (each record's field in its frame, not the frame's
   * own few bytes). Connect-time syncs are not in it
   */
  refreshBytesSent: number
  /**
   * Times a link-caused re-issue was held for another `publishInterval`
   * because its timer fired 500 ms or more late (this node's event loop was
   * behind, as at a mass start); changes meanwhile fold into one record
   */
  reissuesHeld: number
  /**
   * Link- or address-caused re-issues not made because the record would
   * have claimed what our last one claims (neighbours and kinds, addresses,
   * alias, roles): the event behind it changed nothing others see
   */
  reissuesSkipped: number
  /** Records held in any state (live, departed, pruned); never above `maxNodes` */
  recordsHeld: number
  /**
   * Nodes whose records were refused because the map was full, and have not
   * expired since (counted up to `maxNodes`). Above 0 the map is partial: `findPath()` says `unknown`,
   * not `unreachable`, for a node it does not hold.
   */
  nodesMissing: number
  /** Streams refused at once because their sender is at the penalty threshold */
  streamsRefused: number
  /** Map streams we opened: one per neighbour and link on 2.0.0 (more only after a failure or an idle close); one per push or sync to a 1.0.0 neighbour */
  streamsOpened: number
  /** Periodic link checks written: one summary per 2.0.0 neighbour per `resyncInterval` */
  resyncsSent: number
  /**
   * New versions pushed as deltas (to a 2.1.0 neighbour known to hold the
   * version they replace) instead of whole records
   */
  deltasSent: number
  /** Deltas received whose base version we did not hold (or that did not rebuild a signed record): the full records were asked for */
  deltasUnmatched: number
}

export interface NetworkMap extends TypedEventTarget<NetworkMapEvents> {
  /** Live nodes (ourselves included) */
  nodes(): MapNode[]

  /** Edges both of whose ends list each other */
  edges(): MapEdge[]

  /** The node's latest record, if it is in the map */
  get(peerId: PeerId): MapNode | undefined

  /** The peers linked to `peerId` by two-sided edges */
  neighbours(peerId: PeerId): PeerId[]

  /**
   * The shortest path over two-sided edges, as `[self, …hops, to]`
   * (`[self]` when `to` is us), or `undefined` when `to` is unknown or unreachable.
   *
   * @example
   * ```ts
   * const hops = node.services.networkMap.path(target, { exclude: [slowPeer] })
   * ```
   */
  path(to: PeerId, options?: PathOptions): PeerId[] | undefined

  /**
   * `path()` with the reason when there is none: the node is unknown (and the
   * map may be partial), unreachable, or departed.
   *
   * @example
   * ```ts
   * const result = node.services.networkMap.findPath(target)
   * if (!result.found && result.reason === 'unknown' && node.services.networkMap.stats().nodesMissing > 0) {
   *   // past the map's cap: find the peer another way (peer routing)
   * }
   * ```
   */
  findPath(to: PeerId, options?: PathOptions): PathResult

  /** Live nodes in the map, ourselves included */
  readonly size: number

  /** Current penalty points of a peer (decayed); at `penaltyThreshold` it is disconnected */
  penalty(peerId: PeerId): number

  /** Traffic counters */
  stats(): NetworkMapStats
}

export interface NetworkMapInit {
  /**
   * A public display name published in our record
   *
   * @default undefined
   */
  alias?: string

  /**
   * Public roles published in our record, e.g. `['bootstrap', 'relay']`
   *
   * @default []
   */
  roles?: string[]

  /**
   * Publish our dialable multiaddrs in our record
   *
   * @default true
   */
  announceAddresses?: boolean

  /**
   * How long our records stay valid, in ms; they are re-issued at a random
   * point between 30 % and 65 % of this. Lost floods are repaired by
   * `resyncInterval`, and a node that vanished leaves the maps when its
   * neighbours drop their edges, so this is only the backstop
   *
   * @default 1800000
   */
  recordTtl?: number

  /**
   * How often each 2.0.0 link is checked, in ms (±25 %, at random): a summary
   * of about 20 bytes to each neighbour, and a sync of what differs. Bounds
   * how long a lost flood goes unrepaired
   *
   * @default 60000
   */
  resyncInterval?: number
  /**
   * Send new versions as record deltas (`/membrane/netmap/2.1.0`) to
   * neighbours known to hold the version before (a degree-5 record with one
   * link changed: ≈ 190 B instead of ≈ 420 B). Deltas from others are read
   * either way; `false` opens streams on 2.0.0 and sends whole records only
   *
   * @default true
   */
  recordDeltas?: boolean

  /**
   * The longest validity accepted from others, in ms (later expiries are clamped)
   *
   * @default 3600000
   */
  maxRecordTtl?: number

  /**
   * Debounce for re-issuing our record after neighbour changes, in ms
   *
   * @default 100
   */
  publishDelay?: number

  /**
   * Re-issues of our record caused by link or address changes are rate
   * limited: up to `publishBurst` of them at once, then one per this many ms.
   * Changes in between are folded into the next re-issue, which lists the
   * links of that moment. A mass start, where every node's links come and go
   * for seconds, then costs each node a few records instead of one per link
   * change (each of them flooded to every node). The first record, refreshes,
   * the goodbye and a re-issue that outdates an older run of ours are never
   * held back.
   *
   * @default 2000
   */
  publishInterval?: number

  /**
   * How many link- or address-caused re-issues may follow one another
   * `publishDelay` apart before `publishInterval` spaces them (a token bucket
   * that refills one per `publishInterval`): a quiet node answers a join at once
   *
   * @default 3
   */
  publishBurst?: number

  /**
   * Batching window for records flooded to a neighbour, in ms
   *
   * @default 20
   */
  floodDelay?: number

  /**
   * Drop a node that no chain of two-sided edges has reached yet after this
   * long, in ms. A joining node's record often arrives before the records of
   * its neighbours that make the edges to it two-sided.
   *
   * @default 15000
   */
  unreachableTimeout?: number

  /**
   * Drop a node that was reachable, no longer is, and that no node we reach
   * claims as a neighbour after this long, in ms: its last link to the map was
   * lost. Short, so such a node leaves every map within about 2 s; long enough
   * for a re-issued record to cross the floods when links change.
   *
   * @default 1000
   */
  lostTimeout?: number

  /**
   * The largest signed record accepted or issued, in bytes
   *
   * @default 32768
   */
  maxRecordSize?: number

  /**
   * The most neighbours a record may list
   *
   * @default 256
   */
  maxNeighbours?: number

  /**
   * The most node records held, in any state (live, departed or pruned).
   * Every member holds and floods every record, so memory and map traffic
   * per node grow with this (see docs/scaling.md); beyond it records about
   * further nodes are refused (`MapFullError`, not an offence), departed and
   * pruned records making way first, and `stats().nodesMissing` says the map
   * is partial. Peers that raise it should raise it together: a sync may carry
   * at most the larger of this and the default.
   *
   * @default 1000
   */
  maxNodes?: number

  /**
   * The largest frame accepted or sent, in bytes
   *
   * @default 1048576
   */
  maxFrameSize?: number

  /**
   * Deadline for each 1.0.0 sync or push stream, and for each write on a
   * 2.0.0 stream, in ms
   *
   * @default 10000
   */
  streamTimeout?: number

  /**
   * A 2.0.0 stream (one per neighbour and direction) that carried no frame
   * for this long is closed, and reopened on the next write, in ms
   *
   * @default recordTtl, at least 60000
   */
  idleTimeout?: number

  /**
   * @deprecated use `streamTimeout`
   */
  timeout?: number

  /**
   * A connection the map has not linked this long after it opened (identify,
   * which tells the registrar of the protocol, timed out on it) is probed: we
   * open our stream on it, and a peer that speaks the map protocol becomes a
   * neighbour without identify, in ms. A peer that opens its stream to us is
   * a neighbour at once
   *
   * @default 10000
   */
  linkProbeDelay?: number

  /**
   * How long `stop()` waits for the goodbye record to reach neighbours, in ms
   *
   * @default 2000
   */
  goodbyeTimeout?: number

  /**
   * Pushed records accepted per neighbour per second
   *
   * @default 200
   */
  maxRecordsPerSecond?: number

  /**
   * Pushed records a neighbour may send in a burst
   *
   * @default 1000
   */
  recordBurst?: number

  /**
   * Penalty points at which a peer is disconnected and refused
   *
   * @default 10
   */
  penaltyThreshold?: number

  /**
   * @default 4
   */
  maxInboundStreams?: number

  /**
   * @default 4
   */
  maxOutboundStreams?: number

  /**
   * Classify a connection for our record. Return `undefined` to leave the peer
   * out of our neighbours.
   *
   * @default `linkKind()` from `src/utils/connections.ts`; mesh circuits with `limits` (signaling circuits) are left out
   */
  linkKind?(connection: Connection): LinkKind | undefined
}

export interface NetworkMapComponents {
  peerId: PeerId
  privateKey: PrivateKey
  registrar: Registrar
  connectionManager: ConnectionManager
  addressManager: AddressManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/**
 * A live, signed map of the mesh over `/membrane/netmap/1.0.0`. Every node
 * signs a record of its neighbours; an edge exists only while both ends list
 * each other, so no node can invent or remove links between others.
 *
 * @example
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { identify } from '@libp2p/identify'
 * import { networkMap } from 'membrane'
 *
 * const node = await createLibp2p({
 *   // transports, encrypters, muxers…
 *   services: { identify: identify(), networkMap: networkMap({ alias: 'alice' }) }
 * })
 * node.services.networkMap.addEventListener('edge:add', (evt) => {
 *   console.log('link', evt.detail.from.toString(), evt.detail.to.toString())
 * })
 * ```
 */
export function networkMap (init: NetworkMapInit = {}): (components: NetworkMapComponents) => NetworkMap {
  return (components) => new DefaultNetworkMap(components, init)
}
