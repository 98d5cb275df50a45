import { DefaultChannels } from './channels.js'
import type { Query } from './query.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { ComponentLogger, PeerId, PrivateKey } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { CHANNEL_TOPIC_PREFIX, INTEREST_TOPIC, ROUTE_PROTOCOL, MAX_QUERY_SIZE, MAX_QUERY_DEPTH, MAX_QUERIES_PER_CHANNEL } from './constants.js'
export { InvalidQueryError, QueryTooLargeError, UnsafeKeyError, DecodeError, InvalidMessageError, InvalidChannelError } from './errors.js'
export { compileQuery, parseQuery, QUERY_OPERATORS } from './query.js'
export { encodeJson, decodeJson } from './codec.js'
export type { Query, CompiledQuery } from './query.js'

/**
 * How a channel's messages travel.
 * - `broadcast`: on the channel's gossipsub topic to every member that opened
 *   the channel; queries are matched at the receiver.
 * - `interest`: members announce their queries; a message goes only towards
 *   peers with a matching query, along the reverse path of their
 *   announcements, and peers with no interested peer behind them never see it.
 */
export type ChannelRouting = 'broadcast' | 'interest'

/** How a channel turns values into bytes and back, and which values it accepts */
export interface ChannelCodec<T> {
  /**
   * Turn a value into bytes
   *
   * @default UTF-8 JSON
   */
  encode?(value: T): Uint8Array

  /**
   * Turn received bytes into a value; throw to reject the message
   *
   * @default UTF-8 JSON, refusing `__proto__`/`constructor`/`prototype` keys
   */
  decode?(data: Uint8Array): T

  /**
   * Accept or refuse a decoded value. Runs on publish and on every receipt,
   * including at forwarders: a refused message is not delivered, not
   * forwarded, and lowers the sender's gossipsub score.
   *
   * @default accept every decodable value
   */
  validate?(value: T): boolean

  /**
   * The app's content id for a value (Membrane's "constant parameters"): a
   * second message with an id seen within the dedup window is neither
   * delivered nor forwarded, whoever published it.
   *
   * @default none - only gossipsub's (author, seqno) deduplication applies
   */
  id?(value: T): string

  /**
   * @default 'broadcast'
   */
  routing?: ChannelRouting

  /**
   * The largest encoded message, in bytes
   *
   * @default 65536
   */
  maxMessageSize?: number
}

/** A verified, validated, deduplicated message on a channel */
export interface ChannelMessage<T> {
  channel: string
  value: T
  /** The author, whose signature was verified */
  from: PeerId
  /** The neighbour that passed it on to us */
  receivedFrom: PeerId
  /** The app's content id when the channel defines one, otherwise the transport message id */
  id: string
}

export type ChannelHandler<T> = (message: ChannelMessage<T>) => void

export interface ChannelPublishResult {
  /** The neighbours the message was sent to directly (none when nobody is interested) */
  recipients: PeerId[]
}

export interface Channel<T = unknown> {
  readonly name: string
  readonly routing: ChannelRouting
  /** The gossipsub topic of a broadcast channel */
  readonly topic: string

  /**
   * Validate, encode, sign and send `value`.
   *
   * @throws {InvalidMessageError | MessageTooLargeError}
   * @example
   * ```ts
   * await pets.publish({ type: 4, age: 7 })
   * ```
   */
  publish(value: T): Promise<ChannelPublishResult>

  /**
   * Call `handler` for every message on the channel, or only those matching
   * `query` (MongoDB syntax). On an `interest` channel the query is announced
   * so matching messages are routed here. Returns a function that removes the
   * subscription.
   *
   * @throws {InvalidQueryError | QueryTooLargeError | UnsafeKeyError}
   * @example
   * ```ts
   * const stop = pets.subscribe({ type: { $in: [1, 4, 5] }, age: { $gt: 4 } }, (msg) => {
   *   console.log(msg.from.toString(), msg.value)
   * })
   * ```
   */
  subscribe(handler: ChannelHandler<T>): () => void
  subscribe(query: Query, handler: ChannelHandler<T>): () => void

  /** Leave the channel: drop its subscriptions and stop forwarding it */
  close(): void
}

export interface ChannelStats {
  /** Routed messages this node authored and sent */
  published: number
  /** Routed messages received (first copies) */
  received: number
  /** Routed message copies passed on to a neighbour (including our own) */
  forwarded: number
  /** Routed messages refused (bad signature, undecodable, refused by `validate`) */
  rejected: number
  /** Routed messages dropped as duplicates (same author and seqno, or same content id) */
  duplicates: number
  /** Other peers' interest announcements taken into the routing table (new, updated or withdrawn) */
  announcementsLearned: number
}

export interface Channels {
  /**
   * Open the channel `name` (the same codec on every member). A broadcast
   * channel joins its gossipsub topic right away, so the node forwards and
   * validates it even without subscriptions of its own.
   *
   * @throws {InvalidChannelError}
   * @example
   * ```ts
   * const pets = node.services.channels.channel<{ type: number, age: number }>('pets', {
   *   validate: (v) => Number.isInteger(v.type) && typeof v.age === 'number',
   *   id: (v) => `${v.type}:${v.age}`
   * })
   * ```
   */
  channel<T = unknown>(name: string, codec?: ChannelCodec<T>): Channel<T>

  /** Peers whose announced interests include `channel` (interest routing's view) */
  interestedPeers(channel: string): PeerId[]

  /** Counters of interest routing: routed messages and announcements */
  stats(): ChannelStats
}

export interface ChannelsInit {
  /**
   * How long an interest announcement stays valid
   *
   * @default 60000
   */
  interestTtl?: number

  /**
   * How often interests are re-announced
   *
   * @default 20000
   */
  interestRefresh?: number

  /**
   * The deadline for sending or receiving one routed message
   *
   * @default 10000
   */
  routeTimeout?: number
}

export interface ChannelsComponents {
  pubsub: GossipSub
  registrar: Registrar
  connectionManager: ConnectionManager
  privateKey: PrivateKey
  peerId: PeerId
  logger: ComponentLogger
}

/**
 * Typed channels and query subscriptions on top of gossipsub. Requires a
 * gossipsub service named `pubsub` with the `StrictSign` signature policy.
 *
 * @example
 * ```ts
 * const node = await createMembrane({ bootstrap: [addr] })
 * const pets = node.services.channels.channel('pets')
 * pets.subscribe({ age: { $gt: 4 } }, (msg) => { console.log(msg.value) })
 * await pets.publish({ type: 4, age: 7 })
 * ```
 */
export function channels (init: ChannelsInit = {}): (components: ChannelsComponents) => Channels {
  return (components) => new DefaultChannels(components, init)
}
