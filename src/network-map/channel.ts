/**
 * The wire side of `/membrane/netmap/2.0.0`: one long-lived stream per
 * neighbour and direction. Each side writes only on the stream it opened (a
 * {@link Channel}: frames queued in order, written with a deadline each,
 * waiting on the stream's drain, reopened on the next write after a failure)
 * and reads the stream the other side opened ({@link readChannel}). Every
 * frame is a message on its own; a reply travels on the replier's own stream.
 *
 * The connect-time sync compares summaries first (`./summary.js`): an
 * in-sync pair exchanges one SUMMARY of a count and 8 bytes; otherwise only
 * the buckets whose hashes differ are listed.
 */
import { UnexpectedEOFError, lpStream } from '@libp2p/utils'
import { ChannelFullError, ChannelIdleError, MalformedFrameError } from './errors.js'
import { NetmapMessage } from './pb/netmap.js'
import { SMALL_DIGEST, SUMMARY_BUCKETS, asHash, bucketOf, differingBuckets, inScope } from './summary.js'
import { peerKey, readFrame, recordFrames } from './sync.js'
import { operationDeadline } from '../utils/timeout-signal.js'
import type { DigestEntry } from './pb/netmap.js'
import type { SummaryValue } from './summary.js'
import type { FrameStream, WireOptions } from './sync.js'
import { TimeoutError } from '@libp2p/interface'
import type { Logger, Stream } from '@libp2p/interface'

export interface ChannelInit {
  /** Open a fresh 2.1.0 or 2.0.0 stream to the neighbour (rejects when there is no connection or it speaks neither) */
  open(signal: AbortSignal): Promise<Stream>
  /** The protocol a stream must have negotiated to carry record deltas */
  deltaProtocol?: string
  maxFrameSize: number
  /** Every write (and the open before it) must finish within this, in ms */
  writeTimeout: number
  /** Our stream is closed after this long without a write, in ms (reopened on the next write) */
  idleTimeout: number
  /** Bytes queued and not yet written beyond which a write is refused ({@link ChannelFullError}) */
  maxQueuedBytes: number
  /** Counted as frames are written */
  stats: { bytesSent: number }
  /** Aborted when the service stops */
  signal: AbortSignal
  /**
   * Frames to write first on a stream opened after an earlier one (failed,
   * reset by the neighbour, or closed when idle): frames written on the old
   * stream may never have been read, so the caller syncs again (a summary:
   * a few bytes when nothing was lost)
   */
  reopened?(): NetmapMessage[]
  log: Logger
}

/** Our side of the conversation with one neighbour: the stream we write on */
export class Channel {
  private readonly init: ChannelInit
  private stream?: Stream
  private lp?: FrameStream
  private tail: Promise<void> = Promise.resolve()
  private queued = 0
  private closed = false
  private opens = 0
  private lastFailure = 0
  private idleTimer?: ReturnType<typeof setTimeout>
  private retryTimer?: ReturnType<typeof setTimeout>
  private protocol?: string

  constructor (init: ChannelInit) {
    this.init = init
  }

  /** The neighbour reads record deltas: the last stream we opened to it negotiated the delta protocol */
  get readsDeltas (): boolean {
    return this.protocol != null && this.protocol === this.init.deltaProtocol
  }

  /** Bytes queued, not yet handed to the stream */
  get queuedBytes (): number {
    return this.queued
  }

  /**
   * Queue frames behind the ones already queued; resolves once they are
   * written. A failed write resets the stream (the next write opens a new one)
   * and rejects, so the caller can count the frames as not delivered.
   */
  async write (messages: NetmapMessage[], signal?: AbortSignal): Promise<void> {
    if (this.closed) {
      throw new ChannelFullError('the channel is closed')
    }
    const frames = messages.map(m => NetmapMessage.encode(m))
    const deltas = messages.some(m => m.deltas.length > 0)
    const size = frames.reduce((s, f) => s + f.byteLength, 0)
    if (this.queued > 0 && this.queued + size > this.init.maxQueuedBytes) {
      throw new ChannelFullError(`${this.queued} bytes already queued`)
    }
    this.queued += size
    const run = this.tail.then(async () => { await this.writeNow(frames, deltas, signal) })
    this.tail = run.catch(() => {})
    try {
      await run
    } finally {
      this.queued -= size
    }
  }

  /** Flush what is queued and close our stream (the neighbour's reader sees the end) */
  async close (signal?: AbortSignal): Promise<void> {
    this.closed = true
    clearTimeout(this.idleTimer)
    clearTimeout(this.retryTimer)
    await this.tail
    const stream = this.stream
    this.stream = undefined
    this.lp = undefined
    if (stream != null && stream.status === 'open') {
      await stream.close({ signal }).catch(err => { stream.abort(err as Error) })
    }
  }

