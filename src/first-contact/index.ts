import { DefaultFirstContact } from './first-contact.js'
import type { PeerExchange } from '../peer-exchange/index.js'
import type { Topology } from '../topology/index.js'
import type { ComponentLogger, Libp2pEvents, PeerId, PeerStore, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export { DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY, DEFAULT_DIAL_TIMEOUT, DEFAULT_CHECK_INTERVAL, DEFAULT_PROTOCOL_TIMEOUT } from './constants.js'
export { InvalidBootstrapAddressError, BootstrapUnreachableError, NoProtocolError } from './errors.js'
export { bootstrapAddressSorter } from './address-order.js'

/** One failed round of first contact */
export interface BootstrapErrorDetail {
  /**
   * `InvalidBootstrapAddressError` (never retried), `BootstrapUnreachableError`
   * (cause: the last dial error) or `NoProtocolError` (a connection opened but
   * negotiated nothing within `protocolTimeout`; it was closed)
   */
  error: Error
  /** The address concerned, for a malformed one or a connection that negotiated nothing; otherwise every address tried */
  addresses: string[]
  /** Rounds tried so far */
  attempt: number
  /** ms until the next round; absent when nothing is left to retry, or (for a `NoProtocolError`) when other links work and nothing is redialled */
  retryIn?: number
}

export interface FirstContactEvents {
  /** A round of dials to the bootstrap peers failed, a bootstrap connection negotiated no protocol in time, or an address is malformed */
  'bootstrap:error': CustomEvent<BootstrapErrorDetail>
  /** A bootstrap peer is connected (first contact, or re-contact after this node was detached) */
  'bootstrap:connect': CustomEvent<PeerId>
}

export interface FirstContactStats {
  /** Rounds of dials started */
  rounds: number
  /** Rounds in which no bootstrap peer answered */
  failedRounds: number
  /** Rounds that reached a bootstrap peer */
  contacts: number
  /** Bootstrap connections closed because they negotiated no protocol within `protocolTimeout` */
  noProtocol: number
  /** Times a detached node waited for the topology's heal dials (`healWait`) instead of redialling at once */
  healWaits: number
  /** 1 while this node is attached (see `attached()`), else 0 */
  attached: number
}

export interface FirstContactInit {
  /**
   * Bootstrap multiaddrs, each ending in `/p2p/<peer id>`
   *
   * @default []
   */
  bootstrap?: string[]
  /**
   * The wait after the first failed round, in ms; doubled per failed round up to `maxDelay`
   *
   * @default 1000
   */
  initialDelay?: number
  /** @default 60000 */
  maxDelay?: number
  /**
   * Deadline for one round of dials, in ms
   *
   * @default 10000
   */
  dialTimeout?: number
  /**
   * How long a new connection to a bootstrap peer may go without negotiating a
   * protocol (identify completing over it), in ms; then it is closed, a
   * `bootstrap:error` with a `NoProtocolError` is emitted and the bootstrap
   * peers are redialled with the back-off
   *
   * @default 10000
   */
  protocolTimeout?: number
  /**
   * How often attachment is checked besides on every lost link, in ms
   *
   * @default 5000
   */
  checkInterval?: number
  /**
   * A node with no member link left whose topology is dialling members, or
   * may dial one its map names (`topology.linking()`), waits this long for
   * them, in ms, before it redials a bootstrap peer; it redials at once when
   * the topology has nothing left to try
   *
   * @default 2000
   */
  healWait?: number
}

export interface FirstContactComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  /** The `peerExchange` service (`@membrane/peer-exchange`): bootstrap peers learnt from configured ones */
  peerExchange: PeerExchange
  /** The `topology` service (`@membrane/topology`): whether this node holds member links */
  topology: Topology
}

export interface FirstContact extends TypedEventTarget<FirstContactEvents>, Startable {
  /** True once a bootstrap peer was reached */
  readonly connected: boolean
  /** The latest failure, until a bootstrap peer is reached */
  readonly lastError?: BootstrapErrorDetail
  /**
   * True while this node is part of the network: linked to a bootstrap peer,
   * or holding a member link the topology counts. While it is not, this
   * service dials bootstrap peers (configured first, then learnt) with its
   * back-off; nothing else does.
   */
  attached(): boolean
  stats(): FirstContactStats
}

/**
 * First contact and re-contact, in one place: whenever this node is not
 * attached to the mesh (no bootstrap link and no member link; see
 * `attached()`), it dials bootstrap peers, the configured ones first and then
 * those peer exchange learnt from them, doubling the wait between failed
 * rounds (1 s → 60 s). Each failed round is a `bootstrap:error` event, each
 * success a `bootstrap:connect`, so an app can say what is wrong instead of
 * waiting silently. A bootstrap connection that negotiates no protocol within
 * `protocolTimeout` (identify never completes over it) is closed and counts
 * as a failed round: a `bootstrap:error` whose error is a `NoProtocolError`. Malformed addresses are reported once and skipped.
 * `createMembrane({ bootstrap })` installs it as `node.services.firstContact`;
 * it needs the `peerExchange` and `topology` services.
 *
 * @example
 * ```ts
 * node.services.firstContact.addEventListener('bootstrap:error', (evt) => {
 *   console.warn(evt.detail.error.message, 'retry in', evt.detail.retryIn)
 * })
 * ```
 */
export function firstContact (init: FirstContactInit = {}): (components: FirstContactComponents) => FirstContact {
  return (components) => new DefaultFirstContact(components, init)
}
