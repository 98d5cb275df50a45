import { TopicValidatorResult } from '@libp2p/gossipsub'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { debounce, pbStream } from '@libp2p/utils'
import { concat } from 'uint8arrays/concat'
import { fromString } from 'uint8arrays/from-string'
import { MessageTooLargeError, NotStartedError } from '../broadcast/errors.js'
import { penalise, TopicScores } from '../utils/gossip-score.js'
import { decodeJson, encodeJson } from './codec.js'
import * as C from './constants.js'
import { DecodeError, InvalidChannelError, InvalidMessageError, QueryTooLargeError } from './errors.js'
import { Interest, RoutedMessage } from './pb/channels.js'
import { compileQuery, parseQuery } from './query.js'
import { SeenCache } from '../utils/seen-cache.js'
import type { Channel, ChannelCodec, ChannelHandler, ChannelMessage, ChannelPublishResult, ChannelRouting, Channels, ChannelsComponents, ChannelsInit, ChannelStats } from './index.js'
import type { CompiledQuery, Query } from './query.js'
import type { GossipsubMessage, Message, SubscriptionChangeData, TopicValidatorFn } from '@libp2p/gossipsub'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { DebouncedFunction } from '@libp2p/utils'

/** What a peer announced, and the neighbour its announcement first came from */
interface PeerInterest {
  peer: PeerId
  seq: bigint
  expires: number
  /** The next hop towards `peer`: the reverse path of its announcement */
  nextHop: PeerId
  /** Channel name → queries; an empty list means every message */
  channels: Map<string, CompiledQuery[]>
}

interface Subscription<T> {
  query?: CompiledQuery
  handler: ChannelHandler<T>
}

/** A value a forwarder could not decode because it has not opened the channel */
const UNKNOWN = Symbol('unknown value')

function assertChannelName (name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidChannelError('channel name must be a non-empty string')
  }
  if (name.length > C.MAX_CHANNEL_NAME_LENGTH) {
    throw new InvalidChannelError(`channel name is ${name.length} characters, the limit is ${C.MAX_CHANNEL_NAME_LENGTH}`)
  }
}

class DefaultChannel<T> implements Channel<T> {
  readonly name: string
  readonly topic: string
  readonly routing: ChannelRouting
  readonly codec: ChannelCodec<T>
  readonly subscriptions = new Set<Subscription<T>>()
  private readonly owner: DefaultChannels
  private readonly maxMessageSize: number
  /** App content ids seen recently; present only when the codec defines `id` */
  private readonly seen?: SeenCache

  constructor (owner: DefaultChannels, name: string, codec: ChannelCodec<T>) {
    this.owner = owner
    this.name = name
    this.topic = C.CHANNEL_TOPIC_PREFIX + name
    this.codec = codec
    this.routing = codec.routing ?? 'broadcast'
    if (this.routing !== 'broadcast' && this.routing !== 'interest') {
      throw new InvalidChannelError(`routing must be 'broadcast' or 'interest', got ${String(this.routing)}`)
    }
    this.maxMessageSize = Math.min(codec.maxMessageSize ?? C.MAX_MESSAGE_SIZE, C.MAX_MESSAGE_SIZE)
    this.seen = codec.id == null ? undefined : new SeenCache(C.SEEN_CACHE_SIZE, C.SEEN_TTL)
  }

  async publish (value: T): Promise<ChannelPublishResult> {
    return this.owner.publish(this, value)
  }

  subscribe (queryOrHandler: Query | ChannelHandler<T>, maybeHandler?: ChannelHandler<T>): () => void {
    const handler = typeof queryOrHandler === 'function' ? queryOrHandler : maybeHandler
    if (typeof handler !== 'function') {
      throw new TypeError('subscribe needs a handler function')
    }
    const query = typeof queryOrHandler === 'function' ? undefined : compileQuery(queryOrHandler)
    if (query != null && this.subscriptions.size >= C.MAX_QUERIES_PER_CHANNEL) {
      throw new QueryTooLargeError(`a channel holds at most ${C.MAX_QUERIES_PER_CHANNEL} queries`)
    }
    const subscription: Subscription<T> = { query, handler }
    this.subscriptions.add(subscription)
    this.owner.subscriptionsChanged(this)
    return () => {
      if (this.subscriptions.delete(subscription)) {
        this.owner.subscriptionsChanged(this)
      }
    }
  }