  abort (err: Error): void {
    this.closed = true
    clearTimeout(this.idleTimer)
    clearTimeout(this.retryTimer)
    this.reset(err)
  }

  /** Close our stream after `idleTimeout` without a write; the next write reopens it */
  private armIdle (): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.queued > 0 || this.closed) {
        return
      }
      const stream = this.stream
      this.stream = undefined
      this.lp = undefined
      stream?.close().catch(err => { stream.abort(err as Error) })
    }, this.init.idleTimeout)
  }

  private reset (err: Error): void {
    const stream = this.stream
    this.stream = undefined
    this.lp = undefined
    stream?.abort(err)
  }

  private async writeNow (frames: Uint8Array[], deltas: boolean, signal?: AbortSignal): Promise<void> {
    if (this.closed) {
      throw new ChannelFullError('the channel is closed')
    }
    // a deadline cleared when the write is done, tied to the service's signal without AbortSignal.any():
    // a composite per write would leave a FinalizationRegistry cell on that long-lived signal for
    // every write (a flood is a write per batch), see src/utils/timeout-signal.ts
    const deadline = operationDeadline(this.init.writeTimeout, this.init.signal, signal)
    try {
      const lp = await this.writable(deadline.signal)
      if (deltas && !this.readsDeltas) {
        // the stream was reopened to a peer that no longer reads deltas: a 2.0.0 reader would skip
        // them unseen. Refused (and, as after any failed write, a resync within a second)
        throw new ChannelFullError(`the stream negotiated ${this.protocol}, which carries no record deltas`)
      }
      for (const frame of frames) {
        this.init.stats.bytesSent += frame.byteLength
        await lp.write(frame, { signal: deadline.signal })
      }
      this.armIdle()
    } catch (cause) {
      const err = deadline.timedOut ? new TimeoutError(`a channel write took over ${this.init.writeTimeout} ms`) : cause as Error
      this.init.log('channel write failed - %e', err)
      // frames may be lost only when a stream was open; a failed open is retried by the next write
      const wasOpen = this.stream != null
      this.reset(err)
      if (wasOpen) {
        this.retrySoon()
      }
      throw err
    } finally {
      deadline.clear()
    }
  }

  /**
   * After a failure, reopen (and so resync) within a second even if nothing
   * else is written: frames written before the failure may never have been read
   */
  private retrySoon (): void {
    if (this.closed || this.retryTimer != null) {
      return
    }
    const wait = Math.max(0, 1_000 - (Date.now() - this.lastFailure))
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      if (this.closed || this.stream != null) {
        return
      }
      this.lastFailure = Date.now()
      this.write([]).catch(() => {})
    }, wait)
  }

  private async writable (signal: AbortSignal): Promise<FrameStream> {
    if (this.lp != null && this.stream?.status === 'open' && this.stream.writeStatus === 'writable') {
      return this.lp
    }
    this.reset(new Error('replaced'))
    const stream = await this.init.open(signal)
    stream.addEventListener('close', (evt) => {
      if (this.stream !== stream) {
        return
      }
      this.stream = undefined
      this.lp = undefined
      // reset under us (the neighbour refused a frame, the connection failed): what we wrote may be
      // lost, so reopen and sync rather than at the next change; at most once a second
      if (evt.error != null) {
        this.retrySoon()
      }
    }, { once: true })
    this.stream = stream
    this.protocol = stream.protocol
    // the neighbour never writes on our stream: a small read buffer bounds what it could make us hold
    const lp = lpStream(stream, { maxDataLength: this.init.maxFrameSize, maxBufferSize: 1024 })
    this.lp = lp
    if (this.opens++ > 0) {
      for (const frame of this.init.reopened?.() ?? []) {
        const bytes = NetmapMessage.encode(frame)
        this.init.stats.bytesSent += bytes.byteLength
        await lp.write(bytes, { signal })
      }
    }
    return lp
  }
}

