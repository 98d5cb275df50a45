import { DefaultMeshCircuits } from './circuits.js'
import { MeshCircuitTransport } from './transport.js'
import type { ComponentLogger, Connection, ConnectionGater, PeerId, Transport, Upgrader } from '@libp2p/interface'
import type { ConnectionManager, Registrar, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProgressEvent } from 'progress-events'

export { CIRCUIT_PROTOCOL, CIRCUIT_MULTIADDR_NAME, CIRCUIT_MULTIADDR_CODE, DEFAULT_MAX_HOPS, DEFAULT_SIGNALING_LIMIT, DEFAULT_RELAY_LIMIT, DEFAULT_MAX_CIRCUITS_PER_PEER, DEFAULT_MAX_CIRCUITS, DEFAULT_MAX_RELAY_CIRCUITS, DEFAULT_FORWARD_RATE, DEFAULT_RATE_WINDOW, DEFAULT_WEBRTC_ATTEMPTS, DEFAULT_WEBRTC_ATTEMPT_TIMEOUT } from './constants.js'
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

/** Progress of `connect()`, in order; libp2p's own dial events are passed through too */
export type ConnectProgressEvent =
  | ProgressEvent<'route', { target: PeerId, route?: PeerId[] }>
  | ProgressEvent<'circuit', { target: PeerId, route: PeerId[], mode: CircuitMode }>
  | ProgressEvent<'noise', { target: PeerId, remotePeer: PeerId }>
  | ProgressEvent<'signaling', { target: PeerId, attempt: number }>
  | ProgressEvent<'webrtc', { target: PeerId, attempt: number }>

export interface ConnectOptions {
  /**
   * The relaying peers to use, nearest first (`[self, …, target]`, as the
   * network map's `path()` returns, is accepted too)
   *
   * @default the router's path
   */
  route?: PeerId[]

  /** Aborts the whole operation */
  signal?: AbortSignal

  onProgress?(evt: ConnectProgressEvent | ProgressEvent): void

  /**
   * Try to upgrade to a direct WebRTC link
   *
   * @default true
   */
  webrtc?: boolean

  /**
   * Fall back to an end-to-end encrypted relay circuit when WebRTC fails
   *
   * @default true
   */
  relay?: boolean
}

export interface ConnectResult {
  /** The link to the target: a direct WebRTC connection, or a relay circuit */
  connection: Connection
  /**
   * `webrtc`: a direct WebRTC connection (the signaling circuit was closed).
   * `circuit`: a relay circuit through the mesh, Noise end to end, bounded by
   * the hops' relay limits. `existing`: WebRTC failed and an existing
   * unlimited connection to the target was kept.
   */
  kind: 'webrtc' | 'circuit' | 'existing'
  /** Why WebRTC did not connect, when it did not */
  webrtcError?: Error
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
   * How long one WebRTC attempt may take, in ms. Short, so a transient
   * failure (the @libp2p/webrtc init-channel race) costs one attempt, not the
   * whole dial.
   *
   * @default 4000
   */
  webrtcAttemptTimeout?: number

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
   * Open a direct WebRTC link to any member reachable through the mesh:
   * a signaling circuit to it (Noise-authenticated end to end), the stock
   * `/webrtc-signaling/0.0.1` exchange over that circuit, then the circuit is
   * closed. If WebRTC cannot connect, a relay circuit is returned instead.
   *
   * @example
   * ```ts
   * const { connection, kind } = await node.services.circuit.connect(peerId, {
   *   onProgress: (evt) => { console.log(evt.type) }
   * })
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
 *   services: { identify: identify(), circuit: meshCircuits() }
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
 * const { connection, kind } = await node.services.circuit.connect(peerId, { route: [b, c] })
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
export async function connect (node: { services: { circuit: MeshCircuitsService } }, peer: PeerId, options?: ConnectOptions): Promise<ConnectResult> {
  return node.services.circuit.connect(peer, options)
}
