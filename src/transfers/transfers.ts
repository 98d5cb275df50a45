import { TypedEventEmitter, serviceCapabilities } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { LINK_KIND_RANK, bestConnection, linkKind } from '../utils/connections.js'
import { lengthPrefixed, varint } from '../utils/length-prefix.js'
import { linkTo } from '../utils/link.js'
import { ACK_FRACTION, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_RESUMES, DEFAULT_MAX_TRANSFERS, DEFAULT_MAX_TRANSFERS_PER_PEER, DEFAULT_OFFER_TIMEOUT, DEFAULT_RESUME_TIMEOUT, DEFAULT_WINDOW_SIZE, FRAME_OVERHEAD, ID_LENGTH, MAX_CHUNK_SIZE, MAX_INBOUND_STREAMS, MAX_META_SIZE, MAX_NAME_LENGTH, MAX_OUTBOUND_STREAMS, MAX_REASON_LENGTH, MAX_RESUME_BACKOFF, PROTOCOL, RESUME_BACKOFF } from './constants.js'
import { MalformedTransferError, TransferCancelledError, TransferIntegrityError, TransferInterruptedError, TransferRefusedError, TransferTimeoutError, TransferTooLargeError } from './errors.js'
import { ContentHasher } from './hash.js'
import { Accept, Chunk, Control, Offer } from './pb/transfers.js'
import { deadlineSignal, timeoutSignal } from '../utils/timeout-signal.js'
import type { HandleTransferOptions, IncomingTransfer, IncomingTransferEvents, SendTransferOptions, TransferHandler, TransferResult, Transfers, TransfersComponents, TransfersInit, TransfersStats, TransferSource } from './index.js'
import type { LinkMaker } from '../direct-messages/index.js'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/** Frames larger than a data chunk are never valid */
const MAX_FRAME = MAX_CHUNK_SIZE + FRAME_OVERHEAD
/** The sender's read buffer: control frames only */
const CONTROL_READ_BUFFER = 4 * MAX_FRAME

/** Errors that end a transfer; anything else while streaming is a dropped link */
const TERMINAL = new Set(['TransferCancelledError', 'TransferRefusedError', 'TransferTooLargeError', 'TransferInterruptedError', 'TransferTimeoutError', 'TransferIntegrityError', 'MalformedTransferError', 'SourceError'])

/** The application's source threw or misbehaved: ends the transfer, reported as the original error */
class SourceError extends Error {
  static name = 'SourceError'
  name = 'SourceError'
  constructor (readonly original: Error) {
    super(original.message)
  }
}

/** A better link to the receiver appeared: the transfer moves to it (not a failure) */
class LinkUpgradeError extends Error {
  static name = 'LinkUpgradeError'
  name = 'LinkUpgradeError'
}

/** How often (in data frames) a sender on a relayed link looks for a better one */
const UPGRADE_CHECK_FRAMES = 16

interface Registered {
  handler: TransferHandler
  maxSize: number
}

/** An outgoing transfer's state, kept across the streams that carry it */
interface Outgoing {
  id: Uint8Array<ArrayBuffer>
  name: string
  meta: Uint8Array<ArrayBuffer>
  size?: number
  chunks: AsyncIterator<Uint8Array>
  /** bytes taken from the source (each sent at least once) */
  sent: number
  /** bytes the receiving application has taken: the sender's credit */
  acked: number
  /** sent bytes the receiver may still lack, in order, kept to resend after a drop */
  retained: Array<{ offset: number, data: Uint8Array }>
  retainedBytes: number
  hasher: ContentHasher
  digest?: Uint8Array
  sourceDone: boolean
  /** the receiver answered an offer at least once */
  accepted: boolean
  resumes: number
}

function decode <T> (codec: { decode(b: Uint8Array | Uint8ArrayList): T }, bytes: Uint8ArrayList, what: string): T {
  try {
    return codec.decode(bytes)
  } catch (err) {
    throw new MalformedTransferError(`a ${what} frame does not decode: ${(err as Error).message}`)
  }
}

function isLengthError (err: unknown): boolean {
  const name = (err as Error)?.name
  return name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError'
}

/** Cut any source into chunks of at most MAX_CHUNK_SIZE (without copying) */
async function * chunksOf (source: TransferSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let i = 0; i < source.byteLength; i += MAX_CHUNK_SIZE) {
      yield source.subarray(i, i + MAX_CHUNK_SIZE)
    }
    return
  }
  const iterable: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = typeof Blob !== 'undefined' && source instanceof Blob
    ? source.stream() as unknown as AsyncIterable<Uint8Array>
    : source as AsyncIterable<Uint8Array> | Iterable<Uint8Array>
  for await (const chunk of iterable) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError('a transfer source must yield Uint8Arrays')
    }
    for (let i = 0; i < chunk.byteLength; i += MAX_CHUNK_SIZE) {
      yield chunk.subarray(i, i + MAX_CHUNK_SIZE)
    }
  }
}

