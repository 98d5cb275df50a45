import { DEFAULT_MIN_PEERS } from './constants.js'
import { TopologyOptionsError } from './errors.js'
import { DefaultTopology } from './topology.js'
import type { MeshCircuitsService } from '../circuit/index.js'
import type { LinkKind, NetworkMap } from '../network-map/index.js'
import type { PeerExchange } from '../peer-exchange/index.js'
import type { ComponentLogger, Libp2pEvents, PeerId, PeerStore, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, TransportManager } from '@libp2p/interface-internal'

export { DEFAULT_MIN_PEERS, DEFAULT_INTERVAL as DEFAULT_TOPOLOGY_INTERVAL, TOPOLOGY_TAG } from './constants.js'
export { TopologyOptionsError, LinkAttemptError } from './errors.js'

/** A peer that joined or left this node's neighbourhood (a link both ends' map records confirm) */
export interface NeighbourEvent {
  id: PeerId
  /** How the link runs, as the map reports it */
  kind: LinkKind
  /** The peer is a bootstrap peer (first contact), not a mesh member */
  bootstrap: boolean
}

/** Why the topology made or closed a link */
export type TopologyAction =
  | 'add' // below minPeers: a link to a far or weakly connected member
  | 'bridge' // a part of the mesh was reachable only through a bootstrap peer
  | 'upgrade' // a relayed or circuit link became direct WebRTC
  | 'trim' // above maxPeers: a link that is not a bridge was closed
  | 'drop-bootstrap' // enough member links: first contact is over

export interface TopologyActionEvent {
  action: TopologyAction
  peer: PeerId
  /** Set when the attempt failed (a LinkAttemptError) */
  error?: Error
}

export interface TopologyEvents {
  /** A link to `id` appeared in the map (both ends list each other), as Membrane's onNewPeer */
  'peer:join': CustomEvent<NeighbourEvent>
  /** A link to `id` left the map, as Membrane's onLostPeer */
  'peer:leave': CustomEvent<NeighbourEvent>
  /** The policy acted (for logs, metrics and tests) */
  action: CustomEvent<TopologyActionEvent>
}

export interface TopologyStats {
  /** Member links now (bootstrap peers excluded) */
  degree: number
  /** Policy rounds run since start */
  rounds: number
  added: number
  bridged: number
  upgraded: number
  trimmed: number
  bootstrapsDropped: number
  failedAttempts: number
}

export interface Topology extends TypedEventTarget<TopologyEvents> {
  readonly minPeers: number
  readonly maxPeers: number

  /** Members this node holds a link to (bootstrap peers and non-members excluded) */
  neighbours(): PeerId[]

  /**
   * True while this node cannot stay in the mesh by itself: it holds no
   * member link, or the manager is stopped or disabled. `firstContact` asks
   * this before it redials a bootstrap peer.
   */
  needsBootstrap(): boolean

  /**
   * True while the manager is dialling a peer to link to it, or its map still
   * names a member it may dial (not backed off): a heal after a lost link
   * may put this node back in the mesh in a moment. `firstContact` gives a
   * node that `needsBootstrap()` but is `linking()` up to its `healWait`
   * before it redials a bootstrap peer.
   */
  linking(): boolean

  /**
   * Run one round of the policy now and wait for its dials and closes
   *
   * @example
   * ```ts
   * await node.services.topology.rebalance()
   * ```
   */
  rebalance(): Promise<void>

  stats(): TopologyStats
}

export interface TopologyInit {
  /**
   * Add links while this node has fewer member links than this
   *
   * @default min(3, maxPeers)
   */
  minPeers?: number

  /**
   * Trim links while this node has more member links than this (Easypeers' `maxPeers`)
   *
   * @default 6
   */
  maxPeers?: number

  /**
   * Make and close links. `false` (the documented opt-out) leaves connections
   * alone and only emits `peer:join` / `peer:leave`; the node then stays on
   * its bootstrap peers.
   *
   * @default true
   */
  enabled?: boolean

  /**
   * How often the policy runs, in ms (±`jitter`)
   *
   * @default 3000
   */
  interval?: number

  /**
   * The random spread of each round, as a fraction of `interval`
   *
   * @default 0.5
   */
  jitter?: number

  /**
   * Deadline for one link attempt, in ms
   *
   * @default 10000
   */
  dialTimeout?: number

  /**
   * New links started per round when below `minPeers`
   *
   * @default 2
   */
  maxAddsPerRound?: number

  /**
   * A new link is not trimmed for this long, in ms
   *
   * @default 10000
   */
  gracePeriod?: number

  /**
   * A trimmed or lost peer is not re-added for this long unless nothing else is left, in ms
   *
   * @default 30000
   */
  cooldown?: number

  /**
   * First back-off after a failed link attempt, doubled per failure up to `backoffMax`, in ms
   *
   * @default 2000
   */
  backoffBase?: number

  /**
   * @default 60000
   */
  backoffMax?: number

  /**
   * Close links to bootstrap peers once this node has `minPeers` member links
   * and the mesh stays connected without them. A bootstrap peer that holds
   * this node's relay reservation (its only way to be dialed) is kept.
   *
   * @default true
   */
  dropBootstraps?: boolean

  /**
   * Dial members directly when the map lists addresses this node can dial
   * (TCP, WebSockets) before trying WebRTC through the mesh
   *
   * @default true
   */
  directDial?: boolean
}

export interface TopologyComponents {
  peerId: PeerId
  peerStore: PeerStore
  connectionManager: ConnectionManager
  transportManager: TransportManager
  addressManager: AddressManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  /** The `networkMap` service (capability `@membrane/network-map`) */
  networkMap: NetworkMap
  /** The `circuit` service (`@membrane/circuit`), for links to members with no dialable address */
  meshCircuits: MeshCircuitsService
  /** The `peerExchange` service (`@membrane/peer-exchange`), for the bootstrap peers this node knows */
  peerExchange: PeerExchange
}

/**
 * The topology manager: keeps this member's degree within
 * `[minPeers, maxPeers]`, prefers direct links, bridges weakly connected parts
 * of the mesh, never trims a bridge, leaves bootstrap peers once first contact
 * is over, and heals after churn. Needs the `networkMap` and `circuit`
 * services. The policy is described in the README's Topology section.
 *
 * @example
 * ```ts
 * const node = await createMembrane({ bootstrap: [addr], minPeers: 3, maxPeers: 6 })
 * node.services.topology.addEventListener('peer:join', (evt) => {
 *   console.log('new neighbour', evt.detail.id.toString())
 * })
 * ```
 */
export function topology (init: TopologyInit = {}): (components: TopologyComponents) => Topology {
  const maxPeers = init.maxPeers ?? 6
  const minPeers = init.minPeers ?? Math.min(DEFAULT_MIN_PEERS, maxPeers)
  if (!Number.isInteger(maxPeers) || !Number.isInteger(minPeers) || maxPeers < 1 || minPeers < 0 || minPeers > maxPeers) {
    throw new TopologyOptionsError(`need integers 0 <= minPeers <= maxPeers, maxPeers >= 1; got minPeers ${minPeers}, maxPeers ${maxPeers}`)
  }
  return (components) => new DefaultTopology(components, { ...init, minPeers, maxPeers })
}
