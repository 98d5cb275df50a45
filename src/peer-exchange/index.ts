import { DefaultPeerExchange } from './peer-exchange.js'
import type { ComponentLogger, PeerId, PeerStore, Startable, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export { PROTOCOL as PEER_EXCHANGE_PROTOCOL, BOOTSTRAP_TAG } from './constants.js'
export { InvalidPeerExchangeError, UntrustedPeerError } from './errors.js'

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
   * The bootstrap peers this node was configured with: multiaddrs ending in
   * `/p2p/<peer id>`, or bare PeerId strings. Only these, and the bootstrap
   * peers they (or peers learnt from them) hand out, are trusted as bootstrap
   * peers: asked for peers, remembered, handed to newcomers and (on a
   * bootstrap peer) kept connected. Any other peer that serves peer exchange is
   * ignored, and nothing it could hand out is dialled.
   *
   * @default []
   */
  trusted?: Array<string | Multiaddr>
}

export interface PeerExchangeStats {
  /** Exchanges answered by trusted bootstrap peers */
  exchanges: number
  /** Peers serving peer exchange that were ignored because nothing configured vouches for them */
  untrustedIgnored: number
}

export interface PeerExchange extends Startable {
  /** Bootstrap peers this node trusts: configured, or learnt from a trusted one */
  knownBootstraps(): PeerId[]
  /** True for a configured bootstrap peer or one learnt from a trusted one */
  isTrusted(peer: PeerId): boolean
  /**
   * Ask the trusted bootstrap peer `peer` for a sample of peers; the answer is
   * merged into the peer store. Rejects with `UntrustedPeerError` for any other peer.
   */
  exchange(peer: PeerId, options?: { signal?: AbortSignal }): Promise<ExchangedPeer[]>
  stats(): PeerExchangeStats
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
 * member every bootstrap peer it trusts plus a small random sample of
 * members, so a member that loses its bootstrap peer finds another (through
 * `firstContact`), and bootstrap peers given one trusted peer learn the ones
 * it trusts. Trust flows only from configuration: see `trusted`.
 *
 * @example
 * ```ts
 * services: { peerExchange: peerExchange({ serve: true, bootstrap: true }) }
 * ```
 */
export function peerExchange (init: PeerExchangeInit = {}): (components: PeerExchangeComponents) => PeerExchange {
  return (components) => new DefaultPeerExchange(components, init)
}
