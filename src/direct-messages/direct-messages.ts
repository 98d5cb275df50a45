import { TypedEventEmitter, serviceCapabilities } from '@libp2p/interface'
import { pbStream, RateLimiter } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { MessageTooLargeError } from '../broadcast/errors.js'
import { linkTo } from '../utils/link.js'
import { SeenCache } from '../utils/seen-cache.js'
import { FRAME_OVERHEAD, ID_LENGTH, MAX_INBOUND_STREAMS, MAX_MESSAGE_SIZE, MAX_OUTBOUND_STREAMS, OFFENCE_WINDOW, OFFENCES_PER_BURST, PROTOCOL, RATE_BURST, RATE_LIMIT, DEFAULT_RECEIVE_TIMEOUT, SEEN_CACHE_SIZE, SEEN_TTL, DEFAULT_SEND_TIMEOUT } from './constants.js'
import { DirectMessageAbuseError, DirectMessageRefusedError, DirectMessageTimeoutError, MalformedDirectMessageError, PeerUnreachableError } from './errors.js'
import { typedDecodeError } from '../utils/decode-error.js'
import { Ack, DirectMessage } from './pb/dm.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { DirectMessageHandler, DirectMessages, DirectMessagesComponents, DirectMessagesStats, DirectMessagesEvents, DirectMessagesInit, LinkMaker, ReceivedDirectMessage, SendOptions, SendResult } from './index.js'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'

export class DefaultDirectMessages extends TypedEventEmitter<DirectMessagesEvents> implements DirectMessages, Startable {
  private readonly components: DirectMessagesComponents
  private readonly log: Logger
  private readonly maxMessageSize: number
  private readonly timeout: number
  private readonly rateLimiter: RateLimiter
  /** Refused streams per sender: past `offenceLimit` within `OFFENCE_WINDOW` its connection is closed */
  private readonly offences: RateLimiter
  private readonly offenceLimit: number
  private readonly makeLink?: LinkMaker
  private readonly handlers = new Set<DirectMessageHandler>()
  /** sender/id pairs already delivered */
  private readonly seen = new SeenCache(SEEN_CACHE_SIZE, SEEN_TTL)
  private shutdownController = new AbortController()
  private started = false
  private readonly counters: DirectMessagesStats = { received: 0, delivered: 0, duplicates: 0, refused: 0, rateLimited: 0, malformed: 0, disconnected: 0 }

