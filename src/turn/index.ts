/**
 * ICE servers from bootstrap peers (`/membrane/ice/1.0.0`). A bootstrap peer
 * tells the members that reach it the UDP port of its STUN binding service
 * and, when its operator runs coturn beside it, hands out short-lived TURN
 * credentials in coturn's REST API scheme, after proof-of-work when loaded.
 * Members add these servers to their WebRTC ICE configuration, after the
 * app's own.
 */
import { DefaultIceServers } from './ice-servers.js'
import type { ComponentLogger, PeerId, Startable } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

export { PROTOCOL as ICE_PROTOCOL, DEFAULT_CREDENTIAL_TTL, DEFAULT_MAX_REQUESTS_PER_PEER, MAX_TURN_URLS } from './constants.js'
export { IceRateLimitError, InvalidIceMessageError, IceWorkError, InvalidTurnOptionError } from './errors.js'
export { turnCredentials, type TurnCredentials } from './credentials.js'
export { iceConfiguration, encodeForNodeDatachannel } from './ice-servers-config.js'

export interface TurnInit {
  /** coturn's listening URLs, e.g. `turn:turn.example.com:3478?transport=udp` */
  urls: string[]
  /** coturn's `static-auth-secret` */
  secret: string
  /**
   * Credential lifetime in seconds
   *
   * @default 3600
   */
  ttl?: number
}

export interface IceServersServe {
  /** The STUN service's UDP port, if any (read per request: it is known once the service started) */
  stunPort?: () => number | undefined
  /** TURN credentials to hand out */
  turn?: TurnInit
  /** Load relative to the thresholds (as admission): at ≥ 1 TURN credentials cost proof-of-work */
  load?: () => number
  /**
   * Requests per peer per minute
   *
   * @default 5
   */
  maxRequestsPerPeer?: number
}

export interface IceServersInit {
  /**
   * Answer requests (bootstrap peers)
   *
   * @default undefined (members only ask)
   */
  serve?: IceServersServe
  /**
   * Ask the bootstrap peers this node reaches for their servers
   *
   * @default true unless `serve` is set
   */
  request?: boolean
  /**
   * Deadline of one exchange, proof-of-work included, in ms
   *
   * @default 20000
   */
  requestTimeout?: number
}

export interface IceServersStats {
  /** Requests answered (server) */
  served: number
  /** TURN credential sets handed out (server) */
  credentialsIssued: number
  /** Challenges sent (server) */
  challenged: number
  /** Requests refused: rate limit, malformed, wrong work (server) */
  refused: number
  /** Bootstrap peers this member holds servers from (member) */
  sources: number
  /** Failed requests (member) */
  failed: number
}

export interface IceServers extends Startable {
  /** The servers learned from bootstrap peers, for the ICE configuration (expired TURN credentials left out) */
  servers(): RTCIceServer[]
  stats(): IceServersStats
}

export interface IceServersComponents {
  peerId: PeerId
  registrar: Registrar
  logger: ComponentLogger
}

/**
 * @example
 * ```ts
 * // bootstrap peer
 * services: { iceServers: iceServers({ serve: { stunPort: () => 3478, turn: { urls: ['turn:turn.example.com:3478'], secret } } }) }
 * // member: asks every bootstrap peer it reaches
 * services: { iceServers: iceServers() }
 * ```
 */
export function iceServers (init: IceServersInit = {}): (components: IceServersComponents) => IceServers {
  return (components) => new DefaultIceServers(components, init)
}
