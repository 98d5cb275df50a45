import { serviceCapabilities } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { raceSignal } from 'race-signal'
import { linkTo } from '../utils/link.js'
import { DEFAULT_HANDLER_TIMEOUT, DEFAULT_MAX_CONCURRENT_PER_PEER, DEFAULT_MAX_REQUEST_SIZE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_RECEIVE_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, FRAME_OVERHEAD, MAX_INBOUND_STREAMS, READ_AHEAD, MAX_NAME_LENGTH, MAX_OUTBOUND_STREAMS, MAX_REASON_LENGTH, PROTOCOL } from './constants.js'
import { MalformedRequestError, RequestRefusedError, RequestTimeoutError, RequestTooLargeError, ResponseTooLargeError } from './errors.js'
import { Request, Response } from './pb/requests.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { HandleOptions, RequestHandler, RequestOptions, Requests, RequestsComponents, RequestsInit, RequestsStats } from './index.js'
import type { LinkMaker } from '../direct-messages/index.js'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

interface Registered {
  handler: RequestHandler
  maxRequestSize: number
}

/** Counts per peer with waiters, for the outbound concurrency limit */
interface Slots {
  active: number
  waiters: Array<() => void>
}

const STATUS_NAMES: Record<Response.Status, string> = {
  [Response.Status.OK]: 'ok',
  [Response.Status.REFUSED]: 'refused',
  [Response.Status.NO_HANDLER]: 'no-handler',
  [Response.Status.REQUEST_TOO_LARGE]: 'request-too-large',
  [Response.Status.RESPONSE_TOO_LARGE]: 'response-too-large',
  [Response.Status.BUSY]: 'busy',
  [Response.Status.MALFORMED]: 'malformed',
  [Response.Status.TIMEOUT]: 'timeout'
}

function isLengthError (err: unknown): boolean {
  const name = (err as Error)?.name
  return name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError'
}

export class DefaultRequests implements Requests, Startable {
  private readonly components: RequestsComponents
  private readonly log: Logger
  private readonly maxRequestSize: number
  private readonly maxResponseSize: number
  private readonly requestTimeout: number
  private readonly receiveTimeout: number
  private readonly handlerTimeout: number
  private readonly maxConcurrentPerPeer: number
  private readonly makeLink?: LinkMaker
  private readonly handlers = new Map<string, Registered>()
  private readonly inbound = new Map<string, number>()
  private readonly outbound = new Map<string, Slots>()
  private readonly counters: Omit<RequestsStats, 'inFlight'> = { requestsAnswered: 0, requestsServed: 0, requestsRefused: 0, requestsBusy: 0, requestsTooLarge: 0, requestsStalled: 0, malformedFrames: 0 }
  private shutdownController = new AbortController()
  private started = false

  constructor (components: RequestsComponents, init: RequestsInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:requests')
    this.maxRequestSize = init.maxRequestSize ?? DEFAULT_MAX_REQUEST_SIZE
    this.maxResponseSize = init.maxResponseSize ?? DEFAULT_MAX_RESPONSE_SIZE
    this.requestTimeout = init.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT
    this.receiveTimeout = init.receiveTimeout ?? DEFAULT_RECEIVE_TIMEOUT
    this.handlerTimeout = init.handlerTimeout ?? DEFAULT_HANDLER_TIMEOUT
    this.maxConcurrentPerPeer = init.maxConcurrentPerPeer ?? DEFAULT_MAX_CONCURRENT_PER_PEER
    this.makeLink = init.makeLink
    this.handleStream = this.handleStream.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/requests'
  readonly [serviceCapabilities]: string[] = ['@membrane/requests']

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
    for (const slots of this.outbound.values()) {
      slots.waiters.splice(0).forEach(wake => { wake() })
    }
    this.outbound.clear()
    this.started = false
  }

  stats (): RequestsStats {
    let inFlight = 0
    for (const n of this.inbound.values()) {
      inFlight += n
    }
    return { ...this.counters, inFlight }
  }

