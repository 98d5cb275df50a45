import { TopicValidatorResult } from '@libp2p/gossipsub'
import { serviceCapabilities, serviceDependencies, TypedEventEmitter } from '@libp2p/interface'
import { TopicScores } from '../utils/gossip-score.js'
import { MAX_MESSAGE_SIZE, MAX_TOPIC_LENGTH } from './constants.js'
import { InvalidTopicError, MessageTooLargeError, NoSubscribersError, NotStartedError } from './errors.js'
import type { Broadcast, BroadcastComponents, BroadcastEvents, BroadcastHandler, BroadcastInit, BroadcastMessage, PublishOptions, PublishResult } from './index.js'
import type { GossipSub, GossipsubMessage, Message, TopicValidatorFn } from '@libp2p/gossipsub'
import type { AbortOptions, Logger, PeerId, Startable } from '@libp2p/interface'

export class DefaultBroadcast extends TypedEventEmitter<BroadcastEvents> implements Broadcast, Startable {
  private readonly components: BroadcastComponents
  private readonly log: Logger
  private readonly maxMessageSize: number
  private readonly maxTopicLength: number
  private readonly handlers = new Map<string, Set<BroadcastHandler>>()
  /** Score parameters this service installed on its topics (and so removes) */
  private readonly topicScores: TopicScores
  private started = false
  private shutdownController = new AbortController()