function sourceSize (source: TransferSource, size?: number): number | undefined {
  if (size != null) {
    return size
  }
  if (source instanceof Uint8Array) {
    return source.byteLength
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    return source.size
  }
  return undefined
}

const reasonOf = (err: unknown): string => String((err as Error)?.message ?? err).slice(0, MAX_REASON_LENGTH)

export class DefaultTransfers implements Transfers, Startable {
  private readonly components: TransfersComponents
  readonly log: Logger
  readonly windowSize: number
  readonly idleTimeout: number
  private readonly offerTimeout: number
  readonly resumeTimeout: number
  private readonly maxResumes: number
  private readonly maxTransfersPerPeer: number
  private readonly maxTransfers: number
  private readonly makeLink?: LinkMaker
  private readonly handlers = new Map<string, Registered>()
  /** incoming transfers by `<peer>/<id>`, including finished ones kept to answer a late resume */
  private readonly incoming = new Map<string, IncomingState>()
  readonly counters: Omit<TransfersStats, 'incoming'> = { transfersSent: 0, transfersReceived: 0, transfersFailed: 0, resumes: 0, linkUpgrades: 0, resumesAccepted: 0, transfersBusy: 0, malformedFrames: 0, stalledSenders: 0, bytesSent: 0, bytesReceived: 0, maxBuffered: 0, maxRetained: 0 }
  shutdownController = new AbortController()
  private started = false

  constructor (components: TransfersComponents, init: TransfersInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:transfers')
    this.windowSize = Math.max(init.windowSize ?? DEFAULT_WINDOW_SIZE, 2 * MAX_CHUNK_SIZE)
    this.idleTimeout = init.idleTimeout ?? DEFAULT_IDLE_TIMEOUT
    this.offerTimeout = init.offerTimeout ?? DEFAULT_OFFER_TIMEOUT
    this.resumeTimeout = init.resumeTimeout ?? DEFAULT_RESUME_TIMEOUT
    this.maxResumes = init.maxResumes ?? DEFAULT_MAX_RESUMES
    this.maxTransfersPerPeer = init.maxTransfersPerPeer ?? DEFAULT_MAX_TRANSFERS_PER_PEER
    this.maxTransfers = init.maxTransfers ?? DEFAULT_MAX_TRANSFERS
    this.makeLink = init.makeLink
    this.handleStream = this.handleStream.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/transfers'
  readonly [serviceCapabilities]: string[] = ['@membrane/transfers']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    await this.components.registrar.handle(PROTOCOL, this.handleStream, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
    this.started = true
  }

  async stop (): Promise<void> {
    this.shutdownController.abort()
    await this.components.registrar.unhandle(PROTOCOL)
    for (const transfer of [...this.incoming.values()]) {
      transfer.fail(new TransferInterruptedError('the receiving node stopped'))
      transfer.forget()
    }
    this.incoming.clear()
    this.started = false
  }

  stats (): TransfersStats {
    let incoming = 0
    for (const t of this.incoming.values()) {
      incoming += t.finished ? 0 : 1
    }
    return { ...this.counters, incoming }
  }

  handle (name: string, handler: TransferHandler, options: HandleTransferOptions = {}): () => void {
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
      throw new RangeError(`a transfer name is 1 to ${MAX_NAME_LENGTH} characters`)
    }
    if (this.handlers.has(name)) {
      throw new Error(`a transfer handler for "${name}" is already registered`)
    }
    const entry: Registered = { handler, maxSize: options.maxSize ?? Infinity }
    this.handlers.set(name, entry)
    return () => {
      if (this.handlers.get(name) === entry) {
        this.handlers.delete(name)
      }
    }
  }

  // --- sending ---------------------------------------------------------------