/** What reading one neighbour's stream needs from the service */
export interface ChannelContext extends WireOptions {
  /** Our PeerId string: we never ask for our own record */
  selfKey: string
  /** The summary of our live records */
  summary(): SummaryValue
  /** One entry per record we hold and would offer (not pruned), in `scope` */
  digest(scope?: bigint): DigestEntry[]
  /** The sequence number of the record we hold about `key`, in any state */
  seqOf(key: string): bigint | undefined
  /** Envelopes of ours in `scope` newer than the peer's digest says it holds; they count as known by the peer from now on */
  offer(theirs: Map<string, bigint>, scope?: bigint): Uint8Array[]
  /** Envelopes the peer asked for by PeerId string; they count as known by the peer from now on */
  give(keys: string[]): Uint8Array[]
  /** The peer holds at least `seq` of `key`'s record */
  noteKnown(key: string, seq: bigint): void
  /** Verify and store received envelopes */
  accept(envelopes: Uint8Array[]): Promise<void>
  /** A RECORDS frame (an answer to our SYNC or want) was taken in */
  answered?(): void
  /** Rebuild received deltas on the versions we hold, then verify and store them; ask for the full records of the rest */
  acceptDeltas(deltas: Uint8Array[]): Promise<void>
  /** Spend the peer's push budget; throws when it is exhausted */
  spend(count: number): void
  /** Records we asked the peer for (a SYNC or a want list): they do not spend its push budget */
  grant(count: number): void
  /** Take `count` records off what we asked for; returns how many were not asked for */
  consume(count: number): number
  /** Send frames to the peer on our own stream, without waiting */
  reply(messages: NetmapMessage[]): void
}

function syncFrame (digest: DigestEntry[], scope?: bigint): NetmapMessage {
  return { type: NetmapMessage.Type.SYNC, digest, records: [], want: [], more: false, deltas: [], scope }
}

/**
 * What the dialer of a new link sends first: a summary, or with few records
 * of its own its whole digest (the other side then answers at once)
 */
export function openingFrame (ctx: ChannelContext): NetmapMessage {
  const summary = ctx.summary()
  if (summary.count <= SMALL_DIGEST) {
    ctx.grant(ctx.maxEntries)
    return syncFrame(ctx.digest())
  }
  return rootFrame(summary)
}

/**
 * A SUMMARY of a count and the root only: what a link's periodic check sends.
 * A neighbour holding the same versions answers nothing; otherwise it answers
 * with its bucket summary (or, with few records, its digest) and the sync
 * runs from there
 */
export function rootFrame (summary: SummaryValue): NetmapMessage {
  return { type: NetmapMessage.Type.SUMMARY, digest: [], records: [], want: [], more: false, deltas: [], summary: { count: summary.count, root: summary.root, buckets: [] } }
}

/** About the encoded size of one digest entry (an inlined Ed25519 PeerId and a seq) */
const DIGEST_ENTRY_SIZE = 52

/**
 * A digest of `scope` in as many SYNC frames as the frame size needs: each
 * frame covers whole buckets and names them in its own scope, so the other
 * side answers each on its own
 */
export function digestFrames (ctx: Pick<ChannelContext, 'digest' | 'maxFrameSize' | 'maxEntries'>, scope: bigint): NetmapMessage[] {
  const perFrame = Math.max(1, Math.min(ctx.maxEntries, Math.floor((ctx.maxFrameSize - 1024) / DIGEST_ENTRY_SIZE)))
  const byBucket = new Map<number, DigestEntry[]>()
  for (const entry of ctx.digest(scope)) {
    const bucket = bucketOf(entry.peerId)
    let entries = byBucket.get(bucket)
    if (entries == null) {
      entries = []
      byBucket.set(bucket, entries)
    }
    entries.push(entry)
  }
  const frames: NetmapMessage[] = []
  let entries: DigestEntry[] = []
  let covered = 0n
  for (let bucket = 0; bucket < SUMMARY_BUCKETS; bucket++) {
    if (!inScope(scope, bucket)) { continue }
    const these = byBucket.get(bucket) ?? []
    if (covered !== 0n && entries.length + these.length > perFrame) {
      frames.push(syncFrame(entries, covered))
      entries = []
      covered = 0n
    }
    // a bucket larger than a frame (an honest map far beyond the default cap) is cut: the rest is repaired by the floods
    entries.push(...these.slice(0, perFrame - entries.length))
    covered |= 1n << BigInt(bucket)
  }
  if (covered !== 0n) {
    frames.push(syncFrame(entries, covered))
  }
  return frames
}

