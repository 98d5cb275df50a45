/**
 * One answer to "what kind of link is this connection" and "which connection
 * to a peer should carry this stream". Every service asks these helpers; none
 * tests address strings of its own.
 */
import { CODE_P2P, CODE_P2P_CIRCUIT } from '@multiformats/multiaddr'
import { WebRTC, WebRTCDirect } from '@multiformats/multiaddr-matcher'
import { isCircuitAddress } from '../circuit/address.js'
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * - `direct`: TCP or WebSockets, no relay on the path
 * - `webrtc`: a WebRTC or WebRTC-direct peer connection, no relay on the path
 * - `relay`: a circuit relay v2 connection (limited or not)
 * - `circuit`: a Membrane mesh circuit (`/membrane-circuit`), end-to-end encrypted through other members
 */
export type LinkKind = 'direct' | 'webrtc' | 'relay' | 'circuit'

/** Lower is better: the order {@link bestConnection} prefers */
export const LINK_KIND_RANK: Readonly<Record<LinkKind, number>> = { direct: 0, webrtc: 1, circuit: 2, relay: 3 }

/** The kind of link an address names */
export function addressKind (ma: Multiaddr): LinkKind {
  if (isCircuitAddress(ma)) {
    return 'circuit'
  }
  // `/p2p-circuit/webrtc` is a WebRTC link signaled through a relay: once up, it crosses no relay
  if (WebRTC.matches(ma) || WebRTCDirect.matches(ma)) {
    return 'webrtc'
  }
  if (ma.getComponents().some(c => c.code === CODE_P2P_CIRCUIT)) {
    return 'relay'
  }
  return 'direct'
}

/** The kind of link a connection is */
export function linkKind (connection: Connection): LinkKind {
  return addressKind(connection.remoteAddr)
}

/** True for links that cross no other peer: TCP, WebSockets, WebRTC */
export function isDirectLink (connection: Connection): boolean {
  const kind = linkKind(connection)
  return kind === 'direct' || kind === 'webrtc'
}

/** True for addresses this node can dial without signaling or a relay (TCP, WebSockets) */
export function isDialableDirectAddress (ma: Multiaddr): boolean {
  return addressKind(ma) === 'direct'
}

/**
 * The relay in a circuit relay v2 address (`…/p2p/<relay>/p2p-circuit…`), as
 * a PeerId string; undefined for an address that names no relay
 */
export function relayOf (ma: Multiaddr): string | undefined {
  const components = ma.getComponents()
  const circuit = components.findIndex(c => c.code === CODE_P2P_CIRCUIT)
  const before = circuit > 0 ? components[circuit - 1] : undefined
  return before?.code === CODE_P2P ? before.value : undefined
}

/** The members of a WebRTC connection's RTCPeerConnection that liveness checks read */
export interface PeerConnectionLike extends EventTarget {
  readonly connectionState: RTCPeerConnectionState
}

/**
 * The RTCPeerConnection under a WebRTC connection, or undefined for other
 * kinds. libp2p keeps it on the connection's multiaddr connection
 * (`@libp2p/webrtc`'s `RTCPeerConnectionMultiaddrConnection.peerConnection`);
 * neither is public API, so this looks for it and gives up quietly.
 */
export function peerConnectionOf (connection: Connection): PeerConnectionLike | undefined {
  const pc = (connection as unknown as { maConn?: { peerConnection?: unknown } }).maConn?.peerConnection
  if (pc == null || typeof pc !== 'object' || typeof (pc as PeerConnectionLike).connectionState !== 'string') {
    return undefined
  }
  return pc as PeerConnectionLike
}

/**
 * True when the connection can carry a stream now: status `open` and, for a
 * WebRTC link, its peer connection `connected` (one still connecting, or
 * `disconnected`, `failed` or `closed`, is dying or not yet alive)
 */
export function isLiveConnection (connection: Connection): boolean {
  if (connection.status !== 'open') {
    return false
  }
  const pc = peerConnectionOf(connection)
  return pc == null || pc.connectionState === 'connected'
}

export interface BestConnectionOptions {
  /**
   * Also consider connections with `limits` (relay v2 reservations,
   * signaling circuits). Only protocols registered with
   * `runOnLimitedConnection: true` may use them.
   *
   * @default false
   */
  allowLimited?: boolean
}

/**
 * The connection that should carry a new stream: live (open, never closing
 * or closed, and for WebRTC a `connected` peer connection, see
 * {@link isLiveConnection}), unlimited unless `allowLimited`, the most direct
 * kind first, then the newest.
 */
export function bestConnection (connections: Iterable<Connection>, options: BestConnectionOptions = {}): Connection | undefined {
  let best: Connection | undefined
  for (const connection of connections) {
    if (!isLiveConnection(connection) || (options.allowLimited !== true && connection.limits != null)) {
      continue
    }
    if (best == null || better(connection, best)) {
      best = connection
    }
  }
  return best
}

function better (a: Connection, b: Connection): boolean {
  const limited = Number(a.limits != null) - Number(b.limits != null)
  if (limited !== 0) {
    return limited < 0
  }
  const rank = LINK_KIND_RANK[linkKind(a)] - LINK_KIND_RANK[linkKind(b)]
  if (rank !== 0) {
    return rank < 0
  }
  return a.timeline.open > b.timeline.open
}