  async send (peer: PeerId, name: string, source: TransferSource, options: SendTransferOptions = {}): Promise<TransferResult> {
    // shutdown itself when there is no caller's signal: an AbortSignal.any() would leave a cell per call on it (src/utils/timeout-signal.ts)
    const signal = options.signal == null ? this.shutdownController.signal : AbortSignal.any([this.shutdownController.signal, options.signal])
    const out = this.outgoing(name, source, options)
    const progress = (): void => {
      options.onProgress?.({ bytes: out.sent, size: out.size, resumes: out.resumes })
    }
    let resumeDeadline: number | undefined
    let backoff = RESUME_BACKOFF
    /** bytes acknowledged when the link last dropped: progress since then renews the resume budget */
    let ackedAtDrop = -1
    try {
      while (true) {
        let connection: Connection | undefined
        try {
          const linkDeadline = deadlineSignal(this.offerTimeout, signal)
          connection = await linkTo(this.components.connectionManager, peer, { signal: linkDeadline.signal, makeLink: this.makeLink, allowLimited: false })
            .finally(() => { linkDeadline.clear() })
          const current = connection
          // a circuit from connect() comes first and WebRTC behind it: move once a better link is up
          const better = (): boolean => {
            const best = bestConnection(this.components.connectionManager.getConnections(peer))
            return best != null && best !== current && LINK_KIND_RANK[linkKind(best)] < LINK_KIND_RANK[linkKind(current)]
          }
          await this.carry(connection, out, signal, progress, better)
          this.counters.transfersSent++
          return { id: uint8ArrayToString(out.id, 'base16'), bytes: out.sent, digest: uint8ArrayToString(out.digest ?? new Uint8Array(0), 'base16'), resumes: out.resumes, connection }
        } catch (err) {
          if (signal.aborted) {
            throw signal.reason ?? err
          }
          if (TERMINAL.has((err as Error).name)) {
            throw err instanceof SourceError ? err.original : err
          }
          if (!out.accepted) {
            // never started: nothing to resume
            throw err
          }
          if ((err as Error).name === 'LinkUpgradeError') {
            this.counters.linkUpgrades++
            this.log('transfer %s to %p moves to a better link after %d bytes', uint8ArrayToString(out.id, 'base16'), peer, out.sent)
            continue
          }
          if (out.acked > ackedAtDrop) {
            // the last link carried data: a fresh budget for this drop
            resumeDeadline = undefined
            backoff = RESUME_BACKOFF
          }
          ackedAtDrop = out.acked
          resumeDeadline ??= Date.now() + this.resumeTimeout
          if (out.resumes >= this.maxResumes || Date.now() + backoff > resumeDeadline) {
            throw new TransferInterruptedError(`the link to ${peer} dropped after ${out.sent} bytes and no new link carried on (${out.resumes} resumes): ${reasonOf(err)}`)
          }
          this.log('transfer %s to %p lost its link after %d bytes - %e; re-linking', uint8ArrayToString(out.id, 'base16'), peer, out.sent, err)
          await new Promise<void>(resolve => {
            const timer = setTimeout(resolve, backoff)
            signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
          })
          signal.throwIfAborted()
          backoff = Math.min(backoff * 2, MAX_RESUME_BACKOFF)
          out.resumes++
          this.counters.resumes++
        }
      }
    } catch (err) {
      this.counters.transfersFailed++
      throw err
    } finally {
      void out.chunks.return?.(undefined)?.catch(() => {})
    }
  }

  /** A new outgoing transfer's state (validates the arguments) */
  private outgoing (name: string, source: TransferSource, options: SendTransferOptions): Outgoing {
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
      throw new RangeError(`a transfer name is 1 to ${MAX_NAME_LENGTH} characters`)
    }
    const meta = (options.meta ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>
    if (meta.byteLength > MAX_META_SIZE) {
      throw new RangeError(`transfer metadata is at most ${MAX_META_SIZE} bytes`)
    }
    const size = sourceSize(source, options.size)
    if (size != null && (!Number.isSafeInteger(size) || size < 0)) {
      throw new RangeError(`a transfer size is a non-negative integer, got ${size}`)
    }
    return {
      id: crypto.getRandomValues(new Uint8Array(ID_LENGTH)),
      name,
      meta,
      size,
      chunks: chunksOf(source),
      sent: 0,
      acked: 0,
      retained: [],
      retainedBytes: 0,
      hasher: new ContentHasher(),
      sourceDone: false,
      accepted: false,
      resumes: 0
    }
  }

  /**
   * The sender's side over one given stream, with no re-linking. Public for
   * unit tests over a stream pair
   */
  async sendOver (stream: Stream, name: string, source: TransferSource, options: SendTransferOptions = {}): Promise<string> {
    const out = this.outgoing(name, source, options)
    const signal = options.signal == null ? this.shutdownController.signal : AbortSignal.any([this.shutdownController.signal, options.signal])
    try {
      await this.carryOver(stream, out, signal, () => { options.onProgress?.({ bytes: out.sent, size: out.size, resumes: 0 }) })
    } catch (err) {
      throw err instanceof SourceError ? err.original : err
    }
    return uint8ArrayToString(out.digest ?? new Uint8Array(0), 'base16')
  }

  /** Carry `out` over one stream on `connection`, from where the receiver stands, until it is verified */
  private async carry (connection: Connection, out: Outgoing, signal: AbortSignal, progress: () => void, better?: () => boolean): Promise<void> {
    const opening = deadlineSignal(this.offerTimeout, signal)
    const stream = await connection.newStream(PROTOCOL, { signal: opening.signal }).finally(() => { opening.clear() })
    await this.carryOver(stream, out, signal, progress, better)
  }

