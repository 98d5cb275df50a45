import { MessageTooLargeError } from '../broadcast/errors.js'
import { SeenCache } from '../utils/seen-cache.js'
import { decodeJson, encodeJson } from './codec.js'
import * as C from './constants.js'
import { DecodeError, InvalidChannelError, InvalidMessageError, QueryTooLargeError } from './errors.js'
import { compileQuery } from './query.js'
import type { Channel, ChannelCodec, ChannelHandler, ChannelMessage, ChannelPublishResult, ChannelRouting } from './index.js'
import type { CompiledQuery, Query } from './query.js'
import type { Logger } from '@libp2p/interface'

/** What a channel asks of the service that opened it */
export interface ChannelOwner {
  publish<T>(channel: DefaultChannel<T>, value: T): Promise<ChannelPublishResult>
  subscriptionsChanged(channel: DefaultChannel<any>): void // eslint-disable-line @typescript-eslint/no-explicit-any
  close(channel: DefaultChannel<any>): void // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface Subscription<T> {
  query?: CompiledQuery
  handler: ChannelHandler<T>
}

export class DefaultChannel<T> implements Channel<T> {
  readonly name: string
  readonly topic: string
  readonly routing: ChannelRouting
  readonly codec: ChannelCodec<T>
  readonly subscriptions = new Set<Subscription<T>>()
  private readonly owner: ChannelOwner
  private readonly maxMessageSize: number
  /** App content ids seen recently; present only when the codec defines `id` */
  private readonly seen?: SeenCache

  constructor (owner: ChannelOwner, name: string, codec: ChannelCodec<T>) {
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
