import { serviceDependencies } from '@libp2p/interface'
import type { GossipSub, SubscriptionChangeData } from '@libp2p/gossipsub'
import type { ComponentLogger, Logger, Startable } from '@libp2p/interface'

export interface TopicRelayInit {
  /**
   * The most topics joined on members' behalf; later ones are not forwarded
   *
   * @default 1024
   */
  maxTopics?: number
}

export interface TopicRelayComponents {
  pubsub: GossipSub
  logger: ComponentLogger
}

/**
 * Gossipsub forwards only topics a node has joined. A bootstrap peer does not
 * know its members' topics in advance, so it joins each topic a member
 * announces, up to `maxTopics`, and so forwards between members that are not
 * yet linked to each other.
 */
export class TopicRelay implements Startable {
  private readonly components: TopicRelayComponents
  private readonly log: Logger
  private readonly maxTopics: number
  private readonly joined = new Set<string>()

  constructor (components: TopicRelayComponents, init: TopicRelayInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:topic-relay')
    this.maxTopics = init.maxTopics ?? 1024
    this.onSubscriptionChange = this.onSubscriptionChange.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/topic-relay'
  readonly [serviceDependencies]: string[] = ['@libp2p/pubsub']

  start (): void {
    this.components.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
  }

  stop (): void {
    this.components.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    this.joined.clear()
  }

  /** The topics joined on members' behalf */
  topics (): string[] {
    return [...this.joined]
  }

  private onSubscriptionChange (evt: CustomEvent<SubscriptionChangeData>): void {
    for (const { topic, subscribe } of evt.detail.subscriptions) {
      if (!subscribe || this.joined.has(topic)) {
        continue
      }
      if (this.joined.size >= this.maxTopics) {
        this.log('not relaying topic %s for %p: %d topics already relayed', topic, evt.detail.peerId, this.maxTopics)
        continue
      }
      this.joined.add(topic)
      this.components.pubsub.subscribe(topic)
      this.log('relaying topic %s', topic)
    }
  }
}

export function topicRelay (init: TopicRelayInit = {}): (components: TopicRelayComponents) => TopicRelay {
  return (components) => new TopicRelay(components, init)
}