  close (): void {
    this.owner.close(this)
  }

  /** Validate and encode a value to publish */
  encode (value: T): Uint8Array {
    this.check(value)
    const data = this.codec.encode == null ? encodeJson(value) : this.codec.encode(value)
    if (!(data instanceof Uint8Array)) {
      throw new InvalidMessageError('the channel encoder must return a Uint8Array')
    }
    if (data.byteLength > this.maxMessageSize) {
      throw new MessageTooLargeError(`message of ${data.byteLength} bytes exceeds the ${this.maxMessageSize} byte limit`)
    }
    return data
  }

  /** Decode and validate a received payload; throws a typed error to reject it */
  decode (data: Uint8Array): T {
    if (data.byteLength > this.maxMessageSize) {
      throw new MessageTooLargeError(`message of ${data.byteLength} bytes exceeds the ${this.maxMessageSize} byte limit`)
    }
    let value: T
    try {
      value = this.codec.decode == null ? decodeJson(data) as T : this.codec.decode(data)
    } catch (err) {
      if (err instanceof Error && (err.name === 'DecodeError' || err.name === 'UnsafeKeyError')) {
        throw err
      }
      throw new DecodeError(`payload does not decode: ${(err as Error).message}`)
    }
    this.check(value)
    return value
  }

  private check (value: T): void {
    let valid: boolean
    try {
      valid = this.codec.validate == null || this.codec.validate(value)
    } catch (err) {
      throw new InvalidMessageError(`validate threw: ${(err as Error).message}`)
    }
    if (valid !== true) {
      throw new InvalidMessageError(`value refused by the "${this.name}" channel's validate`)
    }
  }

  /**
   * The value's content id, and whether it is new. Marks it seen, so a later
   * message with the same id is a duplicate.
   */
  admit (value: T): { id?: string, fresh: boolean } {
    if (this.seen == null || this.codec.id == null) {
      return { fresh: true }
    }
    const id = this.codec.id(value)
    if (this.seen.has(id)) {
      return { id, fresh: false }
    }
    this.seen.add(id)
    return { id, fresh: true }
  }

  /** The JSON queries to announce: `[]` when any subscription takes every message */
  queries (): string[] {
    const queries: string[] = []
    for (const { query } of this.subscriptions) {
      if (query == null) {
        return []
      }
      queries.push(query.json)
    }
    return [...new Set(queries)]
  }

  wants (value: T): boolean {
    for (const { query } of this.subscriptions) {
      if (query == null || query.matches(value)) {
        return true
      }
    }
    return false
  }

  deliver (message: ChannelMessage<T>, log: Logger): void {
    for (const { query, handler } of [...this.subscriptions]) {
      if (query != null && !query.matches(message.value)) {
        continue
      }
      try {
        handler(message)
      } catch (err) {
        log.error('handler on channel %s threw - %e', this.name, err)
      }
    }
  }

  clear (): void {
    this.subscriptions.clear()
    this.seen?.clear()
  }
}