  private async carryOver (stream: Stream, out: Outgoing, signal: AbortSignal, progress: () => void, better?: () => boolean): Promise<void> {
    // not AbortSignal.any(): its sources include the long-lived shutdown signal, which keeps a cell per call (src/utils/timeout-signal.ts)
    const offer = deadlineSignal(this.offerTimeout, signal)
    const offerSignal = offer.signal
    const lp = lpStream(stream, { maxDataLength: FRAME_OVERHEAD, maxBufferSize: CONTROL_READ_BUFFER })
    let failure: Error | undefined
    let done = false
    let wake: (() => void) | undefined
    let lastProgress = Date.now()
    const notify = (): void => {
      const w = wake
      wake = undefined
      w?.()
    }
    try {
      await lp.write(Offer.encode({ id: out.id, name: out.name, size: out.size == null ? undefined : BigInt(out.size), resume: out.accepted, meta: out.meta }), { signal: offerSignal })
      const accept = decode(Accept, await lp.read({ signal: offerSignal }), 'accept')
      switch (accept.status) {
        case Accept.Status.OK:
          break
        case Accept.Status.TOO_LARGE:
          throw new TransferTooLargeError(`the receiver refused ${out.size ?? 'an unannounced number of'} bytes: ${accept.reason.slice(0, MAX_REASON_LENGTH)}`)
        case Accept.Status.UNKNOWN:
          throw new TransferInterruptedError('the receiver no longer holds this transfer')
        default: {
          const status = accept.status === Accept.Status.BUSY ? 'busy' : accept.status === Accept.Status.NO_HANDLER ? 'no-handler' : 'malformed'
          throw new TransferRefusedError(`the receiver refused the transfer (${status}): ${accept.reason.slice(0, MAX_REASON_LENGTH)}`, status)
        }
      }
      const offset = Number(accept.offset)
      const consumed = Number(accept.consumed)
      if (!(consumed <= offset && offset <= out.sent && offset >= this.retainedFrom(out))) {
        throw new MalformedTransferError(`the receiver resumes at ${offset} (consumed ${consumed}), the sender holds ${this.retainedFrom(out)}–${out.sent}`)
      }
      out.accepted = true
      const window = Math.max(2 * MAX_CHUNK_SIZE, Math.min(accept.window, this.windowSize))
      this.acknowledge(out, consumed)
      this.release(out, offset)

      // the receiver's answers: credit, then done (or cancel / integrity failure)
      void (async () => {
        while (true) {
          const control = decode(Control, await lp.read({ signal }), 'control')
          if (control.kind === Control.Kind.ACK) {
            const n = Number(control.consumed)
            if (n > out.sent) {
              throw new MalformedTransferError(`the receiver acknowledged ${n} of ${out.sent} bytes sent`)
            }
            this.acknowledge(out, n)
            lastProgress = Date.now()
          } else if (control.kind === Control.Kind.DONE) {
            if (out.digest == null) {
              throw new MalformedTransferError('the receiver reported success before the end')
            }
            done = true
            notify()
            return
          } else if (control.kind === Control.Kind.CANCEL) {
            throw new TransferCancelledError(`the receiver cancelled the transfer: ${control.reason.slice(0, MAX_REASON_LENGTH)}`)
          } else if (control.kind === Control.Kind.TOO_LARGE) {
            throw new TransferTooLargeError(`the receiver refused more: ${control.reason.slice(0, MAX_REASON_LENGTH)}`)
          } else if (control.kind === Control.Kind.INTEGRITY) {
            throw new TransferIntegrityError(`the receiver's hash does not match: ${control.reason.slice(0, MAX_REASON_LENGTH)}`)
          } else {
            throw new MalformedTransferError(`unknown control kind ${control.kind}`)
          }
          notify()
        }
      })().catch((err: Error) => {
        failure = isLengthError(err) ? new MalformedTransferError(`a control frame exceeds ${FRAME_OVERHEAD} bytes`) : err
        notify()
      })

      const until = async (ready: () => boolean): Promise<void> => {
        while (true) {
          if (failure != null) {
            throw failure
          }
          signal.throwIfAborted()
          if (ready()) {
            return
          }
          const remaining = lastProgress + this.idleTimeout - Date.now()
          if (remaining <= 0) {
            throw new TransferTimeoutError(`the receiver acknowledged nothing for ${this.idleTimeout} ms`)
          }
          const { promise, resolve } = Promise.withResolvers<void>()
          wake = resolve
          const timer = setTimeout(resolve, remaining)
          signal.addEventListener('abort', notify, { once: true })
          await promise
          clearTimeout(timer)
          signal.removeEventListener('abort', notify)
        }
      }
      const write = async (data: Uint8Array): Promise<void> => {
        // a DATA Chunk is its data field alone (kind 0 is the default): framed without copying the bytes
        await lp.write(new Uint8ArrayList(dataFieldHeader(data.byteLength), data), { signal })
        this.counters.bytesSent += data.byteLength
      }

      // what the receiver lacks of what was sent before
      for (const { offset: start, data } of [...out.retained]) {
        if (start + data.byteLength <= offset) {
          continue
        }
        if (start < offset) {
          throw new MalformedTransferError(`the receiver resumes at ${offset}, inside a frame`)
        }
        await until(() => start + data.byteLength - out.acked <= window)
        await write(data)
      }
      // then the rest of the source
      let frames = 0
      while (!out.sourceDone) {
        if (better != null && ++frames % UPGRADE_CHECK_FRAMES === 0 && better()) {
          throw new LinkUpgradeError('a better link is up')
        }
        await until(() => out.sent - out.acked + MAX_CHUNK_SIZE <= window)
        let next: IteratorResult<Uint8Array>
        try {
          next = await out.chunks.next()
        } catch (err) {
          throw new SourceError(err as Error)
        }
        if (next.done === true) {
          if (out.size != null && out.sent !== out.size) {
            throw new SourceError(new RangeError(`the source yielded ${out.sent} bytes, ${out.size} were announced`))
          }
          out.digest = await out.hasher.digest()
          out.sourceDone = true
          break
        }
        const data = next.value
        if (data.byteLength === 0) {
          continue
        }
        if (out.size != null && out.sent + data.byteLength > out.size) {
          throw new SourceError(new RangeError(`the source yields more than the ${out.size} bytes announced`))
        }
        out.retained.push({ offset: out.sent, data })
        out.retainedBytes += data.byteLength
        this.counters.maxRetained = Math.max(this.counters.maxRetained, out.retainedBytes)
        out.sent += data.byteLength
        await out.hasher.update(data)
        await write(data)
        progress()
      }
      await lp.write(Chunk.encode({ kind: Chunk.Kind.END, data: new Uint8Array(0), digest: out.digest as Uint8Array<ArrayBuffer>, size: BigInt(out.sent), reason: '' }), { signal })
      await until(() => done)
      await stream.close({ signal }).catch((err: Error) => { stream.abort(err) })
    } catch (err) {
      const error = err as Error
      if (signal.aborted || error.name === 'TransferTimeoutError' || error.name === 'SourceError') {
        // tell the receiver why, briefly, before the reset
        const reason = signal.aborted ? `the sender cancelled: ${reasonOf(signal.reason)}` : reasonOf(error)
        try {
          stream.send(lengthPrefixed(Chunk.encode({ kind: Chunk.Kind.CANCEL, data: new Uint8Array(0), digest: new Uint8Array(0), size: 0n, reason })))
        } catch {}
        await stream.close({ signal: timeoutSignal(1000) }).catch(() => {})
      }
      if (error.name === 'MalformedTransferError') {
        this.counters.malformedFrames++
      }
      if (error.name === 'LinkUpgradeError') {
        // everything written arrives; the receiver holds it until the offer on the new link
        await stream.close({ signal: timeoutSignal(this.offerTimeout) }).catch((e: Error) => { stream.abort(e) })
        throw err
      }
      stream.abort(error)
      throw err
    } finally {
      offer.clear()
    }
  }

