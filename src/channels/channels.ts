import { TopicValidatorResult } from '@libp2p/gossipsub'
import { NotFoundError, serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { debounce } from '@libp2p/utils'
import { NotStartedError } from '../broadcast/errors.js'
import { bestConnection } from '../utils/connections.js'
import { penalise, TopicScores } from '../utils/gossip-score.js'
import { DefaultChannel } from './channel.js'
import * as C from './constants.js'
import { InvalidChannelError, QueryTooLargeError } from './errors.js'
import { InterestRouter } from './interest-router.js'
import { InterestTable } from './interests.js'
import { Interest } from './pb/channels.js'
import { assertChannelName } from './validation.js'
import type { ChannelOwner } from './channel.js'
import type { Channel, ChannelCodec, ChannelPublishResult, Channels, ChannelsComponents, ChannelsInit, ChannelStats } from './index.js'
import type { OwnInterest } from './interests.js'
import type { GossipsubMessage, Message, SubscriptionChangeData, TopicValidatorFn } from '@libp2p/gossipsub'
import type { Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { DebouncedFunction } from '@libp2p/utils'

/**
 * The channels service: opens channels, validates and delivers broadcast
 * channels on their gossipsub topics, and wires interest channels to the
 * {@link InterestTable} (announcements) and the {@link InterestRouter} (the
 * route protocol).
 */
export class DefaultChannels implements Channels, ChannelOwner, Startable {
  private readonly components: ChannelsComponents
  private readonly log: Logger
  private readonly interestRefresh: number
  private readonly topicScores: TopicScores
  private readonly interests: InterestTable
  private readonly router: InterestRouter
  private readonly byName = new Map<string, DefaultChannel<unknown>>()
  private readonly byTopic = new Map<string, DefaultChannel<unknown>>()
  /** Values decoded by a topic validator, handed to the message event without decoding twice */
  private readonly validated = new WeakMap<Message, { value: unknown, id?: string }>()
  private readonly scheduleAnnounce: DebouncedFunction
  private refreshTimer?: ReturnType<typeof setInterval>
  private started = false

  constructor (components: ChannelsComponents, init: ChannelsInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:channels')
    this.interestRefresh = init.interestRefresh ?? C.INTEREST_REFRESH
    this.topicScores = new TopicScores(components.pubsub)
    this.interests = new InterestTable({
      publish: async (data) => components.pubsub.publish(C.INTEREST_TOPIC, data),
      log: this.log,
      interestTtl: Math.min(init.interestTtl ?? C.INTEREST_TTL, C.MAX_INTEREST_TTL)
    })
    this.router = new InterestRouter({
      peerId: components.peerId,
      privateKey: components.privateKey,
      interests: this.interests,
      log: this.log,
      routeTimeout: init.routeTimeout ?? C.DEFAULT_ROUTE_TIMEOUT,
      channel: (name) => {
        const channel = this.byName.get(name)
        return channel?.routing === 'interest' ? channel : undefined
      },
      // the route protocol is not registered to run on limited connections
      canReach: (peer) => bestConnection(components.connectionManager.getConnections(peer)) != null,
      newStream: async (peer, signal) => this.newRouteStream(peer, signal),
      neighbours: () => components.pubsub.getSubscribers(C.INTEREST_TOPIC),
      onInvalid: (peer) => { penalise(components.pubsub, peer, C.INVALID_ROUTED_PENALTY) }
    })
    this.onGossipMessage = this.onGossipMessage.bind(this)
    this.onSubscriptionChange = this.onSubscriptionChange.bind(this)
    this.scheduleAnnounce = debounce(async () => { await this.announce() }, C.ANNOUNCE_DEBOUNCE)
  }

  readonly [Symbol.toStringTag] = '@membrane/channels'
  readonly [serviceCapabilities]: string[] = ['@membrane/channels']
  readonly [serviceDependencies]: string[] = ['@libp2p/pubsub']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.router.start()
    const { pubsub } = this.components
    pubsub.addEventListener('gossipsub:message', this.onGossipMessage)
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.topicValidators.set(C.INTEREST_TOPIC, this.interests.validator())
    await this.components.registrar.handle(C.ROUTE_PROTOCOL, async (stream, connection) => this.router.handle(stream, connection.remotePeer), {
      maxInboundStreams: C.MAX_INBOUND_STREAMS,
      maxOutboundStreams: C.MAX_OUTBOUND_STREAMS
    })
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
    this.router.stop()
    clearInterval(this.refreshTimer)
    this.scheduleAnnounce.stop()
    const { pubsub } = this.components
    pubsub.removeEventListener('gossipsub:message', this.onGossipMessage)
    pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.topicValidators.delete(C.INTEREST_TOPIC)
    this.topicScores.removeAll()
    this.interests.clear()
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
    return this.interests.interestedPeers(channel)
  }

  stats (): ChannelStats {
    return this.router.stats()
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
      return this.router.publish(channel, value, data)
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
    const size = Interest.encode(this.interests.announcement(this.ownInterest())).byteLength
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

  private async newRouteStream (peer: PeerId, signal: AbortSignal): Promise<Stream> {
    const connection = bestConnection(this.components.connectionManager.getConnections(peer))
    if (connection == null) {
      throw new NotFoundError(`no unlimited open connection to ${peer}`)
    }
    return connection.newStream(C.ROUTE_PROTOCOL, { signal })
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
      this.interests.learn(msg, propagationSource)
      return
    }
    const channel = this.byTopic.get(msg.topic)
    const validated = this.validated.get(msg)
    if (channel == null || validated == null) {
      return
    }
    this.validated.delete(msg)
    channel.deliver({ channel: channel.name, value: validated.value, from: msg.from, receivedFrom: propagationSource, id: validated.id ?? msgId }, this.log)
  }

  // --- this node's interest announcements ---

  private ownInterest (): OwnInterest[] {
    return [...this.byName.values()]
      .filter(channel => channel.routing === 'interest' && channel.subscriptions.size > 0)
      .map(channel => ({ channel: channel.name, queries: channel.queries() }))
  }

  private async announce (): Promise<void> {
    if (this.started) {
      await this.interests.announce(this.ownInterest())
    }
  }

  private refresh (): void {
    this.interests.prune()
    if (this.interests.due(this.ownInterest())) {
      void this.announce()
    }
  }

  private onSubscriptionChange (evt: CustomEvent<SubscriptionChangeData>): void {
    if (evt.detail.subscriptions.some(s => s.subscribe && s.topic === C.INTEREST_TOPIC) && this.ownInterest().length > 0) {
      this.scheduleAnnounce()
    }
  }

  private assertStarted (): void {
    if (!this.started) {
      throw new NotStartedError('the channels service is not started')
    }
  }
}