export class DefaultChannels implements Channels, Startable {
  private readonly components: ChannelsComponents
  private readonly log: Logger
  private readonly interestTtl: number
  private readonly interestRefresh: number
  private readonly routeTimeout: number
  private readonly topicScores: TopicScores
  private readonly byName = new Map<string, DefaultChannel<unknown>>()
  private readonly byTopic = new Map<string, DefaultChannel<unknown>>()
  /** Announced interests by author */
  private readonly interests = new Map<string, PeerInterest>()
  /** Routed messages seen, by author and seqno */
  private readonly routedSeen = new SeenCache(C.SEEN_CACHE_SIZE, C.SEEN_TTL)
  /** Values decoded by a topic validator, handed to the message event without decoding twice */
  private readonly validated = new WeakMap<Message, unknown>()
  private readonly counters: ChannelStats = { published: 0, received: 0, forwarded: 0, rejected: 0, duplicates: 0 }
  private readonly scheduleAnnounce: DebouncedFunction
  private interestSeq = 0n
  private routeSeqno = 0n
  private announcedInterest = false
  private refreshTimer?: ReturnType<typeof setInterval>
  private shutdownController = new AbortController()
  private started = false

  constructor (components: ChannelsComponents, init: ChannelsInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:channels')
    this.interestTtl = Math.min(init.interestTtl ?? C.INTEREST_TTL, C.MAX_INTEREST_TTL)
    this.interestRefresh = init.interestRefresh ?? C.INTEREST_REFRESH
    this.routeTimeout = init.routeTimeout ?? C.ROUTE_TIMEOUT
    this.topicScores = new TopicScores(components.pubsub)
    this.onGossipMessage = this.onGossipMessage.bind(this)
    this.onSubscriptionChange = this.onSubscriptionChange.bind(this)
    this.onRouteStream = this.onRouteStream.bind(this)
    this.scheduleAnnounce = debounce(async () => { await this.announce() }, C.ANNOUNCE_DEBOUNCE)
  }

