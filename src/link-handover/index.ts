/**
 * Long-lived protocol streams follow a peer from a link that closes to the
 * link that remains.
 *
 * libp2p tells topologies (gossipsub, the network map…) about a peer when
 * identify completes on a connection, and again only after the peer fully
 * disconnected. A stream opened on a link that then closes while another link
 * to the same peer stays up (a mesh circuit retired by `connect()` once WebRTC
 * is up, a relayed link the topology trims) is gone, and nothing reopens it:
 * gossipsub keeps the peer, with no stream to send on. This service runs
 * identify again on the best remaining link, which makes libp2p notify the
 * topologies of it, so they open their streams there.
 */
import { DefaultLinkHandover } from './link-handover.js'
import type { AbortOptions, ComponentLogger, Connection, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export interface LinkHandoverComponents {
  events: TypedEventTarget<Libp2pEvents>
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface LinkHandoverInit {
  /**
   * Run identify on `connection` (`node.services.identify.identify`): it
   * dispatches `peer:identify`, and libp2p notifies the topologies of the link
   */
  identify(connection: Connection, options?: AbortOptions): Promise<unknown>

  /**
   * How long the identify on the remaining link may take, in ms
   *
   * @default 10000
   */
  timeout?: number
}

export interface LinkHandoverStats {
  /** Links that closed while another unlimited link to the same peer stayed open */
  handovers: number
  /** Identify runs on the remaining link that failed */
  failures: number
}

export interface LinkHandoverService {
  stats(): LinkHandoverStats
}

/**
 * @example
 * ```ts
 * const identifyService = identify()
 * services: { identify: identifyService, linkHandover: linkHandover({ identify: (c) => node.services.identify.identify(c) }) }
 * ```
 */
export function linkHandover (init: LinkHandoverInit): (components: LinkHandoverComponents) => LinkHandoverService {
  return (components) => new DefaultLinkHandover(components, init)
}