  handle (name: string, handler: RequestHandler, options: HandleOptions = {}): () => void {
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
      throw new RangeError(`a request protocol name is 1 to ${MAX_NAME_LENGTH} characters`)
    }
    if (this.handlers.has(name)) {
      throw new Error(`a handler for "${name}" is already registered`)
    }
    const entry: Registered = { handler, maxRequestSize: Math.min(options.maxRequestSize ?? this.maxRequestSize, this.maxRequestSize) }
    this.handlers.set(name, entry)
    return () => {
      if (this.handlers.get(name) === entry) {
        this.handlers.delete(name)
      }
    }
  }

  async request (peer: PeerId, name: string, data: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
      throw new RangeError(`a request protocol name is 1 to ${MAX_NAME_LENGTH} characters`)
    }
    if (data.byteLength > this.maxRequestSize) {
      throw new RequestTooLargeError(`a request of ${data.byteLength} bytes exceeds the ${this.maxRequestSize} byte limit`)
    }
    const timeout = options.timeout ?? this.requestTimeout
    // the deadline and shutdown without AbortSignal.any(): that leaves a cell per call on the long-lived
    // shutdown signal (src/utils/timeout-signal.ts); the caller's signal, if any, is combined with it
    const deadline = deadlineSignal(timeout, this.shutdownController.signal)
    const signal = options.signal == null ? deadline.signal : AbortSignal.any([deadline.signal, options.signal])
    const key = peer.toString()
    try {
      await this.acquire(key, signal)
    } catch (err) {
      deadline.clear()
      throw deadline.timedOut ? new RequestTimeoutError(`no slot for a request to ${peer} within ${timeout} ms`) : err
    }
    try {
      const connection = await linkTo(this.components.connectionManager, peer, { signal, makeLink: this.makeLink })
      const stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
      const response = await this.exchange(stream, name, data, options.maxResponseSize ?? this.maxResponseSize, signal)
      this.counters.requestsAnswered++
      return response
    } catch (err) {
      if (deadline.timedOut) {
        throw new RequestTimeoutError(`no response from ${peer} to "${name}" within ${timeout} ms`)
      }
      throw err
    } finally {
      deadline.clear()
      this.release(key)
    }
  }

  /**
   * The requester's side of one stream: write the request, read the response.
   * Public for unit tests over a stream pair.
   */
  async exchange (stream: Stream, name: string, data: Uint8Array, maxResponseSize: number, signal: AbortSignal): Promise<Uint8Array> {
    const maxDataLength = maxResponseSize + FRAME_OVERHEAD
    const lp = lpStream(stream, { maxDataLength, maxBufferSize: maxDataLength + READ_AHEAD })
    let bytes: Uint8ArrayList
    try {
      await lp.write(Request.encode({ name, data: data as Uint8Array<ArrayBuffer>, maxResponseSize }), { signal })
      bytes = await lp.read({ signal })
    } catch (err) {
      if (isLengthError(err)) {
        const error = new ResponseTooLargeError(`the response to "${name}" exceeds the ${maxResponseSize} byte limit`)
        stream.abort(error)
        throw error
      }
      stream.abort(err as Error)
      throw err
    }
    let response: Response
    try {
      response = Response.decode(bytes)
    } catch (err) {
      const error = new MalformedRequestError(`the response to "${name}" does not decode: ${(err as Error).message}`)
      stream.abort(error)
      throw error
    }
    await stream.close({ signal }).catch(err => { stream.abort(err) })
    const reason = response.reason.slice(0, MAX_REASON_LENGTH)
    switch (response.status) {
      case Response.Status.OK:
        if (response.data.byteLength > maxResponseSize) {
          throw new ResponseTooLargeError(`the response to "${name}" exceeds the ${maxResponseSize} byte limit`)
        }
        return response.data
      case Response.Status.REQUEST_TOO_LARGE:
        throw new RequestTooLargeError(`the responder refused the request as too large: ${reason}`)
      case Response.Status.RESPONSE_TOO_LARGE:
        throw new ResponseTooLargeError(`the response to "${name}" exceeds the ${maxResponseSize} byte limit: ${reason}`)
      case Response.Status.TIMEOUT:
        throw new RequestTimeoutError(`the responder's handler for "${name}" ran past its deadline`)
      default: {
        const status = STATUS_NAMES[response.status] ?? 'refused'
        throw new RequestRefusedError(`"${name}" was refused (${status})${reason === '' ? '' : `: ${reason}`}`, status)
      }
    }
  }

  private async handleStream (stream: Stream, connection: Connection): Promise<void> {
    await this.serve(stream, connection.remotePeer, connection)
  }

  /**
   * The responder's side of one stream. Public for unit tests over a stream
   * pair (`connection` is then undefined).
   */
  async serve (stream: Stream, from: PeerId, connection?: Connection): Promise<void> {
    const key = from.toString()
    const shutdown = this.shutdownController.signal
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const receiveDeadline = deadlineSignal(this.receiveTimeout, shutdown)
    const receiveSignal = receiveDeadline.signal
    const maxDataLength = this.maxRequestSize + FRAME_OVERHEAD
    const lp = lpStream(stream, { maxDataLength, maxBufferSize: maxDataLength + READ_AHEAD })
    let writer = lp
    const reply = async (response: Partial<Response> & { status: Response.Status }): Promise<void> => {
      const deadline = deadlineSignal(this.receiveTimeout, shutdown)
      const signal = deadline.signal
      if (response.status !== Response.Status.OK) {
        this.counters.requestsRefused++
      }
      try {
        await writer.write(Response.encode({ data: new Uint8Array(0), reason: '', ...response }), { signal })
        await stream.close({ signal })
      } finally {
        deadline.clear()
      }
    }
    const active = this.inbound.get(key) ?? 0
    if (active >= this.maxConcurrentPerPeer) {
      this.counters.requestsBusy++
      this.log('%p has %d requests in flight, answering busy', from, active)
      await reply({ status: Response.Status.BUSY, reason: `at most ${this.maxConcurrentPerPeer} requests in flight per peer` }).catch(err => { stream.abort(err) })
      receiveDeadline.clear()
      return
    }
    this.inbound.set(key, active + 1)
    try {
      let bytes: Uint8ArrayList
      try {
        bytes = await lp.read({ signal: receiveSignal })
      } catch (err) {
        if (isLengthError(err)) {
          // refused from the length prefix alone: the body is never read or buffered
          // (a reset here could overtake the answer, so the read side is closed instead)
          this.counters.requestsTooLarge++
          await lp.unwrap().closeRead()
          writer = lpStream(stream)
          await reply({ status: Response.Status.REQUEST_TOO_LARGE, reason: `limit is ${this.maxRequestSize} bytes` })
          return
        }
        if (receiveSignal.aborted && !shutdown.aborted) {
          this.counters.requestsStalled++
          this.log('%p did not send its request within %d ms', from, this.receiveTimeout)
        }
        throw err
      }
      let request: Request
      try {
        request = Request.decode(bytes)
      } catch (err) {
        this.counters.malformedFrames++
        throw new MalformedRequestError(`a request from ${from} does not decode: ${(err as Error).message}`)
      }
      if (request.name.length === 0 || request.name.length > MAX_NAME_LENGTH) {
        this.counters.malformedFrames++
        throw new MalformedRequestError(`a request from ${from} has a name of ${request.name.length} characters`)
      }
      const registered = this.handlers.get(request.name)
      if (registered == null) {
        await reply({ status: Response.Status.NO_HANDLER, reason: `no handler for "${request.name.slice(0, 64)}"` })
        return
      }
      if (request.data.byteLength > registered.maxRequestSize) {
        this.counters.requestsTooLarge++
        await reply({ status: Response.Status.REQUEST_TOO_LARGE, reason: `limit is ${registered.maxRequestSize} bytes` })
        return
      }
      const handlerDeadline = deadlineSignal(this.handlerTimeout, shutdown)
      const handlerSignal = handlerDeadline.signal
      let data: Uint8Array
      try {
        // a handler that ignores its signal is not waited for
        data = await raceSignal(Promise.resolve(registered.handler(request.data, { from, name: request.name, connection: connection as Connection, signal: handlerSignal })), handlerSignal)
      } catch (err) {
        if (handlerDeadline.timedOut) {
          await reply({ status: Response.Status.TIMEOUT, reason: `no answer within ${this.handlerTimeout} ms` })
          return
        }
        if (shutdown.aborted) {
          throw err
        }
        await reply({ status: Response.Status.REFUSED, reason: String((err as Error)?.message ?? err).slice(0, MAX_REASON_LENGTH) })
        return
      } finally {
        // the handler has returned, thrown or timed out: nothing waits on its signal now
        handlerDeadline.clear()
      }
      const limit = request.maxResponseSize > 0 ? request.maxResponseSize : this.maxResponseSize
      if (!(data instanceof Uint8Array)) {
        await reply({ status: Response.Status.REFUSED, reason: 'the handler returned no bytes' })
        return
      }
      if (data.byteLength > limit) {
        await reply({ status: Response.Status.RESPONSE_TOO_LARGE, reason: `${data.byteLength} bytes, the requester accepts ${limit}` })
        return
      }
      await reply({ status: Response.Status.OK, data: data as Uint8Array<ArrayBuffer> })
      this.counters.requestsServed++
    } catch (err) {
      this.log('request stream from %p failed - %e', from, err)
      stream.abort(err as Error)
    } finally {
      receiveDeadline.clear()
      const left = (this.inbound.get(key) ?? 1) - 1
      if (left <= 0) {
        this.inbound.delete(key)
      } else {
        this.inbound.set(key, left)
      }
    }
  }

  private async acquire (key: string, signal: AbortSignal): Promise<void> {
    let slots = this.outbound.get(key)
    if (slots == null) {
      slots = { active: 0, waiters: [] }
      this.outbound.set(key, slots)
    }
    while (slots.active >= this.maxConcurrentPerPeer) {
      signal.throwIfAborted()
      const { promise, resolve } = Promise.withResolvers<void>()
      slots.waiters.push(resolve)
      const onAbort = (): void => { resolve() }
      signal.addEventListener('abort', onAbort, { once: true })
      await promise
      signal.removeEventListener('abort', onAbort)
      const index = slots.waiters.indexOf(resolve)
      if (index !== -1) {
        slots.waiters.splice(index, 1)
      }
      slots = this.outbound.get(key) ?? slots
    }
    signal.throwIfAborted()
    slots.active++
    this.outbound.set(key, slots)
  }

  private release (key: string): void {
    const slots = this.outbound.get(key)
    if (slots == null) {
      return
    }
    slots.active--
    const next = slots.waiters.shift()
    if (next != null) {
      next()
    } else if (slots.active <= 0) {
      this.outbound.delete(key)
    }
  }
}