  readonly [Symbol.toStringTag] = '@membrane/channels'
  readonly [serviceCapabilities]: string[] = ['@membrane/channels']
  readonly [serviceDependencies]: string[] = ['@libp2p/pubsub']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    const { pubsub } = this.components
    pubsub.addEventListener('gossipsub:message', this.onGossipMessage)
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.topicValidators.set(C.INTEREST_TOPIC, this.interestValidator())
    await this.components.registrar.handle(C.ROUTE_PROTOCOL, this.onRouteStream, {
      maxInboundStreams: C.MAX_INBOUND_STREAMS,
      maxOutboundStreams: C.MAX_OUTBOUND_STREAMS
    })
    // seqnos start at the clock so a restarted node's messages are not taken for duplicates
    this.routeSeqno = BigInt(Date.now()) * 1000n
  }

  /** Gossipsub accepts subscriptions (and score parameters) only once it has started */
  afterStart (): void {
    this.topicScores.install(C.INTEREST_TOPIC)
    this.components.pubsub.subscribe(C.INTEREST_TOPIC)
    this.refreshTimer = setInterval(() => { this.refresh() }, this.interestRefresh)
    this.started = true
  }

  /** Leave the channel topics while gossipsub still runs */
  beforeStop (): void {
    this.started = false
    clearInterval(this.refreshTimer)
    this.scheduleAnnounce.stop()
    for (const channel of [...this.byName.values()]) {
      this.close(channel)
    }
  }

  async stop (): Promise<void> {
    this.started = false
    this.shutdownController.abort()
    clearInterval(this.refreshTimer)
    this.scheduleAnnounce.stop()
    const { pubsub } = this.components
    pubsub.removeEventListener('gossipsub:message', this.onGossipMessage)
    pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.topicValidators.delete(C.INTEREST_TOPIC)
    this.topicScores.removeAll()
    this.interests.clear()
    this.routedSeen.clear()
    await this.components.registrar.unhandle(C.ROUTE_PROTOCOL)
  }

  channel<T = unknown>(name: string, codec: ChannelCodec<T> = {}): Channel<T> {
    this.assertStarted()
    assertChannelName(name)
    const existing = this.byName.get(name)
    if (existing != null) {
      if (existing.codec !== codec && !(Object.keys(codec).length === 0 && Object.keys(existing.codec).length === 0)) {
        throw new InvalidChannelError(`channel "${name}" is already open with another codec`)
      }
      return existing as unknown as Channel<T>
    }
    const channel = new DefaultChannel<T>(this, name, codec)
    this.byName.set(name, channel as DefaultChannel<unknown>)
    if (channel.routing === 'broadcast') {
      this.byTopic.set(channel.topic, channel as DefaultChannel<unknown>)
      this.components.pubsub.topicValidators.set(channel.topic, this.channelValidator(channel as DefaultChannel<unknown>))
      this.topicScores.install(channel.topic)
      this.components.pubsub.subscribe(channel.topic)
    }
    this.log('opened %s channel %s', channel.routing, name)
    return channel
  }

  interestedPeers (channel: string): PeerId[] {
    const now = Date.now()
    return [...this.interests.values()]
      .filter(entry => entry.expires >= now && entry.channels.has(channel))
      .map(entry => entry.peer)
  }

  stats (): ChannelStats {
    return { ...this.counters }
  }

  /** @internal */
  async publish <T>(channel: DefaultChannel<T>, value: T): Promise<ChannelPublishResult> {
    this.assertStarted()
    if (this.byName.get(channel.name) !== channel as unknown) {
      throw new InvalidChannelError(`channel "${channel.name}" is closed`)
    }
    const data = channel.encode(value)
    channel.admit(value)
    if (channel.routing === 'interest') {
      return this.publishRouted(channel, value, data)
    }
    try {
      const result = await this.components.pubsub.publish(channel.topic, data)
      return { recipients: result.recipients }
    } catch (err) {
      // nobody has opened the channel yet: the message reaches nobody, as with no matching query
      if (err instanceof Error && err.message === 'PublishError.NoPeersSubscribedToTopic') {
        return { recipients: [] }
      }
      throw err
    }
  }

  /** @internal */
  subscriptionsChanged (channel: DefaultChannel<any>): void { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (channel.routing !== 'interest') {
      return
    }
    const size = Interest.encode(this.interestAnnouncement()).byteLength
    if (size > C.MAX_INTEREST_SIZE) {
      throw new QueryTooLargeError(`this node's queries total ${size} bytes, the announcement limit is ${C.MAX_INTEREST_SIZE}`)
    }
    this.scheduleAnnounce()
  }

  /** @internal */
  close (channel: DefaultChannel<any>): void { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (this.byName.get(channel.name) !== channel) {
      return
    }
    this.byName.delete(channel.name)
    const hadInterest = channel.routing === 'interest' && channel.subscriptions.size > 0
    channel.clear()
    if (channel.routing === 'broadcast') {
      this.byTopic.delete(channel.topic)
      this.components.pubsub.topicValidators.delete(channel.topic)
      this.topicScores.remove(channel.topic)
      this.components.pubsub.unsubscribe(channel.topic)
    } else if (hadInterest && this.started) {
      this.scheduleAnnounce()
    }
    this.log('closed channel %s', channel.name)
  }

  // --- broadcast channels: gossipsub topic validation and delivery ---

  private channelValidator (channel: DefaultChannel<unknown>): TopicValidatorFn {
    return (peer: PeerId, message: Message) => {
      if (message.type !== 'signed') {
        return TopicValidatorResult.Reject
      }
      let value: unknown
      try {
        value = channel.decode(message.data)
      } catch (err) {
        this.log('rejecting message on %s from %p - %e', channel.name, peer, err)
        return TopicValidatorResult.Reject
      }
      // a repeated content id is not the sender's fault (two authors may publish the same thing): ignore, not reject
      const { id, fresh } = channel.admit(value)
      if (!fresh) {
        this.log.trace('ignoring duplicate content id %s on %s', id, channel.name)
        return TopicValidatorResult.Ignore
      }
      this.validated.set(message, { value, id })
      return TopicValidatorResult.Accept
    }
  }

  private onGossipMessage (evt: CustomEvent<GossipsubMessage>): void {
    const { msg, msgId, propagationSource } = evt.detail
    if (msg.type !== 'signed') {
      return
    }
    if (msg.topic === C.INTEREST_TOPIC) {
      this.learnInterest(msg, propagationSource)
      return
    }
    const channel = this.byTopic.get(msg.topic)
    const validated = this.validated.get(msg) as { value: unknown, id?: string } | undefined
    if (channel == null || validated == null) {
      return
    }
    this.validated.delete(msg)
    channel.deliver({ channel: channel.name, value: validated.value, from: msg.from, receivedFrom: propagationSource, id: validated.id ?? msgId }, this.log)
  }

  // --- interest announcements ---

  private interestAnnouncement (): Interest {
    const channels = [...this.byName.values()]
      .filter(channel => channel.routing === 'interest' && channel.subscriptions.size > 0)
      .map(channel => ({ channel: channel.name, queries: channel.queries() }))
    const now = BigInt(Date.now())
    this.interestSeq = this.interestSeq < now ? now : this.interestSeq + 1n
    return { seq: this.interestSeq, expires: now + BigInt(this.interestTtl), channels }
  }

  private async announce (): Promise<void> {
    if (!this.started) {
      return
    }
    const announcement = this.interestAnnouncement()
    if (announcement.channels.length === 0 && !this.announcedInterest) {
      return
    }
    try {
      await this.components.pubsub.publish(C.INTEREST_TOPIC, Interest.encode(announcement))
      this.announcedInterest = announcement.channels.length > 0
      this.log.trace('announced interest in %d channels', announcement.channels.length)
    } catch (err) {
      // no neighbour yet: a neighbour joining the interest topic triggers the next announcement
      this.log.trace('could not announce interest - %e', err)
    }
  }

  private refresh (): void {
    const now = Date.now()
    for (const [key, entry] of this.interests) {
      if (entry.expires < now) {
        this.interests.delete(key)
      }
    }
    if (this.announcedInterest || this.interestAnnouncement().channels.length > 0) {
      void this.announce()
    }
  }

  private onSubscriptionChange (evt: CustomEvent<SubscriptionChangeData>): void {
    if (evt.detail.subscriptions.some(s => s.subscribe && s.topic === C.INTEREST_TOPIC) && this.hasInterest()) {
      this.scheduleAnnounce()
    }
  }

  private hasInterest (): boolean {
    return [...this.byName.values()].some(channel => channel.routing === 'interest' && channel.subscriptions.size > 0)
  }

  private interestValidator (): TopicValidatorFn {
    return (peer: PeerId, message: Message) => {
      if (message.type !== 'signed' || message.data.byteLength > C.MAX_INTEREST_SIZE) {
        return TopicValidatorResult.Reject
      }
      let interest: PeerInterest
      try {
        interest = this.parseInterest(message)
      } catch (err) {
        this.log('rejecting interest announcement from %p via %p - %e', message.from, peer, err)
        return TopicValidatorResult.Reject
      }
      const known = this.interests.get(message.from.toString())
      if (known != null && known.seq >= interest.seq) {
        return TopicValidatorResult.Ignore
      }
      if (known == null && this.interests.size >= C.MAX_INTEREST_PEERS) {
        return TopicValidatorResult.Ignore
      }
      if (interest.expires < Date.now()) {
        return TopicValidatorResult.Ignore
      }
      this.validated.set(message, interest)
      return TopicValidatorResult.Accept
    }
  }

  /** Decode and check an announcement; throws on anything malformed */
  private parseInterest (message: Message & { type: 'signed' }): PeerInterest {
    const decoded = Interest.decode(message.data, {
      limits: { channels: C.MAX_INTEREST_CHANNELS, channels$: { queries: C.MAX_QUERIES_PER_CHANNEL } }
    })
    const expires = Number(decoded.expires)
    if (expires > Date.now() + C.MAX_INTEREST_TTL) {
      throw new InvalidMessageError(`announcement expires more than ${C.MAX_INTEREST_TTL} ms ahead`)
    }
    const channels = new Map<string, CompiledQuery[]>()
    for (const { channel, queries } of decoded.channels) {
      assertChannelName(channel)
      channels.set(channel, queries.map(parseQuery))
    }
    return { peer: message.from, seq: decoded.seq, expires, nextHop: message.from, channels }
  }

  private learnInterest (message: Message & { type: 'signed' }, propagationSource: PeerId): void {
    const interest = this.validated.get(message) as PeerInterest | undefined
    if (interest == null) {
      return
    }
    this.validated.delete(message)
    const key = interest.peer.toString()
    const known = this.interests.get(key)
    if (known != null && known.seq >= interest.seq) {
      return
    }
    // gossipsub delivers an announcement once, from the neighbour whose copy came first: the reverse path to its author
    interest.nextHop = propagationSource
    if (interest.channels.size === 0) {
      this.interests.delete(key)
    } else {
      this.interests.set(key, interest)
    }
    this.log.trace('%p is interested in %d channels, next hop %p', interest.peer, interest.channels.size, propagationSource)
  }

  // --- interest-routed messages ---

  private async publishRouted <T>(channel: DefaultChannel<T>, value: T, data: Uint8Array): Promise<ChannelPublishResult> {
    this.routeSeqno++
    const unsigned: RoutedMessage = {
      channel: channel.name,
      data: data as Uint8Array<ArrayBuffer>,
      from: this.components.peerId.toString(),
      seqno: this.routeSeqno,
      signature: new Uint8Array(0),
      hops: 0,
      targets: []
    }
    const signature = await this.components.privateKey.sign(signedBytes(unsigned)) as Uint8Array<ArrayBuffer>
    const message = { ...unsigned, signature }
    this.routedSeen.add(`${message.from}/${message.seqno}`)
    this.counters.published++
    return { recipients: this.forward(message, value, undefined) }
  }

  /**
   * Send `message` to the next hop of each of its targets - or, when it names
   * none (we publish it, or the list overflowed), of every peer whose announced
   * query matches `value` (every interested peer when `value` is UNKNOWN). Each
   * copy names only the targets behind its next hop, so the message follows
   * the union of the reverse paths; neighbours with no matching peer behind
   * them are skipped.
   */
  private forward (message: RoutedMessage, value: unknown, receivedFrom: PeerId | undefined): PeerId[] {
    if (message.hops >= C.MAX_HOPS) {
      return []
    }
    const now = Date.now()
    // the publisher matched queries and named the targets; forwarders only split them by next hop
    const targets = message.targets.length > 0 ? new Set(message.targets) : undefined
    const nextHops = new Map<string, { peer: PeerId, targets: string[] }>()
    let brokenRoute = false
    for (const [key, entry] of this.interests) {
      const queries = entry.channels.get(message.channel)
      if (queries == null || entry.expires < now || key === message.from || entry.peer.equals(this.components.peerId)) {
        continue
      }
      if (targets != null ? !targets.has(key) : (value !== UNKNOWN && queries.length > 0 && !queries.some(query => query.matches(value)))) {
        continue
      }
      if (receivedFrom?.equals(entry.nextHop) === true) {
        continue
      }
      if (this.components.connectionManager.getConnections(entry.nextHop).length === 0) {
        brokenRoute = true
        continue
      }
      const hop = entry.nextHop.toString()
      const group = nextHops.get(hop) ?? { peer: entry.nextHop, targets: [] }
      group.targets.push(key)
      nextHops.set(hop, group)
    }
    if (brokenRoute) {
      // a next hop left since the last announcement: flood this one message to the neighbours, who match and route it on
      for (const peer of this.components.pubsub.getSubscribers(C.INTEREST_TOPIC)) {
        if (receivedFrom?.equals(peer) !== true && peer.toString() !== message.from) {
          nextHops.set(peer.toString(), { peer, targets: [] })
        }
      }
    }
    for (const { peer, targets } of nextHops.values()) {
      this.counters.forwarded++
      const onward = { ...message, hops: message.hops + 1, targets: targets.length <= C.MAX_TARGETS ? targets : [] }
      this.send(peer, onward).catch(err => {
        this.log('could not send routed message on %s to %p - %e', message.channel, peer, err)
      })
    }
    return [...nextHops.values()].map(({ peer }) => peer)
  }

  private async send (peer: PeerId, message: RoutedMessage): Promise<void> {
    const connection = this.components.connectionManager.getConnections(peer).find(c => c.status === 'open')
    if (connection == null) {
      return
    }
    const signal = AbortSignal.any([AbortSignal.timeout(this.routeTimeout), this.shutdownController.signal])
    const stream = await connection.newStream(C.ROUTE_PROTOCOL, { signal })
    try {
      await pbStream(stream, { maxDataLength: C.MAX_ROUTED_MESSAGE_SIZE }).pb(RoutedMessage).write(message, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  private async onRouteStream (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.routeTimeout), this.shutdownController.signal])
    let message: RoutedMessage
    try {
      message = await pbStream(stream, { maxDataLength: C.MAX_ROUTED_MESSAGE_SIZE }).pb(RoutedMessage).read({ signal, limits: { targets: C.MAX_TARGETS } })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      if (!signal.aborted) {
        // oversized or malformed bytes, not a slow peer
        this.reject(connection.remotePeer, 'unreadable routed message', err)
      }
      return
    }
    try {
      await this.receiveRouted(message, connection.remotePeer)
    } catch (err) {
      this.reject(connection.remotePeer, `routed message on ${message.channel}`, err)
    }
  }

  private reject (peer: PeerId, what: string, err: unknown): void {
    this.counters.rejected++
    this.log('rejecting %s from %p - %e', what, peer, err)
    penalise(this.components.pubsub, peer, C.INVALID_ROUTED_PENALTY)
  }

  /** Verify, deduplicate, deliver and forward a routed message; throws to reject it */
  private async receiveRouted (message: RoutedMessage, receivedFrom: PeerId): Promise<void> {
    assertChannelName(message.channel)
    if (message.data.byteLength > C.MAX_MESSAGE_SIZE) {
      throw new MessageTooLargeError(`message of ${message.data.byteLength} bytes exceeds the ${C.MAX_MESSAGE_SIZE} byte limit`)
    }
    const key = `${message.from}/${message.seqno}`
    if (this.routedSeen.has(key)) {
      this.counters.duplicates++
      return
    }
    const author = peerIdFromString(message.from)
    if (author.publicKey == null) {
      throw new InvalidMessageError('the author\'s peer id does not embed a public key')
    }
    if (!await author.publicKey.verify(signedBytes(message), message.signature)) {
      throw new InvalidMessageError('bad signature')
    }
    // checked again: a copy from another neighbour may have been verified meanwhile
    if (this.routedSeen.has(key)) {
      this.counters.duplicates++
      return
    }
    const channel = this.byName.get(message.channel)
    if (channel == null || channel.routing !== 'interest') {
      this.routedSeen.add(key)
      this.counters.received++
      this.forward(message, UNKNOWN, receivedFrom)
      return
    }
    let value: unknown
    try {
      value = channel.decode(message.data)
    } finally {
      // an invalid message is remembered too, so later copies are dropped without decoding again
      this.routedSeen.add(key)
    }
    this.counters.received++
    const { id, fresh } = channel.admit(value)
    if (!fresh) {
      this.counters.duplicates++
      return
    }
    if (channel.wants(value)) {
      channel.deliver({ channel: channel.name, value, from: author, receivedFrom, id: id ?? key }, this.log)
    }
    this.forward(message, value, receivedFrom)
  }

  private assertStarted (): void {
    if (!this.started) {
      throw new NotStartedError('the channels service is not started')
    }
  }
}

const SIGNATURE_PREFIX = fromString(C.SIGNATURE_PREFIX)

/** The bytes a routed message's author signs: the message without signature and hop count */
function signedBytes (message: RoutedMessage): Uint8Array {
  return concat([SIGNATURE_PREFIX, RoutedMessage.encode({ ...message, signature: new Uint8Array(0), hops: 0, targets: [] })])
}
