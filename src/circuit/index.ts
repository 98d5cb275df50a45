import { DefaultMeshCircuits } from './circuits.js'
import { MeshCircuitTransport } from './transport.js'
import type { ComponentLogger, Connection, ConnectionGater, PeerId, Transport, Upgrader } from '@libp2p/interface'
import type { ConnectionManager, Registrar, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProgressEvent } from 'progress-events'

export { CIRCUIT_PROTOCOL, CIRCUIT_MULTIADDR_NAME, CIRCUIT_MULTIADDR_CODE, DEFAULT_MAX_HOPS, DEFAULT_SIGNALING_LIMIT, DEFAULT_RELAY_LIMIT, DEFAULT_MAX_CIRCUITS_PER_PEER, DEFAULT_MAX_CIRCUITS, DEFAULT_MAX_RELAY_CIRCUITS, DEFAULT_FORWARD_RATE, DEFAULT_RATE_WINDOW, DEFAULT_WEBRTC_ATTEMPTS, DEFAULT_WEBRTC_ATTEMPT_TIMEOUT, MIN_WEBRTC_ATTEMPT_TIMEOUT, MAX_WEBRTC_ATTEMPT_TIMEOUT, WEBRTC_ATTEMPT_RTTS, DEFAULT_CIRCUIT_DRAIN_TIMEOUT } from './constants.js'
export { NoRouteError, CircuitLimitError, CircuitRateLimitError, HopLimitError, CircuitLoopError, MalformedCircuitMessageError, CircuitRefusedError, CircuitTimeoutError, CircuitUpgradeError, CircuitTransportMissingError, WebRTCUpgradeError } from './errors.js'
export { circuitAddress, parseCircuitAddress, isCircuitAddress } from './address.js'
export type { MeshCircuitTransport, DefaultMeshCircuits }
export type { CircuitDialOptions } from './transport.js'

/**
 * Finds paths through the mesh, e.g. the network map service. `path` returns
 * `[self, …hops, to]`, or undefined when `to` is unreachable.
 */
export interface CircuitRouter {
  path(to: PeerId, options?: { exclude?: PeerId[] }): PeerId[] | undefined
  /**
   * The addresses `peer` announces (e.g. in its map record), for the stock
   * relay→WebRTC fallback of `link()` when the mesh has no path
   */
  addresses?(peer: PeerId): Multiaddr[]
}

/**
 * `signaling`: a limited circuit (small byte and time budget at every hop)
 * that only runs protocols allowed on limited connections, such as
 * `/webrtc-signaling/0.0.1`. `relay`: an unlimited libp2p connection for
 * application data when WebRTC cannot connect, bounded by each hop's (larger)
 * relay budget.
 */
export type CircuitMode = 'signaling' | 'relay'

export interface CircuitLimit {
  /** Bytes both directions together may carry through a hop */
  bytes?: number
  /** How long the circuit may stay open, in ms */
  duration?: number
}

export interface MeshCircuitTransportInit {
  /**
   * The most relaying peers a circuit may cross, counting the hops inside
   * circuit or relay connections it is carried over
   *
   * @default 6
   */
  maxHops?: number

  /**
   * The budget of a signaling circuit at this hop
   *
   * @default { bytes: 131072, duration: 120000 } (libp2p circuit relay v2's)
   */
  signalingLimit?: CircuitLimit

  /**
   * The budget of a relay (fallback) circuit at this hop
   *
   * @default { bytes: 8388608, duration: 600000 }
   */
  relayLimit?: CircuitLimit

  /**
   * Circuits one neighbour may have through this node at once, in each direction
   *
   * @default 8
   */
  maxCircuitsPerPeer?: number

  /**
   * Circuits this node relays or terminates at once
   *
   * @default 64
   */
  maxCircuits?: number

  /**
   * Relay circuits this node relays or terminates at once; 0 refuses relaying data
   *
   * @default 8
   */
  maxRelayCircuits?: number

  /**
   * Circuit requests one neighbour may ask this node to forward per `rateWindow`
   *
   * @default 30
   */
  forwardRate?: number

  /**
   * The window for `forwardRate`, in ms
   *
   * @default 60000
   */
  rateWindow?: number

  /**
   * How long to wait for a circuit request on a new stream, in ms
   *
   * @default 5000
   */
  requestTimeout?: number

  /**
   * How long a hop waits for the rest of the path to answer, in ms
   *
   * @default 10000
   */
  responseTimeout?: number

  /**
   * How long opening a circuit and upgrading it may take, in ms
   *
   * @default 20000
   */
  openTimeout?: number

