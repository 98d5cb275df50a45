import { serviceCapabilities, setMaxListeners } from '@libp2p/interface'
import { CHECK_INTERVAL, CONFIRM_DELAY, DEFAULT_BEAT_INTERVAL, DEFAULT_SILENCE_TIMEOUT, MAX_BEAT_BYTES, MAX_STREAMS, PROTOCOL } from './constants.js'
import { KeepAliveProtocolError, LinkSilentError } from './errors.js'
import { deadlineSignal, timeoutSignal } from '../utils/timeout-signal.js'
import type { KeepAlive, KeepAliveComponents, KeepAliveInit, KeepAliveStats } from './index.js'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'

const BEAT = new Uint8Array([0])

/** One watched member link */
interface Watch {
  connection: Connection
  stream?: Stream
  /** A stream is being opened (dialer side) */
  opening: boolean
  /** The dialer side opens a stream again no sooner than this, after one failed or closed */
  reopenAt: number
  /** The stream's send buffer is full: skip beats until it drains */
  draining: boolean
  /** When something last arrived, and the stall total then */
  heardAt: number
  stallAtHeard: number
  /** Nothing has arrived yet: the link gets twice the deadline to show its first beat */
  silentSinceStart: boolean
  lastSent: number
  confirming: boolean
}

/**
 * How long a link has been silent, in ms, leaving out the time this node's
 * event loop stood still since it last heard something
 */
export function silence (now: number, heardAt: number, stallNow: number, stallAtHeard: number): number {
  return now - heardAt - (stallNow - stallAtHeard)
}

/** Abort a stream whose connection may already be closing (yamux's reset then throws StreamStateError) */
function abortQuietly (stream: Stream, err: Error): void {
  try {
    stream.abort(err)
  } catch {}
}

export class DefaultKeepAlive implements KeepAlive, Startable {
  readonly [Symbol.toStringTag] = '@membrane/keep-alive'
  readonly [serviceCapabilities]: string[] = ['@membrane/keep-alive']

  private readonly components: KeepAliveComponents
  private readonly log: Logger
  private readonly beatInterval: number
  private readonly silenceTimeout: number
  private readonly watches = new Map<string, Watch>()
  private readonly counters = { watched: 0, lost: 0, beatsSent: 0, beatsReceived: 0, protocolErrors: 0, stalledMs: 0 }
  private topologyId?: string
  private timer?: ReturnType<typeof setTimeout>
  private expectedAt = 0
  /** Total lateness of this node's checks since start, in ms: time the event loop could not run them */
  private stall = 0
  private started = false
  private shutdownController = new AbortController()

  constructor (components: KeepAliveComponents, init: KeepAliveInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:keep-alive')
    this.beatInterval = init.beatInterval ?? DEFAULT_BEAT_INTERVAL
    this.silenceTimeout = init.silenceTimeout ?? DEFAULT_SILENCE_TIMEOUT
    if (!(this.beatInterval > 0) || !(this.silenceTimeout > this.beatInterval)) {
      throw new RangeError(`need 0 < beatInterval < silenceTimeout, got ${this.beatInterval} and ${this.silenceTimeout}`)
    }
    this.handleStream = this.handleStream.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    setMaxListeners(Infinity, this.shutdownController.signal)
    await this.components.registrar.handle(PROTOCOL, this.handleStream, {
      maxInboundStreams: MAX_STREAMS,
      maxOutboundStreams: MAX_STREAMS
    })
    // members only: bootstrap peers do not speak the protocol, so identify never names it for their links
    this.topologyId = await this.components.registrar.register(PROTOCOL, {
      onConnect: (peer, connection) => { this.watch(peer, connection) }
    })
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.started = true
    this.stall = 0
    this.schedule(CHECK_INTERVAL)
  }

  async stop (): Promise<void> {
    this.started = false
    clearTimeout(this.timer)
    this.shutdownController.abort()
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    if (this.topologyId != null) {
      this.components.registrar.unregister(this.topologyId)
    }
    await this.components.registrar.unhandle(PROTOCOL)
    // the streams close with their connections: libp2p closes them after the services stop
    this.watches.clear()
  }

  stats (): KeepAliveStats {
    return { ...this.counters, links: this.watches.size }
  }

  // --- links ---

