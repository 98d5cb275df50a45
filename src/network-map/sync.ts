/**
 * The wire side of `/membrane/netmap/1.0.0` (kept for peers that speak only
 * it; 2.0.0 is `./channel.js`): length-prefixed `NetmapMessage` frames, the
 * digest sync a dialer runs on connect, its answer, and pushes.
 * Each flow works on one stream and asks a {@link SyncContext} (the service,
 * seen from one remote peer) about records; nothing here holds state.
 */
import { InvalidDataLengthError, InvalidDataLengthLengthError } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { FrameTooLargeError, MalformedFrameError, UnexpectedRecordError } from './errors.js'
import { NetmapMessage } from './pb/netmap.js'
import { SUMMARY_BUCKETS } from './summary.js'
import { isPeerIdBytes } from './validate.js'
import type { DigestEntry } from './pb/netmap.js'
import type { MessageStream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/** Bytes as the generated protobuf code types them */
type Bytes = Uint8Array<ArrayBuffer>

export type FrameStream = LengthPrefixedStream<MessageStream>

/** Frame limits and byte counters shared by every flow */
export interface WireOptions {
  maxFrameSize: number
  /** The most entries a frame's `digest`, `records` or `want` may hold */
  maxEntries: number
  /** Counted as frames are read and written */
  stats: { bytesSent: number, bytesReceived: number }
}

/** What the flows need from the service, about one remote peer */
export interface SyncContext extends WireOptions {
  /** Our PeerId string: we never ask for our own record */
  selfKey: string
  /** What we hold: one entry per record */
  digest(): DigestEntry[]
  /** The sequence number of the record we hold about `key`, in any state */
  seqOf(key: string): bigint | undefined
  /** Envelopes of ours newer than the peer's digest says it holds; they count as known by the peer from now on */
  offer(theirs: Map<string, bigint>): Uint8Array[]
  /** Envelopes the peer asked for by PeerId string; they count as known by the peer from now on */
  give(keys: string[]): Uint8Array[]
  /** The peer holds at least `seq` of `key`'s record */
  noteKnown(key: string, seq: bigint): void
  /** Verify and store received envelopes; `wanted` restricts them to the records we asked for */
  accept(envelopes: Uint8Array[], wanted?: Set<string>): Promise<void>
  /** Spend the peer's push budget; throws when it is exhausted */
  spend(count: number): void
}

export async function writeFrame (lp: FrameStream, message: NetmapMessage, options: WireOptions, signal: AbortSignal): Promise<void> {
  const bytes = NetmapMessage.encode(message)
  options.stats.bytesSent += bytes.byteLength
  await lp.write(bytes, { signal })
}

/** Envelopes (then deltas, on a 2.1.0 PUSH) in as many frames as the frame size needs; `want` rides on the last */
export function recordFrames (type: NetmapMessage.Type, envelopes: Uint8Array[], want: Uint8Array[], options: Pick<WireOptions, 'maxFrameSize' | 'maxEntries'>, deltas: Uint8Array[] = []): NetmapMessage[] {
  const budget = options.maxFrameSize - 1024 - want.reduce((s, w) => s + w.byteLength + 2, 0)
  const frames: NetmapMessage[] = []
  let frame: NetmapMessage = { type, digest: [], records: [], want: [], more: false, deltas: [] }
  let size = 0
  const add = (bytes: Uint8Array, field: 'records' | 'deltas'): void => {
    const entries = frame.records.length + frame.deltas.length
    if (entries > 0 && (size + bytes.byteLength + 4 > budget || entries >= options.maxEntries)) {
      frames.push({ ...frame, more: true })
      frame = { type, digest: [], records: [], want: [], more: false, deltas: [] }
      size = 0
    }
    frame[field].push(bytes as Bytes)
    size += bytes.byteLength + 4
  }
  for (const envelope of envelopes) { add(envelope, 'records') }
  for (const delta of deltas) { add(delta, 'deltas') }
  frames.push({ ...frame, want: want as Bytes[] })
  return frames
}

/** Write envelopes in as many frames as the frame size needs; `want` rides on the last */
export async function writeRecords (lp: FrameStream, type: NetmapMessage.Type, envelopes: Uint8Array[], want: Uint8Array[], options: WireOptions, signal: AbortSignal): Promise<void> {
  for (const frame of recordFrames(type, envelopes, want, options)) {
    await writeFrame(lp, frame, options, signal)
  }
}

export async function readFrame (lp: FrameStream, options: WireOptions, signal: AbortSignal): Promise<NetmapMessage> {
  let bytes
  try {
    bytes = await lp.read({ signal })
  } catch (err) {
    if (err instanceof InvalidDataLengthError) {
      throw new FrameTooLargeError(`frame exceeds ${options.maxFrameSize} bytes`)
    }
    if (err instanceof InvalidDataLengthLengthError) {
      throw new FrameTooLargeError('frame length prefix too long')
    }
    throw err
  }
  options.stats.bytesReceived += bytes.byteLength
  try {
    return NetmapMessage.decode(bytes, { limits: { digest: options.maxEntries, records: options.maxEntries, want: options.maxEntries, deltas: options.maxEntries, summary: { buckets: SUMMARY_BUCKETS } } })
  } catch (err) {
    throw new MalformedFrameError(`invalid frame - ${(err as Error).message}`)
  }
}

/** A PeerId multihash from the wire as its string, after a byte check of its shape */
export function peerKey (bytes: Uint8Array, field: string): string {
  if (!isPeerIdBytes(bytes)) {
    throw new MalformedFrameError(`${field} entry is not a PeerId multihash (${bytes.byteLength} bytes)`)
  }
  return uint8ArrayToString(bytes, 'base58btc')
}

/** Push envelopes to a peer (a flood batch or a goodbye) */
export async function push (lp: FrameStream, envelopes: Uint8Array[], options: WireOptions, signal: AbortSignal): Promise<void> {
  await writeRecords(lp, NetmapMessage.Type.PUSH, envelopes, [], options, signal)
}

/** Dialer: send our digest, take what the peer has newer, give what it wants */
export async function runSync (lp: FrameStream, ctx: SyncContext, signal: AbortSignal): Promise<void> {
  await writeFrame(lp, { type: NetmapMessage.Type.SYNC, digest: ctx.digest(), records: [], want: [], more: false, deltas: [] }, ctx, signal)
  let want: Uint8Array[] = []
  let received = 0
  while (true) {
    const frame = await readFrame(lp, ctx, signal)
    received += frame.records.length
    if (received > ctx.maxEntries) {
      throw new MalformedFrameError(`sync reply carries more than ${ctx.maxEntries} records`)
    }
    await ctx.accept(frame.records)
    if (!frame.more) {
      want = frame.want
      break
    }
  }
  if (want.length > 0) {
    const keys = want.slice(0, ctx.maxEntries).map(id => peerKey(id, 'want'))
    await writeRecords(lp, NetmapMessage.Type.PUSH, ctx.give(keys), [], ctx, signal)
  }
}

/** Listener, on a stream whose first frame is a SYNC: answer with what the peer lacks, ask for what we lack */
export async function answerSync (lp: FrameStream, request: NetmapMessage, ctx: SyncContext, signal: AbortSignal): Promise<void> {
  const theirs = new Map<string, bigint>()
  const ids = new Map<string, Uint8Array>()
  for (const entry of request.digest) {
    const key = peerKey(entry.peerId, 'digest')
    theirs.set(key, entry.seq)
    ids.set(key, entry.peerId)
    ctx.noteKnown(key, entry.seq)
  }
  const envelopes = ctx.offer(theirs)
  const want: Uint8Array[] = []
  const wanted = new Set<string>()
  for (const [key, seq] of theirs) {
    if (key !== ctx.selfKey && (ctx.seqOf(key) ?? -1n) < seq && want.length < ctx.maxEntries) {
      want.push(ids.get(key)!)
      wanted.add(key)
    }
  }
  await writeRecords(lp, NetmapMessage.Type.PUSH, envelopes, want, ctx, signal)
  if (want.length === 0) {
    return
  }
  let received = 0
  while (true) {
    const frame = await readFrame(lp, ctx, signal)
    received += frame.records.length
    if (received > want.length) {
      throw new UnexpectedRecordError('sync answer carries more records than were asked for')
    }
    await ctx.accept(frame.records, wanted)
    if (!frame.more) { break }
  }
}

/** Listener, on a stream whose first frame is a PUSH: take records until the last frame */
export async function receivePush (lp: FrameStream, first: NetmapMessage, ctx: SyncContext, signal: AbortSignal): Promise<void> {
  let frame = first
  let received = 0
  while (true) {
    received += frame.records.length
    if (received > ctx.maxEntries) {
      throw new MalformedFrameError(`push carries more than ${ctx.maxEntries} records`)
    }
    ctx.spend(frame.records.length)
    await ctx.accept(frame.records)
    if (!frame.more) { break }
    frame = await readFrame(lp, ctx, signal)
  }
}