  /**
   * Send the encrypter's protocol selection and Noise's first message right
   * behind the circuit request instead of after the far end's OK and the
   * selection's answer: two round trips end to end less per circuit. The
   * bytes on the wire do not change, only when they are sent, so hops and
   * targets need nothing new. `false` waits for each answer in turn.
   *
   * @default true
   */
  earlyHandshake?: boolean
}

export interface MeshCircuitTransportComponents {
  peerId: PeerId
  connectionManager: ConnectionManager
  upgrader: Upgrader
  logger: ComponentLogger
}

export interface OpenCircuitOptions {
  /** The relaying peers to use, nearest first; `[self, …, target]` is accepted too */
  route?: PeerId[]
  /** @default 'signaling' */
  mode?: CircuitMode
  signal?: AbortSignal
  onProgress?(evt: ProgressEvent): void
}

/**
 * Progress of `connect()`, in order; libp2p's own dial events are passed
 * through too. `time` is `Date.now()` when the phase ended; `circuit`
 * carries the circuit's measured round trip (`rtt`, ms) and `signaling` the
 * attempt's deadline (`timeout`, ms). After `connect()` returned a circuit,
 * the upgrade's `signaling` and `webrtc` events still arrive.
 */
export type ConnectProgressEvent =
  | ProgressEvent<'route', { target: PeerId, route?: PeerId[], time: number }>
  | ProgressEvent<'circuit', { target: PeerId, route: PeerId[], mode: CircuitMode, rtt: number, time: number }>
  | ProgressEvent<'noise', { target: PeerId, remotePeer: PeerId, time: number }>
  | ProgressEvent<'signaling', { target: PeerId, attempt: number, timeout: number, time: number }>
  | ProgressEvent<'webrtc', { target: PeerId, attempt: number, time: number }>

export interface ConnectOptions {
  /**
   * The relaying peers to use, nearest first (`[self, …, target]`, as the
   * network map's `path()` returns, is accepted too)
   *
   * @default the router's path
   */
  route?: PeerId[]

  /** Aborts the whole operation, including a WebRTC upgrade still running behind a returned circuit */
  signal?: AbortSignal

  /**
   * Resolve only when the WebRTC upgrade has ended (as `result.upgrade`
   * does), instead of as soon as the end-to-end encrypted circuit is usable
   *
   * @default false
   */
  waitForDirect?: boolean

  onProgress?(evt: ConnectProgressEvent | ProgressEvent): void

  /**
   * Try to upgrade to a direct WebRTC link
   *
   * @default true
   */
  webrtc?: boolean

  /**
   * Use an end-to-end encrypted relay circuit: at once, while WebRTC is tried
   * behind it, and kept when WebRTC fails. `false` asks for a direct WebRTC
   * link only (a limited signaling circuit is used and closed), and fails with
   * WebRTCUpgradeError when there is none.
   *
   * @default true
   */
  relay?: boolean
}

/** A link to the target */
export interface UpgradeResult {
  /** The link: a direct WebRTC connection, a relay circuit, or a connection that already existed */
  connection: Connection
  /**
   * `webrtc`: a direct WebRTC connection. `circuit`: a relay circuit through
   * the mesh, Noise end to end, bounded by the hops' relay limits.
   * `existing`: an unlimited connection that was already there (TCP,
   * WebSockets, relay v2).
   */
  kind: 'webrtc' | 'circuit' | 'existing'
  /** Why WebRTC did not connect, when it was tried and did not */
  webrtcError?: Error
}

export interface ConnectResult extends UpgradeResult {
  /**
   * Settles when the WebRTC upgrade behind the link has ended: with the
   * WebRTC connection (the circuit then closes once its streams drain, and
   * new streams already prefer the direct link), or with the link kept and
   * `webrtcError`. Never rejects. Settled from the start when `kind` is
   * `webrtc`, or when no upgrade was tried.
   */
  upgrade: Promise<UpgradeResult>
}

/**
 * The circuit service's settings: the hop limits of `MeshCircuitTransportInit`
 * (the service answers circuits as a hop and a target) plus `connect()`'s
 */
export interface MeshCircuitsInit extends MeshCircuitTransportInit {
  /**
   * WebRTC attempts per `connect()` before falling back to a relay circuit
   *
   * @default 3
   */
  webrtcAttempts?: number

  /**
   * How long one WebRTC attempt may take, in ms. Unset, it adapts to the
   * circuit's measured round trip (`WEBRTC_ATTEMPT_RTTS` of them, between
   * `MIN_WEBRTC_ATTEMPT_TIMEOUT` and `MAX_WEBRTC_ATTEMPT_TIMEOUT`), or is
   * `DEFAULT_WEBRTC_ATTEMPT_TIMEOUT` over a link whose round trip was not
   * measured. Short, so a transient failure costs one attempt, not the dial.
   *
   * @default adaptive
   */
  webrtcAttemptTimeout?: number

