/**
 * What one round of the topology policy sees: a snapshot of this node's links
 * and of the network map, in plain data. Every policy is a pure function of a
 * view, so each can be tested without a node.
 */
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** An open link to one peer (all its open connections together) */
export interface LinkView {
  key: string
  id: PeerId
  /** Some connection crosses no relay (TCP, WebSockets, WebRTC) */
  direct: boolean
  /** When the link opened, unix ms */
  linkedAt?: number
}

/** A map node this node could link to */
export interface Candidate {
  key: string
  id: PeerId
  multiaddrs: Multiaddr[]
  /** Hops from this node over member links, `Infinity` when our part of the mesh cannot reach it */
  distance: number
  /** Its member links as the map shows them */
  degree: number
  /** Trimmed or lost recently (hysteresis) */
  cooling: boolean
  /**
   * Its record claims a link that the other end's record, in the map, no
   * longer lists: the record is older than its neighbour's news. A member
   * that died looks like this as soon as its neighbours re-issue (and, its
   * links dropping away, like a member short of links); a live one only
   * until it re-issues its own record
   */
  stale: boolean
  /** A tie-breaker, drawn per round */
  random: number
}

/** Member-to-member adjacency, by PeerId string */
export type Graph = Map<string, Set<string>>

export interface RoundView {
  /** This node's PeerId string */
  self: string
  now: number
  minPeers: number
  maxPeers: number
  /** Every open link, members and bootstrap peers alike */
  links: LinkView[]
  /** Links to mesh members (in the map, not bootstrap peers) */
  members: LinkView[]
  /** Bootstrap peers (map role or learnt) */
  bootstraps: Set<string>
  /** The map's member graph with our own side replaced by our actual links */
  graph: Graph
  /** Hop counts from `self` over `graph` */
  distances: Map<string, number>
  /** Map nodes we hold no link to and may link to now (not backed off, not pending), in any order */
  candidates: Candidate[]
  /** Every node in the map, bootstrap peers included */
  mapNodes: string[]
  /** Link attempts in flight */
  pending: number
}