  constructor (components: DirectMessagesComponents, init: DirectMessagesInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('membrane:direct-messages')
    this.maxMessageSize = init.maxMessageSize ?? MAX_MESSAGE_SIZE
    this.timeout = init.timeout ?? DEFAULT_SEND_TIMEOUT
    this.makeLink = init.makeLink
    // a burst of `rateBurst`, refilled at `rateLimit` per second
    const rate = init.rateLimit ?? RATE_LIMIT
    const burst = init.rateBurst ?? RATE_BURST
    this.rateLimiter = new RateLimiter({ points: burst, duration: Math.max(1, burst / rate) })
    this.offenceLimit = OFFENCES_PER_BURST * burst
    this.offences = new RateLimiter({ points: this.offenceLimit, duration: OFFENCE_WINDOW })
    this.handleStream = this.handleStream.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/direct-messages'
  readonly [serviceCapabilities]: string[] = ['@membrane/direct-messages']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    await this.components.registrar.handle(PROTOCOL, this.handleStream, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      // a relayed or circuit fallback link is still a link
      runOnLimitedConnection: true
    })
    this.started = true
  }

  async stop (): Promise<void> {
    this.shutdownController.abort()
    await this.components.registrar.unhandle(PROTOCOL)
    this.seen.clear()
    this.started = false
  }

  stats (): DirectMessagesStats {
    return { ...this.counters }
  }

  handle (handler: DirectMessageHandler): () => void {
    const entry: DirectMessageHandler = async (msg) => handler(msg)
    this.handlers.add(entry)
    return () => { this.handlers.delete(entry) }
  }

  async send (peer: PeerId, data: Uint8Array, options: SendOptions = {}): Promise<SendResult> {
    if (data.byteLength > this.maxMessageSize) {
      throw new MessageTooLargeError(`direct message of ${data.byteLength} bytes exceeds the ${this.maxMessageSize} byte limit`)
    }
    // the deadline and shutdown without AbortSignal.any(): that leaves a cell per call on the long-lived
    // shutdown signal (src/utils/timeout-signal.ts); the caller's signal, if any, is combined with it
    const deadline = deadlineSignal(this.timeout, this.shutdownController.signal)
    const signal = options.signal == null ? deadline.signal : AbortSignal.any([deadline.signal, options.signal])
    const id = crypto.getRandomValues(new Uint8Array(ID_LENGTH))
    const started = Date.now()
    let lastError: Error | undefined
    try {
      // a second attempt, with the same id, when a link breaks mid-way: the receiver will not deliver twice
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const connection = await this.linkTo(peer, signal)
          const status = await this.exchange(connection, id, data, signal)
          if (status.status !== Ack.Status.OK) {
            throw new DirectMessageRefusedError(`${peer} refused the message: ${status.reason === '' ? status.status : status.reason}`, String(status.status))
          }
          return { id: uint8ArrayToString(id, 'base16'), rtt: Date.now() - started, connection }
        } catch (err) {
          lastError = err as Error
          if (deadline.timedOut) {
            throw new DirectMessageTimeoutError(`no acknowledgement from ${peer} within ${this.timeout} ms`)
          }
          if (lastError.name === 'DirectMessageRefusedError' || lastError.name === 'PeerUnreachableError' || signal.aborted) {
            throw lastError
          }
          this.log('attempt %d to %p failed - %e', attempt, peer, lastError)
        }
      }
      throw lastError ?? new PeerUnreachableError(`cannot reach ${peer}`)
    } finally {
      deadline.clear()
    }
  }

  /** The best open connection to `peer` (limited ones too: the protocol runs over them), or a new link */
  private async linkTo (peer: PeerId, signal: AbortSignal): Promise<Connection> {
    return linkTo(this.components.connectionManager, peer, { signal, makeLink: this.makeLink, allowLimited: true })
  }

  private async exchange (connection: Connection, id: Uint8Array<ArrayBuffer>, data: Uint8Array, signal: AbortSignal): Promise<Ack> {
    const stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
    try {
      const pb = pbStream(stream, { maxDataLength: this.maxMessageSize + FRAME_OVERHEAD })
      await pb.write({ id, data: data as Uint8Array<ArrayBuffer> }, DirectMessage, { signal })
      const ack = await pb.read(Ack, { signal })
      await stream.close({ signal })
      return ack
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  private async handleStream (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(DEFAULT_RECEIVE_TIMEOUT, this.shutdownController.signal)
    const signal = deadline.signal
    const pb = pbStream(stream, { maxDataLength: this.maxMessageSize + FRAME_OVERHEAD })
    this.counters.received++
    try {
      const reply = async (ack: Ack): Promise<void> => {
        await pb.write(ack, Ack, { signal })
        await stream.close({ signal })
      }
      try {
        this.rateLimiter.consume(from.toString(), 1)
      } catch {
        this.log('%p is over its rate limit', from)
        this.counters.rateLimited++
        this.offend(connection)
        await reply({ id: new Uint8Array(0), status: Ack.Status.RATE_LIMITED, reason: 'rate limit exceeded' })
        return
      }
      const message = await pb.read(DirectMessage, { signal })
      if (message.id.byteLength !== ID_LENGTH) {
        this.counters.malformed++
        this.offend(connection)
        await reply({ id: message.id, status: Ack.Status.MALFORMED, reason: `id must be ${ID_LENGTH} bytes` })
        return
      }
      if (message.data.byteLength > this.maxMessageSize) {
        this.counters.refused++
        await reply({ id: message.id, status: Ack.Status.TOO_LARGE, reason: `limit is ${this.maxMessageSize} bytes` })
        return
      }
      const key = `${from.toString()}/${uint8ArrayToString(message.id, 'base16')}`
      if (!this.seen.has(key)) {
        const received: ReceivedDirectMessage = { from, data: message.data, id: uint8ArrayToString(message.id, 'base16') }
        try {
          for (const handler of this.handlers) {
            await handler(received)
          }
        } catch (err) {
          this.counters.refused++
          await reply({ id: message.id, status: Ack.Status.REFUSED, reason: String((err as Error).message ?? err).slice(0, 200) })
          return
        }
        this.seen.add(key)
        this.counters.delivered++
        this.safeDispatchEvent('message', { detail: received })
      } else {
        this.counters.duplicates++
      }
      await reply({ id: message.id, status: Ack.Status.OK, reason: '' })
    } catch (err) {
      const typed = typedDecodeError(err, why => new MalformedDirectMessageError(`direct message ${why}`))
      this.log('bad direct message stream from %p - %e', from, typed)
      this.counters.malformed++
      stream.abort(typed)
      if (typed.name !== 'AbortError' && typed.name !== 'TimeoutError') {
        this.offend(connection)
      }
    } finally {
      deadline.clear()
    }
  }

  /** One refused stream of `connection`'s sender: past its limit, its connection is closed */
  private offend (connection: Connection): void {
    const from = connection.remotePeer
    try {
      this.offences.consume(from.toString(), 1)
    } catch {
      this.counters.disconnected++
      this.log('%p opened more than %d refused streams within %d s, closing its connection', from, this.offenceLimit, OFFENCE_WINDOW)
      this.offences.delete(from.toString())
      connection.abort(new DirectMessageAbuseError(`${from} opened more than ${this.offenceLimit} refused direct message streams within ${OFFENCE_WINDOW} s`))
    }
  }
}
