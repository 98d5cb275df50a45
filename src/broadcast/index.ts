import { DefaultBroadcast } from './broadcast.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { AbortOptions, ComponentLogger, PeerId, TypedEventTarget } from '@libp2p/interface'

export { MAX_MESSAGE_SIZE, MAX_TOPIC_LENGTH } from './constants.js'
export { MessageTooLargeError, InvalidTopicError, NoSubscribersError, NotStartedError } from './errors.js'

/** A verified message received on a topic */
export interface BroadcastMessage {
  /** The topic it was published on */
  topic: string
  /** The payload */
  data: Uint8Array
  /** The author, whose signature over the message was verified (gossipsub StrictSign) */
  from: PeerId
  /** The gossipsub message id, used for deduplication */
  id: string
  /** The author's sequence number */
  sequenceNumber: bigint
  /** The neighbour that forwarded it to us */
  receivedFrom: PeerId
}

export interface PublishResult {
  /** The neighbours the message was sent to directly */
  recipients: PeerId[]
}

export interface PublishOptions {
  /**
   * Succeed even when no connected peer is subscribed to the topic (the
   * message then reaches nobody)
   *
   * @default false
   */
  allowNoSubscribers?: boolean
}

export type BroadcastHandler = (message: BroadcastMessage) => void

export interface BroadcastEvents {
  message: CustomEvent<BroadcastMessage>
}

export interface Broadcast extends TypedEventTarget<BroadcastEvents> {
  /**
   * Sign and publish `data` on `topic`.
   *
   * @example
   * ```ts
   * await node.services.broadcast.publish('chat', new TextEncoder().encode('hi'))
   * ```
   */
  publish(topic: string, data: Uint8Array, options?: PublishOptions): Promise<PublishResult>

  /**
   * Join `topic` and call `handler` for every verified, deduplicated message on
   * it. Returns a function that removes the handler (and leaves the topic when
   * it was the last one).
   *
   * @example
   * ```ts
   * const unsubscribe = node.services.broadcast.subscribe('chat', (msg) => {
   *   console.log(msg.from.toString(), new TextDecoder().decode(msg.data))
   * })
   * ```
   */
  subscribe(topic: string, handler?: BroadcastHandler): () => void

  /** The topics this node is subscribed to */
  topics(): string[]

  /** The connected peers subscribed to `topic` */
  subscribers(topic: string): PeerId[]

  /**
   * The subscribers of `topic` in this node's gossipsub mesh: the peers it
   * forwards the topic to and hears it from. Empty until gossipsub grafts one
   * (its next heartbeat after a subscription is learnt), so it says whether
   * broadcast works, where `subscribers()` says only who is connected.
   *
   * @example
   * ```ts
   * const working = node.services.broadcast.meshPeers('chat').length > 0
   * ```
   */
  meshPeers(topic: string): PeerId[]

  /**
   * Resolve with the connected subscribers of `topic` as soon as there is one
   * and, when this node has joined the topic, one of them is in its gossipsub
   * mesh for the topic (at once if so already), e.g. before the first `publish()` after `createMembrane()`,
   * which would otherwise throw `NoSubscribersError` while the node is still
   * making first contact. Subscribed is not enough: a relaying peer forwards
   * only to its mesh, and grafting a peer whose subscription it has just
   * learnt waits for its next heartbeat, so a message published in between
   * misses this node's neighbourhood. Rejects when `signal` aborts or the
   * service stops.
   *
   * @example
   * ```ts
   * await node.services.broadcast.waitForSubscribers('chat', { signal: AbortSignal.timeout(30_000) })
   * await node.services.broadcast.publish('chat', new TextEncoder().encode('hi'))
   * ```
   */
  waitForSubscribers(topic: string, options?: AbortOptions): Promise<PeerId[]>
}

export interface BroadcastInit {
  /**
   * The largest payload accepted, in bytes. Larger incoming messages are
   * rejected by the topic validator, which lowers the sender's gossipsub score.
   *
   * @default 65536
   */
  maxMessageSize?: number

  /**
   * The longest topic name accepted, in characters
   *
   * @default 256
   */
  maxTopicLength?: number
}

export interface BroadcastComponents {
  pubsub: GossipSub
  logger: ComponentLogger
}

/**
 * A broadcast service on top of gossipsub: signed, validated, deduplicated
 * topic messages with a small, typed API. Requires a gossipsub service named
 * `pubsub` with the `StrictSign` signature policy.
 *
 * @example
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { gossipsub } from '@libp2p/gossipsub'
 * import { identify } from '@libp2p/identify'
 * import { broadcast } from 'membrane'
 *
 * const node = await createLibp2p({
 *   // transports, encrypters, muxers…
 *   services: { identify: identify(), pubsub: gossipsub(), broadcast: broadcast() }
 * })
 * ```
 */
export function broadcast (init: BroadcastInit = {}): (components: BroadcastComponents) => Broadcast {
  return (components) => new DefaultBroadcast(components, init)
}