  private retainedFrom (out: Outgoing): number {
    return out.retained.length === 0 ? out.sent : out.retained[0].offset
  }

  /** The receiving application took `consumed` bytes: that much credit returns */
  private acknowledge (out: Outgoing, consumed: number): void {
    if (consumed > out.acked) {
      out.acked = consumed
      this.release(out, consumed)
    }
  }

  /** Forget retained chunks that end at or before `offset` (the receiver holds them) */
  private release (out: Outgoing, offset: number): void {
    while (out.retained.length > 0 && out.retained[0].offset + out.retained[0].data.byteLength <= offset) {
      out.retainedBytes -= (out.retained.shift() as { data: Uint8Array }).data.byteLength
    }
  }

  // --- receiving -------------------------------------------------------------

  private async handleStream (stream: Stream, connection: Connection): Promise<void> {
    await this.serve(stream, connection.remotePeer)
  }

  /** The receiver's side of one stream. Public for unit tests over a stream pair */
  async serve (stream: Stream, from: PeerId): Promise<void> {
    // credit bounds what may arrive unread to one window (plus the frames' framing)
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME, maxBufferSize: this.windowSize + 4 * MAX_FRAME })
    const shutdown = this.shutdownController.signal
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const offerDeadline = deadlineSignal(this.offerTimeout, shutdown)
    const offerSignal = offerDeadline.signal
    const answer = async (accept: Partial<Accept> & { status: Accept.Status }): Promise<void> => {
      await lp.write(Accept.encode({ offset: 0n, window: this.windowSize, reason: '', consumed: 0n, ...accept }), { signal: offerSignal })
    }
    try {
      let offer: Offer
      try {
        offer = decode(Offer, await lp.read({ signal: offerSignal }), 'offer')
      } catch (err) {
        if (isLengthError(err)) {
          throw new MalformedTransferError(`an offer exceeds ${MAX_FRAME} bytes`)
        }
        throw err
      }
      if (offer.id.byteLength !== ID_LENGTH || offer.name.length === 0 || offer.name.length > MAX_NAME_LENGTH || offer.meta.byteLength > MAX_META_SIZE) {
        await answer({ status: Accept.Status.MALFORMED, reason: 'bad id, name or metadata' })
        throw new MalformedTransferError(`a malformed offer from ${from}`)
      }
      const key = `${from.toString()}/${uint8ArrayToString(offer.id, 'base16')}`
      const existing = this.incoming.get(key)
      if (offer.resume) {
        if (existing == null || existing.failed) {
          await answer({ status: Accept.Status.UNKNOWN, reason: 'no such transfer (expired or failed)' })
          await stream.close({ signal: offerSignal })
          return
        }
        this.counters.resumesAccepted++
        if (await existing.attach(stream, lp, async () => answer({ status: Accept.Status.OK, offset: BigInt(existing.received), consumed: BigInt(existing.consumed) }))) {
          await existing.read(stream, lp)
        }
        return
      }
      if (existing != null) {
        await answer({ status: Accept.Status.MALFORMED, reason: 'transfer id in use' })
        throw new MalformedTransferError(`${from} reused a transfer id`)
      }
      const registered = this.handlers.get(offer.name)
      if (registered == null) {
        await answer({ status: Accept.Status.NO_HANDLER, reason: `no handler for "${offer.name.slice(0, 64)}"` })
        await stream.close({ signal: offerSignal })
        return
      }
      const size = offer.size == null ? undefined : Number(offer.size)
      if (size != null && size > registered.maxSize) {
        await answer({ status: Accept.Status.TOO_LARGE, reason: `limit is ${registered.maxSize} bytes` })
        await stream.close({ signal: offerSignal })
        return
      }
      let fromPeer = 0
      let total = 0
      for (const t of this.incoming.values()) {
        if (!t.finished) {
          total++
          fromPeer += t.from.equals(from) ? 1 : 0
        }
      }
      if (fromPeer >= this.maxTransfersPerPeer || total >= this.maxTransfers) {
        this.counters.transfersBusy++
        await answer({ status: Accept.Status.BUSY, reason: `at most ${this.maxTransfersPerPeer} transfers per peer and ${this.maxTransfers} in all` })
        await stream.close({ signal: offerSignal })
        return
      }
      const transfer = new IncomingState(this, key, from, offer, size, registered.maxSize)
      this.incoming.set(key, transfer)
      await transfer.attach(stream, lp, async () => answer({ status: Accept.Status.OK }))
      // the handler consumes the source; returning early or throwing cancels
      void Promise.resolve().then(async () => registered.handler(transfer)).then(() => {
        transfer.cancel('the receiver stopped reading')
      }, (err) => {
        transfer.cancel(reasonOf(err))
      })
      await transfer.read(stream, lp)
    } catch (err) {
      if ((err as Error).name === 'MalformedTransferError') {
        this.counters.malformedFrames++
      }
      this.log('transfer stream from %p failed - %e', from, err)
      stream.abort(err as Error)
    } finally {
      offerDeadline.clear()
    }
  }

  /** Called by an incoming transfer when it ends */
  forget (key: string): void {
    this.incoming.delete(key)
  }
}