/** Handle one frame read from the neighbour's stream */
export async function handleFrame (frame: NetmapMessage, ctx: ChannelContext): Promise<void> {
  switch (frame.type) {
    case NetmapMessage.Type.PUSH:
      ctx.spend(frame.records.length + frame.deltas.length)
      await ctx.accept(frame.records)
      if (frame.deltas.length > 0) {
        await ctx.acceptDeltas(frame.deltas)
      }
      return
    case NetmapMessage.Type.RECORDS: {
      const unasked = ctx.consume(frame.records.length)
      if (unasked > 0) {
        ctx.spend(unasked)
      }
      // the PeerIds first: a malformed want refuses the frame before any record is verified
      const keys = frame.want.map(id => peerKey(id, 'want'))
      await ctx.accept(frame.records)
      ctx.answered?.()
      if (keys.length > 0) {
        ctx.reply(recordFrames(NetmapMessage.Type.RECORDS, ctx.give(keys), [], ctx))
      }
      return
    }
    case NetmapMessage.Type.SUMMARY:
      answerSummary(frame, ctx)
      return
    case NetmapMessage.Type.SYNC:
      answerDigest(frame, ctx)
      return
    default:
      throw new MalformedFrameError(`unknown frame type ${String(frame.type)}`)
  }
}

function answerSummary (frame: NetmapMessage, ctx: ChannelContext): void {
  const theirs = frame.summary
  if (theirs == null) {
    throw new MalformedFrameError('SUMMARY without a summary')
  }
  if (theirs.buckets.length !== 0 && theirs.buckets.length !== SUMMARY_BUCKETS) {
    throw new MalformedFrameError(`a summary has 0 or ${SUMMARY_BUCKETS} buckets, not ${theirs.buckets.length}`)
  }
  const ours = ctx.summary()
  if (ours.count === theirs.count && asHash(ours.root) === asHash(theirs.root)) {
    // in sync
    return
  }
  if (theirs.buckets.length === 0) {
    if (ours.count <= SMALL_DIGEST) {
      ctx.grant(ctx.maxEntries)
      ctx.reply([syncFrame(ctx.digest())])
    } else {
      ctx.reply([{ type: NetmapMessage.Type.SUMMARY, digest: [], records: [], want: [], more: false, deltas: [], summary: ours }])
    }
    return
  }
  const scope = differingBuckets(ours.buckets, theirs.buckets)
  if (scope !== 0n) {
    ctx.grant(ctx.maxEntries)
    ctx.reply(digestFrames(ctx, scope))
  }
}

/** A digest of some buckets: send what the peer lacks in them, ask for what we lack */
function answerDigest (frame: NetmapMessage, ctx: ChannelContext): void {
  const theirs = new Map<string, bigint>()
  const ids = new Map<string, Uint8Array>()
  for (const entry of frame.digest) {
    const key = peerKey(entry.peerId, 'digest')
    if (!inScope(frame.scope, bucketOf(entry.peerId))) {
      throw new MalformedFrameError('digest entry outside the scope it names')
    }
    theirs.set(key, entry.seq)
    ids.set(key, entry.peerId)
    ctx.noteKnown(key, entry.seq)
  }
  const envelopes = ctx.offer(theirs, frame.scope)
  const want: Uint8Array[] = []
  for (const [key, seq] of theirs) {
    if (key !== ctx.selfKey && (ctx.seqOf(key) ?? -1n) < seq && want.length < ctx.maxEntries) {
      want.push(ids.get(key)!)
    }
  }
  if (envelopes.length === 0 && want.length === 0) {
    return
  }
  ctx.grant(want.length)
  ctx.reply(recordFrames(NetmapMessage.Type.RECORDS, envelopes, want, ctx))
}

/**
 * Read the neighbour's stream until it ends: every frame handled in order.
 * Rejects with the first typed error (the stream is then aborted by the caller).
 */
export async function readChannel (lp: FrameStream, ctx: ChannelContext, signal: AbortSignal, idleTimeout = Infinity): Promise<void> {
  // one timer per stream, pushed back on every frame (a timeout signal per frame would keep
  // every one of them alive for idleTimeout)
  const idle = new AbortController()
  const combined = AbortSignal.any([signal, idle.signal])
  let timer: ReturnType<typeof setTimeout> | undefined
  const arm = (): void => {
    clearTimeout(timer)
    if (Number.isFinite(idleTimeout)) {
      timer = setTimeout(() => { idle.abort() }, idleTimeout)
    }
  }
  try {
    while (true) {
      let frame: NetmapMessage
      arm()
      try {
        frame = await readFrame(lp, ctx, combined)
      } catch (err) {
        if (err instanceof UnexpectedEOFError) {
          // the neighbour closed its stream between frames
          return
        }
        if (idle.signal.aborted && !signal.aborted) {
          // nothing for idleTimeout: the neighbour reopens on its next write
          throw new ChannelIdleError(`no frame for ${idleTimeout} ms`)
        }
        throw err
      }
      await handleFrame(frame, ctx)
    }
  } finally {
    clearTimeout(timer)
  }
}
