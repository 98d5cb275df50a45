/**
 * A STUN binding service (RFC 5389, binding requests only) for bootstrap
 * peers, so members behind NATs learn their server-reflexive address without
 * a public STUN server.
 *
 * Limits, by design:
 * - answers only well-formed binding requests (cookie, length, attribute
 *   layout, FINGERPRINT when present); no authentication, no CHANGE-REQUEST
 *   (RFC 5780), no TCP/TLS, no RFC 3489 clients; everything else is dropped
 *   without a reply;
 * - the response holds XOR-MAPPED-ADDRESS only, so it is never larger than
 *   the request plus the mapped address (no amplification);
 * - rate-limited per source IP address and over all sources.
 */
import { DefaultStunServer } from './stun-server.js'
import type { ComponentLogger, Startable } from '@libp2p/interface'

export { DEFAULT_STUN_PORT, DEFAULT_MAX_REQUESTS_PER_SOURCE, DEFAULT_RATE_WINDOW, DEFAULT_MAX_REQUESTS_PER_SECOND, MAX_REQUEST_SIZE } from './constants.js'
export { MalformedStunMessageError, StunListenError } from './errors.js'
export { parseBindingRequest, encodeBindingSuccess } from './message.js'

export interface StunServerInit {
  /**
   * The address to listen on
   *
   * @default '127.0.0.1'
   */
  host?: string
  /**
   * The UDP port; 0 picks a free one
   *
   * @default 3478
   */
  port?: number
  /**
   * Requests answered per source IP address per `rateWindow`
   *
   * @default 50
   */
  maxRequestsPerSource?: number
  /**
   * The window of the per-source limit, in ms
   *
   * @default 10000
   */
  rateWindow?: number
  /**
   * Requests answered per second over all sources
   *
   * @default 2000
   */
  maxRequestsPerSecond?: number
}

export interface StunServerStats {
  /** Datagrams received */
  received: number
  /** Binding success responses sent */
  answered: number
  /** Datagrams dropped as not a well-formed binding request */
  malformed: number
  /** Well-formed requests dropped by a rate limit */
  rateLimited: number
}

export interface StunServer extends Startable {
  /** The bound UDP port (0 before start) */
  readonly port: number
  stats(): StunServerStats
}

export interface StunServerComponents {
  logger: ComponentLogger
}

/**
 * @example
 * ```ts
 * services: { stun: stunServer({ host: '0.0.0.0', port: 3478 }) }
 * ```
 */
export function stunServer (init: StunServerInit = {}): (components: StunServerComponents) => StunServer {
  return (components) => new DefaultStunServer(components, init)
}