/**
 * The data of a frame that is a DATA Chunk holding only its data field (what
 * senders write), without copying it; undefined for any other frame, which is
 * then decoded in full
 */
function dataField (frame: Uint8ArrayList): Uint8ArrayList | undefined {
  if (frame.byteLength < 2 || frame.get(0) !== 0x12) {
    return undefined
  }
  let length = 0
  let offset = 1
  for (let shift = 0; shift < 21; shift += 7) {
    if (offset >= frame.byteLength) {
      return undefined
    }
    const byte = frame.get(offset++)
    length += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) {
      return offset + length === frame.byteLength ? frame.sublist(offset) : undefined
    }
  }
  return undefined
}

/** The protobuf key and length of Chunk's `data` field (field 2, length-delimited) */
function dataFieldHeader (length: number): Uint8Array {
  return Uint8Array.from([0x12, ...varint(length)])
}

/** An incoming transfer: what the receiver holds for its application, kept across the streams that carry it */
class IncomingState extends TypedEventEmitter<IncomingTransferEvents> implements IncomingTransfer {
  readonly id: string
  readonly name: string
  readonly size?: number
  readonly meta: Uint8Array
  received = 0
  consumed = 0
  /** what was last acknowledged to the sender */
  private lastAck = 0
  private readonly queue: Uint8Array[] = []
  private buffered = 0
  private ended = false
  private digest?: Uint8Array
  private error?: Error
  private waiter?: () => void
  finished = false
  failed = false
  private iterated = false
  private stream?: Stream
  private lp?: LengthPrefixedStream<Stream>
  private resumeTimer?: ReturnType<typeof setTimeout>
  private readonly hasher = new ContentHasher()
  private resumes = 0

  constructor (private readonly owner: DefaultTransfers, private readonly key: string, readonly from: PeerId, offer: Offer, size: number | undefined, private readonly maxSize: number) {
    super()
    this.id = uint8ArrayToString(offer.id, 'base16')
    this.name = offer.name
    this.size = size
    this.meta = offer.meta
  }

