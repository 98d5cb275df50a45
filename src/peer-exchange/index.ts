import { DefaultPeerExchange } from './peer-exchange.js'
import type { ComponentLogger, PeerId, PeerStore, Startable, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export { PROTOCOL as PEER_EXCHANGE_PROTOCOL, BOOTSTRAP_TAG } from './constants.js'
export { InvalidPeerExchangeError } from './errors.js'

export interface ExchangedPeer {
  id: PeerId
  addrs: Multiaddr[]
  bootstrap: boolean
}

export interface PeerExchangeInit {
  /**
   * Answer requests (bootstrap peers). Members only ask.
   *
   * @default false
   */
  serve?: boolean
  /**
   * This node is a bootstrap peer: it dials the other bootstrap peers it learns
   * of and keeps them connected (the bootstrap mesh)
   *
   * @default false
   */
  bootstrap?: boolean
  /**
   * Members in a response's random sample
   *
   * @default 8
   */
  sampleSize?: number
  /**
   * How often to ask a connected bootstrap peer again, in ms
   *
   * @default 300000
   */
  refreshInterval?: number
  /**
   * When a member loses every bootstrap peer, dial another one it knows
   *
   * @default true
   */
  failover?: boolean
  /**
   * Consulted before a failover: return false when this member no longer
   * needs a bootstrap peer (the topology manager holds enough member links)
   *
   * @default () => true
   */
  needsBootstrap?(): boolean
}

export interface PeerExchange extends Startable {
  /** Bootstrap peers this node knows of (configured or learned) */
  knownBootstraps(): PeerId[]
  /** Ask `peer` for a sample of peers; the answer is also merged into the peer store */
  exchange(peer: PeerId, options?: { signal?: AbortSignal }): Promise<ExchangedPeer[]>
}

export interface PeerExchangeComponents {
  peerId: PeerId
  peerStore: PeerStore
  registrar: Registrar
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/**
 * Peer exchange (`/membrane/px/1.0.0`): a bootstrap peer hands a joining
 * member every bootstrap peer it knows plus a small random sample of members,
 * so a member that loses its bootstrap peer finds another, and bootstrap peers
 * given one seed find the rest.
 *
 * @example
 * ```ts
 * services: { peerExchange: peerExchange({ serve: true, bootstrap: true }) }
 * ```
 */
export function peerExchange (init: PeerExchangeInit = {}): (components: PeerExchangeComponents) => PeerExchange {
  return (components) => new DefaultPeerExchange(components, init)
}