  /**
   * How long a circuit replaced by a WebRTC link stays open for the streams on it, in ms
   *
   * @default 1000
   */
  circuitDrainTimeout?: number

  /**
   * Finds paths for `connect()` and `openCircuit()` when no route is given,
   * and for hop-by-hop routing when this node relays a request with no route
   * and the target is not a neighbour. `createMembrane()` passes the network
   * map.
   *
   * @default undefined (only explicit routes and direct neighbours)
   */
  router?: CircuitRouter
}

export interface LinkOptions {
  signal?: AbortSignal
}

export interface MeshCircuitsComponents {
  peerId: PeerId
  registrar: Registrar
  upgrader: Upgrader
  /** Consulted before `connect()` dials (its WebRTC attempts bypass the dial queue) */
  connectionGater?: ConnectionGater
  connectionManager: ConnectionManager
  transportManager: TransportManager
  logger: ComponentLogger
}

export interface MeshCircuitsService {
  /**
   * A link to any member reachable through the mesh, usable as soon as the
   * end-to-end Noise handshake over a relay circuit completes (`kind:
   * 'circuit'`). Behind it the stock `/webrtc-signaling/0.0.1` exchange runs
   * over that circuit; once the WebRTC link is up new streams take it and the
   * circuit closes after its streams drain (`result.upgrade` tells when).
   * Where WebRTC cannot connect the circuit stays. With `relay: false` only
   * a direct link will do.
   *
   * @example
   * ```ts
   * const { connection, kind, upgrade } = await node.services.meshCircuits.connect(peerId, {
   *   onProgress: (evt) => { console.log(evt.type) }
   * })
   * const direct = await upgrade // { kind: 'webrtc', connection } or the circuit kept, with webrtcError
   * ```
   */
  connect(peer: PeerId, options?: ConnectOptions): Promise<ConnectResult>

  /**
   * A link to `peer` for an application protocol: `connect()`, or when the
   * mesh has no path, a stock relay→WebRTC dial through the relay addresses
   * the router knows for the peer. Direct messages use this.
   */
  link(peer: PeerId, options?: LinkOptions): Promise<Connection>

  /** Open a bare circuit connection (limited when `mode` is `signaling`) */
  openCircuit(peer: PeerId, options?: OpenCircuitOptions): Promise<Connection>

  /** What this node's circuit transport is carrying */
  stats(): CircuitStats
}

export interface CircuitStats {
  /** Circuits relayed or terminated here now */
  circuits: number
  /** Of those, relay (fallback) circuits */
  relayCircuits: number
  /** Circuits this node has forwarded as a hop since it started */
  forwarded: number
}

/**
 * The mesh circuit transport: relays circuits for neighbours, accepts circuits
 * addressed to this node and dials `/p2p/<hop>…/membrane-circuit/p2p/<peer>`.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({
 *   transports: [webSockets(), webRTC(), circuitRelayTransport(), meshCircuitTransport()],
 *   services: { identify: identify(), meshCircuits: meshCircuits() }
 * })
 * ```
 */
export function meshCircuitTransport (init: MeshCircuitTransportInit = {}): (components: MeshCircuitTransportComponents) => Transport {
  return (components) => new MeshCircuitTransport(components, init)
}

/**
 * The `connect()` service: peer-signaled WebRTC upgrades over mesh circuits,
 * with a relay-circuit fallback. Needs `meshCircuitTransport()` and
 * `webRTC()` among the transports.
 *
 * @example
 * ```ts
 * const { connection, kind } = await node.services.meshCircuits.connect(peerId, { route: [b, c] })
 * ```
 */
export function meshCircuits (init: MeshCircuitsInit = {}): (components: MeshCircuitsComponents) => MeshCircuitsService {
  return (components) => new DefaultMeshCircuits(components, init)
}

/**
 * `membrane.connect(peerId)`: a direct WebRTC link to `peer` through the mesh,
 * or a relay circuit when WebRTC cannot connect.
 *
 * @example
 * ```ts
 * import { connect } from 'membrane'
 *
 * const { connection, kind } = await connect(node, peerId)
 * const stream = await connection.newStream('/my/protocol/1.0.0')
 * ```
 */
export async function connect (node: { services: { meshCircuits: MeshCircuitsService } }, peer: PeerId, options?: ConnectOptions): Promise<ConnectResult> {
  return node.services.meshCircuits.connect(peer, options)
}