  get source (): AsyncIterable<Uint8Array> {
    if (this.iterated) {
      throw new Error('a transfer\'s source can be read once')
    }
    this.iterated = true
    return this.iterate()
  }

  cancel (reason = 'cancelled by the receiver'): void {
    if (this.finished) {
      return
    }
    this.control({ kind: Control.Kind.CANCEL, consumed: 0n, reason: reason.slice(0, MAX_REASON_LENGTH) })
    this.fail(new TransferCancelledError(reason), false)
  }

  /**
   * End with `err` (the source throws it). `reset` resets the stream (bad
   * input); otherwise it is closed, so a control frame just written arrives
   */
  fail (err: Error, reset = true): void {
    if (this.finished) {
      return
    }
    this.finished = true
    this.failed = true
    this.error = err
    this.owner.counters.transfersFailed++
    this.owner.log('incoming transfer %s from %p failed - %e', this.id, this.from, err)
    this.wake()
    const stream = this.stream
    this.forget()
    if (reset) {
      stream?.abort(err)
    } else {
      void stream?.close({ signal: timeoutSignal(1000) }).catch(e => { stream.abort(e) })
    }
  }

  /** Drop this transfer from the service (it no longer answers resumes) */
  forget (): void {
    clearTimeout(this.resumeTimer)
    this.owner.forget(this.key)
    this.stream = undefined
    this.lp = undefined
  }

  /**
   * Carry on over `stream`: answer the offer with `accept`, then (unless
   * already finished) return true for the caller to `read()` it
   */
  async attach (stream: Stream, lp: LengthPrefixedStream<Stream>, accept: () => Promise<void>): Promise<boolean> {
    const previous = this.stream
    this.stream = stream
    this.lp = lp
    clearTimeout(this.resumeTimer)
    if (previous != null) {
      // the sender moved to a new link before this end noticed the old one died
      previous.abort(new Error('replaced by a resumed stream'))
    }
    await accept()
    this.lastAck = this.consumed
    if (this.finished) {
      // verified and drained before the sender heard: tell it again
      this.control({ kind: Control.Kind.DONE, consumed: BigInt(this.consumed), reason: '' })
      await stream.close({ signal: timeoutSignal(this.owner.idleTimeout) }).catch(err => { stream.abort(err) })
      return false
    }
    if (previous != null || this.received > 0) {
      this.resumes++
    }
    return true
  }

