/**
 * Failure detection on member links.
 *
 * A neighbour that goes silent (its process killed or frozen, its tab gone,
 * its network gone) closes no socket: over WebRTC (UDP) nothing tells the
 * other end, and libp2p's connection monitor pings only every 10 s with a
 * fresh stream per ping. This service keeps one stream open on every
 * unlimited link between two members; each end writes a one-byte beat every
 * second, and a link on which nothing arrived for `silenceTimeout` (3.5 s) is
 * aborted, so the topology heals and the maps drop the link at once.
 *
 * It does not cut healthy links when this node's event loop is slow: the
 * time its own checks ran late is left out of every link's silence, and a link
 * found silent is judged again after one pass of I/O before it is aborted.
 * Bootstrap peers do not run it (their links are first contact, watched by
 * libp2p's connection monitor).
 */
import { DefaultKeepAlive } from './keep-alive.js'
import type { ComponentLogger, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

export { PROTOCOL as KEEP_ALIVE_PROTOCOL, DEFAULT_BEAT_INTERVAL, DEFAULT_SILENCE_TIMEOUT } from './constants.js'
export { LinkSilentError, KeepAliveProtocolError } from './errors.js'

export interface KeepAliveInit {
  /**
   * How often each end of a member link beats, in ms
   *
   * @default 1000
   */
  beatInterval?: number

  /**
   * Abort a member link on which nothing arrived for this long, in ms (time
   * this node's event loop stood still is not counted)
   *
   * @default 3500
   */
  silenceTimeout?: number
}

export interface KeepAliveComponents {
  registrar: Registrar
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface KeepAliveStats {
  /** Links watched now */
  links: number
  /** Links watched since start */
  watched: number
  /** Links aborted because they fell silent */
  lost: number
  beatsSent: number
  beatsReceived: number
  /** Streams aborted for carrying something other than beats */
  protocolErrors: number
  /** How long this node's checks ran late in total, in ms (left out of every link's silence) */
  stalledMs: number
}

export interface KeepAlive {
  stats(): KeepAliveStats
}

/**
 * Abort member links that fall silent. Membrane adds it as the `keepAlive` service.
 *
 * @example
 * ```ts
 * const node = await createMembrane({ keepAlive: { silenceTimeout: 5_000 } })
 * node.services.keepAlive.stats().lost
 * ```
 */
export function keepAlive (init: KeepAliveInit = {}): (components: KeepAliveComponents) => KeepAlive {
  return (components) => new DefaultKeepAlive(components, init)
}
