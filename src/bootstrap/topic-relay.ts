import { serviceDependencies } from '@libp2p/interface'
import { DEFAULT_MAX_RELAYED_TOPICS } from './constants.js'
import type { GossipSub, SubscriptionChangeData } from '@libp2p/gossipsub'
import type { ComponentLogger, Libp2pEvents, Logger, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

/** A member uses a handful of topics; a NAT may hold a few dozen members */
export const DEFAULT_MAX_TOPICS_PER_PEER = 32
export const DEFAULT_MAX_TOPICS_PER_IP = 256

export interface TopicRelayInit {
  /**
   * The most topics joined on members' behalf in total
   *
   * @default 1024
   */
  maxTopics?: number
  /**
   * The most topics joined on behalf of one peer (one connection's identity)
   *
   * @default 32
   */
  maxTopicsPerPeer?: number
  /**
   * The most topic requests taken from all peers behind one IP address
   * (identities are free, addresses are not)
   *
   * @default 256
   */
  maxTopicsPerIp?: number
}

export interface TopicRelayComponents {
  pubsub: GossipSub
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface TopicRelayStats {
  /** Topics joined on members' behalf now */
  topics: number
  /** Topic requests taken (a peer counted for a topic) */
  requests: number
  /** Requests refused by the per-peer, per-IP or total bound */
  refused: number
  /** Topics left because no member subscribed to them any more */
  released: number
}

interface Requester {
  host: string
  topics: Set<string>
}

/**
 * Gossipsub forwards only topics a node has joined. A bootstrap peer does not
 * know its members' topics in advance, so it joins each topic a member
 * announces and so forwards between members that are not yet linked to each
 * other. Each member's requests are bounded (per peer, per IP, in total), and
 * a topic is left once no member that asked for it is subscribed.
 */
export class DefaultTopicRelay implements Startable {
  private readonly components: TopicRelayComponents
  private readonly log: Logger
  private readonly maxTopics: number
  private readonly maxTopicsPerPeer: number
  private readonly maxTopicsPerIp: number
  /** Joined topic → the peers whose subscription keeps it joined */
  private readonly joined = new Map<string, Set<string>>()
  private readonly requesters = new Map<string, Requester>()
  /** Requests taken per IP address */
  private readonly perHost = new Map<string, number>()
  private readonly counts = { refused: 0, released: 0 }

  constructor (components: TopicRelayComponents, init: TopicRelayInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:topic-relay')
    this.maxTopics = init.maxTopics ?? DEFAULT_MAX_RELAYED_TOPICS
    this.maxTopicsPerPeer = init.maxTopicsPerPeer ?? DEFAULT_MAX_TOPICS_PER_PEER
    this.maxTopicsPerIp = init.maxTopicsPerIp ?? DEFAULT_MAX_TOPICS_PER_IP
    this.onSubscriptionChange = this.onSubscriptionChange.bind(this)
    this.onPeerDisconnect = this.onPeerDisconnect.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/topic-relay'
  readonly [serviceDependencies]: string[] = ['@libp2p/pubsub']

  start (): void {
    this.components.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
  }

  stop (): void {
    this.components.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    this.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.joined.clear()
    this.requesters.clear()
    this.perHost.clear()
  }

  /** The topics joined on members' behalf */
  topics (): string[] {
    return [...this.joined.keys()]
  }

  stats (): TopicRelayStats {
    let requests = 0
    for (const peers of this.joined.values()) {
      requests += peers.size
    }
    return { topics: this.joined.size, requests, ...this.counts }
  }

  private onSubscriptionChange (evt: CustomEvent<SubscriptionChangeData>): void {
    const { peerId, subscriptions } = evt.detail
    for (const { topic, subscribe } of subscriptions) {
      if (subscribe) {
        this.request(peerId, topic)
      } else {
        this.withdraw(peerId.toString(), topic)
      }
    }
  }

  private onPeerDisconnect (evt: CustomEvent<PeerId>): void {
    const key = evt.detail.toString()
    const requester = this.requesters.get(key)
    for (const topic of requester?.topics ?? []) {
      this.withdraw(key, topic)
    }
  }

  /** `peer` subscribed to `topic`: join it for them unless a bound says no */
  private request (peer: PeerId, topic: string): void {
    const key = peer.toString()
    const peers = this.joined.get(topic)
    if (peers?.has(key) === true) {
      return
    }
    if (peers == null && this.components.pubsub.getTopics().includes(topic)) {
      // this node's own topic: joined anyway, not on anyone's behalf
      return
    }
    const requester = this.requesters.get(key) ?? { host: this.hostOf(peer), topics: new Set<string>() }
    const refusal = requester.topics.size >= this.maxTopicsPerPeer
      ? `${this.maxTopicsPerPeer} topics already relayed for this peer`
      : (this.perHost.get(requester.host) ?? 0) >= this.maxTopicsPerIp
          ? `${this.maxTopicsPerIp} topics already relayed for ${requester.host}`
          : peers == null && this.joined.size >= this.maxTopics
            ? `${this.maxTopics} topics already relayed`
            : undefined
    if (refusal != null) {
      this.counts.refused++
      this.log.trace('not relaying topic %s for %p: %s', topic, peer, refusal)
      return
    }
    requester.topics.add(topic)
    this.requesters.set(key, requester)
    this.perHost.set(requester.host, (this.perHost.get(requester.host) ?? 0) + 1)
    if (peers == null) {
      this.joined.set(topic, new Set([key]))
      this.components.pubsub.subscribe(topic)
      this.log('relaying topic %s', topic)
    } else {
      peers.add(key)
    }
  }

  /** `peer` left `topic` (or disconnected): leave it once nobody who asked for it remains */
  private withdraw (key: string, topic: string): void {
    const peers = this.joined.get(topic)
    const requester = this.requesters.get(key)
    if (peers?.delete(key) !== true || requester == null) {
      return
    }
    requester.topics.delete(topic)
    if (requester.topics.size === 0) {
      this.requesters.delete(key)
    }
    const left = (this.perHost.get(requester.host) ?? 1) - 1
    if (left <= 0) {
      this.perHost.delete(requester.host)
    } else {
      this.perHost.set(requester.host, left)
    }
    if (peers.size === 0) {
      this.joined.delete(topic)
      this.components.pubsub.unsubscribe(topic)
      this.counts.released++
      this.log('released topic %s', topic)
    }
  }

  /** The IP address `peer` is connected from; relayed links count towards the relay's */
  private hostOf (peer: PeerId): string {
    const connection = this.components.connectionManager.getConnections(peer)[0]
    const ip = connection?.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
    return ip?.value ?? 'unknown'
  }
}

/** The topic relay service's type */
export type TopicRelay = DefaultTopicRelay

export function topicRelay (init: TopicRelayInit = {}): (components: TopicRelayComponents) => TopicRelay {
  return (components) => new DefaultTopicRelay(components, init)
}