  async read (stream: Stream, lp: LengthPrefixedStream<Stream>): Promise<void> {
    const owner = this.owner
    const window = owner.windowSize
    const watchdog = new AbortController()
    let lastFrame = Date.now()
    // a sender with credit that sends nothing for idleTimeout is cut off; one waiting for credit is not
    const check = (): void => {
      const idle = Date.now() - lastFrame
      if (idle >= owner.idleTimeout && !this.ended && this.received - this.lastAck + MAX_CHUNK_SIZE <= window) {
        watchdog.abort(new TransferTimeoutError(`the sender sent nothing for ${owner.idleTimeout} ms`))
        return
      }
      timer = setTimeout(check, Math.max(50, owner.idleTimeout - Math.min(idle, owner.idleTimeout)))
    }
    let timer = setTimeout(check, owner.idleTimeout)
    this.onAck = () => { lastFrame = Date.now() }
    const signal = AbortSignal.any([watchdog.signal, owner.shutdownController.signal])
    try {
      while (true) {
        let bytes: Uint8ArrayList
        try {
          bytes = await lp.read({ signal })
        } catch (err) {
          if (isLengthError(err)) {
            throw new MalformedTransferError(`a frame exceeds ${MAX_FRAME} bytes`)
          }
          throw err
        }
        if (this.stream !== stream || this.finished) {
          return
        }
        lastFrame = Date.now()
        const data = dataField(bytes)
        const chunk = data == null ? decode(Chunk, bytes, 'chunk') : undefined
        if (chunk == null || chunk.kind === Chunk.Kind.DATA) {
          // the bytes as they arrived (one or more segments), not copied into one array
          const segments = data ?? new Uint8ArrayList((chunk as Chunk).data)
          const n = segments.byteLength
          if (this.ended || n === 0 || n > MAX_CHUNK_SIZE) {
            throw new MalformedTransferError(`a data frame of ${n} bytes${this.ended ? ' after the end' : ''}`)
          }
          if (this.received + n - this.lastAck > window) {
            throw new MalformedTransferError(`the sender exceeded its credit of ${window} bytes`)
          }
          if (this.received + n > this.maxSize || (this.size != null && this.received + n > this.size)) {
            const limit = Math.min(this.maxSize, this.size ?? Infinity)
            this.control({ kind: Control.Kind.TOO_LARGE, consumed: 0n, reason: `more than ${limit} bytes` })
            this.fail(new TransferTooLargeError(`the sender sent more than ${limit} bytes`), false)
            return
          }
          this.received += n
          owner.counters.bytesReceived += n
          for (const segment of segments) {
            this.queue.push(segment)
          }
          this.buffered += n
          owner.counters.maxBuffered = Math.max(owner.counters.maxBuffered, this.buffered)
          this.wake()
          for (const segment of segments) {
            await this.hasher.update(segment)
          }
          this.safeDispatchEvent('progress', { detail: { bytes: this.received, size: this.size, resumes: this.resumes } })
        } else if (chunk.kind === Chunk.Kind.END) {
          this.digest ??= await this.hasher.digest()
          const size = Number(chunk.size)
          if (size !== this.received || (this.size != null && this.size !== this.received) || !uint8ArrayEquals(this.digest, chunk.digest)) {
            const reason = size !== this.received ? `${this.received} bytes received, ${size} sent` : 'content hash mismatch'
            this.control({ kind: Control.Kind.INTEGRITY, consumed: 0n, reason })
            this.fail(new TransferIntegrityError(`transfer ${this.id} from ${this.from}: ${reason}`), false)
            return
          }
          // verified: the source ends once the application took the rest, then DONE goes back
          this.ended = true
          this.wake()
        } else if (chunk.kind === Chunk.Kind.CANCEL) {
          this.fail(new TransferCancelledError(`the sender cancelled the transfer: ${chunk.reason.slice(0, MAX_REASON_LENGTH)}`), false)
          return
        } else {
          throw new MalformedTransferError(`unknown frame kind ${chunk.kind}`)
        }
      }
    } catch (err) {
      if (this.stream !== stream || this.finished) {
        // replaced by a resumed stream, or over: this one is done with
        void stream.close({ signal: timeoutSignal(1000) }).catch((e: Error) => { stream.abort(e) })
        return
      }
      const error = err as Error
      if (error.name === 'MalformedTransferError') {
        owner.counters.malformedFrames++
        this.fail(error)
        return
      }
      if (watchdog.signal.aborted) {
        owner.counters.stalledSenders++
        this.control({ kind: Control.Kind.CANCEL, consumed: 0n, reason: `the sender sent nothing for ${owner.idleTimeout} ms` })
        this.fail(watchdog.signal.reason, false)
        return
      }
      if (owner.shutdownController.signal.aborted) {
        this.fail(new TransferInterruptedError('the receiving node stopped'))
        return
      }
      // the link dropped: keep what is held and wait for the sender to resume
      owner.log('transfer %s from %p lost its link at %d bytes - %e; waiting %d ms for a resume', this.id, this.from, this.received, error, owner.resumeTimeout)
      this.stream = undefined
      this.lp = undefined
      // a sender that moved to a better link closed this one cleanly: close this end too
      void stream.close({ signal: timeoutSignal(1000) }).catch((e: Error) => { stream.abort(e) })
      this.resumeTimer = setTimeout(() => {
        this.fail(new TransferInterruptedError(`the sender did not resume within ${owner.resumeTimeout} ms after its link dropped at ${this.received} bytes`))
      }, owner.resumeTimeout)
    } finally {
      clearTimeout(timer)
      this.onAck = undefined
    }
  }

  private onAck?: () => void

  private control (control: Control): void {
    const lp = this.lp
    if (lp == null) {
      return
    }
    lp.write(Control.encode(control), { signal: timeoutSignal(this.owner.idleTimeout) }).catch(err => {
      this.owner.log('control frame to %p failed - %e', this.from, err)
    })
  }

  private wake (): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  private async * iterate (): AsyncGenerator<Uint8Array> {
    try {
      while (true) {
        if (this.error != null) {
          throw this.error
        }
        const chunk = this.queue.shift()
        if (chunk != null) {
          this.buffered -= chunk.byteLength
          this.consumed += chunk.byteLength
          if (this.consumed - this.lastAck >= this.owner.windowSize / ACK_FRACTION) {
            this.lastAck = this.consumed
            this.onAck?.()
            this.control({ kind: Control.Kind.ACK, consumed: BigInt(this.consumed), reason: '' })
          }
          yield chunk
          continue
        }
        if (this.ended) {
          this.complete()
          return
        }
        const { promise, resolve } = Promise.withResolvers<void>()
        this.waiter = resolve
        await promise
      }
    } finally {
      if (!this.finished) {
        this.cancel('the receiver stopped reading')
      }
    }
  }

  /** Verified and drained: success */
  private complete (): void {
    this.finished = true
    this.owner.counters.transfersReceived++
    this.control({ kind: Control.Kind.DONE, consumed: BigInt(this.consumed), reason: '' })
    // kept a while to answer a sender that missed the DONE and resumes
    clearTimeout(this.resumeTimer)
    this.resumeTimer = setTimeout(() => { this.forget() }, this.owner.resumeTimeout)
    const stream = this.stream
    void stream?.close({ signal: timeoutSignal(this.owner.idleTimeout) }).catch(err => { stream.abort(err) })
  }
}