  constructor (components: BroadcastComponents, init: BroadcastInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('membrane:broadcast')
    this.maxMessageSize = init.maxMessageSize ?? MAX_MESSAGE_SIZE
    this.maxTopicLength = init.maxTopicLength ?? MAX_TOPIC_LENGTH
    this.topicScores = new TopicScores(components.pubsub)
    this.onGossipMessage = this.onGossipMessage.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/broadcast'
  readonly [serviceCapabilities]: string[] = ['@membrane/broadcast']
  readonly [serviceDependencies]: string[] = ['@libp2p/pubsub']

  isStarted (): boolean {
    return this.started
  }

  start (): void {
    this.shutdownController = new AbortController()
    this.components.pubsub.addEventListener('gossipsub:message', this.onGossipMessage)
    this.started = true
  }

  stop (): void {
    this.shutdownController.abort(new NotStartedError('the broadcast service stopped'))
    this.components.pubsub.removeEventListener('gossipsub:message', this.onGossipMessage)
    for (const topic of this.handlers.keys()) {
      this.components.pubsub.topicValidators.delete(topic)
      this.topicScores.remove(topic)
    }
    this.handlers.clear()
    this.started = false
  }

  async publish (topic: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishResult> {
    this.assertStarted()
    this.assertTopic(topic)
    if (!(data instanceof Uint8Array)) {
      throw new TypeError('data must be a Uint8Array')
    }
    if (data.byteLength > this.maxMessageSize) {
      throw new MessageTooLargeError(`message of ${data.byteLength} bytes exceeds the ${this.maxMessageSize} byte limit`)
    }
    try {
      const result = await this.components.pubsub.publish(topic, data)
      return { recipients: result.recipients }
    } catch (err) {
      if (err instanceof Error && err.message === 'PublishError.NoPeersSubscribedToTopic') {
        if (options.allowNoSubscribers === true) {
          return { recipients: [] }
        }
        throw new NoSubscribersError(`no connected peer is subscribed to topic "${topic}"`)
      }
      throw err
    }
  }

  subscribe (topic: string, handler?: BroadcastHandler): () => void {
    this.assertStarted()
    this.assertTopic(topic)
    let handlers = this.handlers.get(topic)
    if (handlers == null) {
      handlers = new Set()
      this.handlers.set(topic, handlers)
      this.components.pubsub.topicValidators.set(topic, this.validator())
      this.topicScores.install(topic)
      this.components.pubsub.subscribe(topic)
      this.log('subscribed to %s', topic)
    }
    // a fresh wrapper so the same handler may be added twice and removed once
    const entry: BroadcastHandler = (message) => { handler?.(message) }
    handlers.add(entry)

    return () => {
      const current = this.handlers.get(topic)
      if (current?.delete(entry) !== true || current.size > 0) {
        return
      }
      this.handlers.delete(topic)
      this.components.pubsub.topicValidators.delete(topic)
      this.topicScores.remove(topic)
      this.components.pubsub.unsubscribe(topic)
      this.log('unsubscribed from %s', topic)
    }
  }

  topics (): string[] {
    return [...this.handlers.keys()]
  }

  subscribers (topic: string): PeerId[] {
    return this.components.pubsub.getSubscribers(topic)
  }

  meshPeers (topic: string): PeerId[] {
    const mesh = new Set(meshPeers(this.components.pubsub, topic) ?? [])
    return this.subscribers(topic).filter(peer => mesh.has(peer.toString()))
  }

  async waitForSubscribers (topic: string, options: AbortOptions = {}): Promise<PeerId[]> {
    this.assertStarted()
    this.assertTopic(topic)
    const pubsub = this.components.pubsub
    const signal = options.signal == null ? this.shutdownController.signal : AbortSignal.any([this.shutdownController.signal, options.signal])
    signal.throwIfAborted()
    // a peer in our mesh has grafted us too: it forwards the topic to us and from us
    const ready = (): PeerId[] | undefined => {
      const subscribers = this.subscribers(topic)
      if (subscribers.length === 0) {
        return undefined
      }
      // a node that is not subscribed publishes straight to the subscribers it knows (fanout)
      const joined = pubsub.getTopics().includes(topic)
      return !joined || (meshPeers(pubsub, topic)?.length ?? 1) > 0 ? subscribers : undefined
    }
    const present = ready()
    if (present != null) {
      return present
    }
    return new Promise((resolve, reject) => {
      const onChange = (): void => {
        const subscribers = ready()
        if (subscribers != null) {
          done()
          resolve(subscribers)
        }
      }
      const onAbort = (): void => {
        done()
        reject(signal.reason)
      }
      const done = (): void => {
        pubsub.removeEventListener('gossipsub:graft', onChange)
        pubsub.removeEventListener('subscription-change', onChange)
        signal.removeEventListener('abort', onAbort)
      }
      // grafts in either direction: inbound (the peer grafted us) and outbound (our heartbeat grafted it)
      pubsub.addEventListener('gossipsub:graft', onChange)
      pubsub.addEventListener('subscription-change', onChange)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  private validator (): TopicValidatorFn {
    return (peer: PeerId, message: Message) => {
      if (message.type !== 'signed') {
        this.log('rejecting unsigned message from %p', peer)
        return TopicValidatorResult.Reject
      }
      if (message.data.byteLength > this.maxMessageSize) {
        this.log('rejecting %d byte message from %p', message.data.byteLength, peer)
        return TopicValidatorResult.Reject
      }
      return TopicValidatorResult.Accept
    }
  }

  private onGossipMessage (evt: CustomEvent<GossipsubMessage>): void {
    const { msg, msgId, propagationSource } = evt.detail
    const handlers = this.handlers.get(msg.topic)
    // gossipsub's StrictSign policy has verified the signature before this event
    if (handlers == null || msg.type !== 'signed') {
      return
    }
    const message: BroadcastMessage = {
      topic: msg.topic,
      data: msg.data,
      from: msg.from,
      id: msgId,
      sequenceNumber: msg.sequenceNumber,
      receivedFrom: propagationSource
    }
    for (const handler of handlers) {
      try {
        handler(message)
      } catch (err) {
        this.log.error('message handler for %s threw - %e', msg.topic, err)
      }
    }
    this.safeDispatchEvent('message', { detail: message })
  }

  private assertStarted (): void {
    if (!this.started) {
      throw new NotStartedError('the broadcast service is not started')
    }
  }

  private assertTopic (topic: string): void {
    if (typeof topic !== 'string' || topic.length === 0) {
      throw new InvalidTopicError('topic must be a non-empty string')
    }
    if (topic.length > this.maxTopicLength) {
      throw new InvalidTopicError(`topic is ${topic.length} characters, the limit is ${this.maxTopicLength}`)
    }
  }
}

/**
 * The topic mesh, where the pubsub service is @libp2p/gossipsub (its class has
 * `getMeshPeers`, its exported interface does not); undefined for another pubsub
 */
function meshPeers (pubsub: GossipSub, topic: string): string[] | undefined {
  const withMesh = pubsub as GossipSub & { getMeshPeers?(topic: string): string[] }
  return typeof withMesh.getMeshPeers === 'function' ? withMesh.getMeshPeers(topic) : undefined
}