  private watch (peer: PeerId, connection: Connection): Watch | undefined {
    if (!this.started || connection.status !== 'open' || connection.limits != null) {
      return undefined
    }
    let w = this.watches.get(connection.id)
    if (w == null) {
      const now = Date.now()
      w = { connection, opening: false, reopenAt: 0, draining: false, heardAt: now, stallAtHeard: this.stall, silentSinceStart: true, lastSent: 0, confirming: false }
      this.watches.set(connection.id, w)
      this.counters.watched++
      this.log.trace('watching %s link to %p', connection.direction, peer)
      if (connection.direction === 'outbound') {
        this.open(w)
      }
    }
    return w
  }

  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const w = this.watches.get(evt.detail.id)
    if (w != null) {
      this.watches.delete(evt.detail.id)
    }
  }

  /** The dialer's end opens the link's one keep-alive stream */
  private open (w: Watch): void {
    if (w.opening || w.stream != null) {
      return
    }
    w.opening = true
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(this.silenceTimeout, this.shutdownController.signal)
    w.connection.newStream(PROTOCOL, { signal: deadline.signal })
      .then(stream => {
        if (this.watches.get(w.connection.id) !== w) {
          abortQuietly(stream, new Error('link no longer watched'))
          return
        }
        this.attach(w, stream)
      }, err => {
        w.reopenAt = Date.now() + this.silenceTimeout
        this.log('could not open a keep-alive stream to %p - %e', w.connection.remotePeer, err)
      })
      .finally(() => {
        deadline.clear()
        w.opening = false
      })
  }

  private handleStream (stream: Stream, connection: Connection): void {
    const w = this.watch(connection.remotePeer, connection)
    if (w == null || w.stream != null) {
      abortQuietly(stream, new KeepAliveProtocolError('one keep-alive stream per unlimited link'))
      return
    }
    this.attach(w, stream)
  }

  private attach (w: Watch, stream: Stream): void {
    w.stream = stream
    stream.addEventListener('message', (evt) => {
      if (evt.data.byteLength > MAX_BEAT_BYTES) {
        this.counters.protocolErrors++
        abortQuietly(stream, new KeepAliveProtocolError(`a beat of ${evt.data.byteLength} bytes (at most ${MAX_BEAT_BYTES})`))
        return
      }
      this.counters.beatsReceived++
      this.heard(w)
    })
    // the other end stopped beating on purpose (it closed its writable end): the stream is over, so close
    // ours too rather than hold a half-open stream that only the silence deadline would end
    stream.addEventListener('remoteCloseWrite', () => {
      stream.close({ signal: timeoutSignal(this.silenceTimeout) }).catch((err: Error) => { abortQuietly(stream, err) })
    }, { once: true })
    stream.addEventListener('close', () => {
      if (w.stream === stream) {
        w.stream = undefined
        // the other end may be stopping: its connection closes soon, a stream opened into that would race it
        w.reopenAt = Date.now() + this.silenceTimeout
      }
    }, { once: true })
    this.beat(w, Date.now())
  }

  private heard (w: Watch): void {
    w.heardAt = Date.now()
    w.stallAtHeard = this.stall
    w.silentSinceStart = false
  }

  private beat (w: Watch, now: number): void {
    const stream = w.stream
    if (stream == null || w.draining || stream.status !== 'open' || stream.writeStatus !== 'writable') {
      return
    }
    w.lastSent = now
    this.counters.beatsSent++
    try {
      if (!stream.send(BEAT)) {
        w.draining = true
        stream.onDrain({ signal: this.shutdownController.signal }).then(() => { w.draining = false }, () => {})
      }
    } catch (err) {
      // the stream closed under us: the next check reopens it (dialer side) or the silence deadline decides
      this.log('beat to %p failed - %e', w.connection.remotePeer, err)
    }
  }

  // --- the clock ---

  private schedule (delay: number): void {
    if (!this.started) {
      return
    }
    this.expectedAt = Date.now() + delay
    this.timer = setTimeout(() => { this.check() }, delay)
  }

  /** Count how late this timer fired: the event loop stood still that long */
  private noteLateness (now: number): void {
    const late = Math.max(0, now - this.expectedAt)
    this.stall += late
    this.counters.stalledMs += late
  }

  private check (): void {
    const now = Date.now()
    this.noteLateness(now)
    const suspects: Watch[] = []
    for (const w of this.watches.values()) {
      if (w.connection.status !== 'open') {
        this.watches.delete(w.connection.id)
        continue
      }
      if (w.connection.direction === 'outbound' && w.stream == null && now >= w.reopenAt) {
        this.open(w)
      }
      if (now - w.lastSent >= this.beatInterval - CHECK_INTERVAL / 2) {
        this.beat(w, now)
      }
      if (!w.confirming && this.isSilent(w, now)) {
        suspects.push(w)
      }
    }
    if (suspects.length > 0) {
      for (const w of suspects) { w.confirming = true }
      // after one pass of I/O: beats that waited in the socket through a stall are read by then
      this.expectedAt = now + CONFIRM_DELAY
      const confirm = setTimeout(() => {
        const at = Date.now()
        this.noteLateness(at)
        for (const w of suspects) {
          w.confirming = false
          if (this.watches.get(w.connection.id) === w && this.isSilent(w, at)) {
            this.lose(w, at)
          }
        }
        this.schedule(CHECK_INTERVAL - CONFIRM_DELAY)
      }, CONFIRM_DELAY)
      this.timer = confirm
      return
    }
    this.schedule(CHECK_INTERVAL)
  }

  private isSilent (w: Watch, now: number): boolean {
    const deadline = w.silentSinceStart ? this.silenceTimeout * 2 : this.silenceTimeout
    return silence(now, w.heardAt, this.stall, w.stallAtHeard) > deadline
  }

  private lose (w: Watch, now: number): void {
    this.watches.delete(w.connection.id)
    this.counters.lost++
    const quiet = silence(now, w.heardAt, this.stall, w.stallAtHeard)
    const err = new LinkSilentError(`nothing arrived from ${w.connection.remotePeer} for ${Math.round(quiet)} ms`)
    this.log('aborting the %s link to %p - %e', w.connection.direction, w.connection.remotePeer, err)
    if (w.stream != null) { abortQuietly(w.stream, err) }
    w.connection.abort(err)
  }
}
