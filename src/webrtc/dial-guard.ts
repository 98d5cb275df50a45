/**
 * A guard against two races in `@libp2p/webrtc` 6.x private-to-private dials
 * on node-datachannel (libdatachannel 0.24), and against the dial hanging when
 * the peer connection fails.
 *
 * Stock, the dialer trickles its ICE candidates as soon as it has them, before
 * the answer is back. The answerer then finishes ICE first and sends its DTLS
 * ClientHello before the dialer has applied the answer:
 *
 * - libdatachannel buffers that packet and replays it into the DTLS transport
 *   it creates from the answer, but (OpenSSL build, `DtlsTransport::start()`)
 *   registers the receive callback before the state is `Connecting`, so the
 *   replayed packet is not read until OpenSSL's 1 s retransmit: the ≈ 1.05 s
 *   cluster of dial times.
 * - libdatachannel hands the answer to ICE before it stores the remote
 *   description, so DTLS can finish before the remote fingerprint is known and
 *   fails with "certificate verify failed". `@libp2p/webrtc` swallows the
 *   resulting `failed` state and waits for an init channel `open` that never
 *   comes, until the dial's timeout: the ≈ 8 % of dials that time out.
 *
 * The guard makes the dialer hold its candidates until the answer has been
 * applied and its own ICE is connected (or {@link DEFAULT_CANDIDATE_HOLD_TIMEOUT}
 * has passed). The answerer can then only complete ICE on the dialer's checks,
 * which start after the answer is in place, so its DTLS packets find the
 * dialer ready. (Released as soon as the answer was applied, the answerer's
 * own checks still won in about 1 dial in 10, and its ClientHello met the
 * replay stall.) (Forcing `a=setup:active` on the dialer also removes the
 * stall, but fails more dials: not done.)
 *
 * When the peer connection becomes `failed` or `closed` before the dial is
 * done, the dialer's next touch of its `init` channel throws a
 * {@link PeerConnectionFailedError}, and a dialer waiting for the channel to
 * open is released to make that touch, so the dial fails at once instead of
 * at its timeout.
 *
 * Every other data channel (the streams) gets a named error: when it closes
 * before it opened, the close event carries a {@link DataChannelClosedError}
 * as `error`, which `@libp2p/webrtc` aborts the stream with (stock, the stream
 * is aborted with the bare `Event`, "[object Event]").
 *
 * It patches the prototype of the RTCPeerConnection class `@libp2p/webrtc`
 * uses (node-datachannel's polyfill in Node, the browser's own), so every dial
 * in the process is covered, including ones by code that imports
 * `@libp2p/webrtc` directly. It is idempotent. Only the dialer's
 * `onicecandidate` handler is held (that is what `@libp2p/webrtc` uses);
 * `icecandidate` listeners added with `addEventListener` are not.
 */
import { DEFAULT_CANDIDATE_HOLD_TIMEOUT } from './constants.js'
import { DataChannelClosedError, PeerConnectionFailedError } from './errors.js'

const GUARDED = Symbol.for('membrane.webrtc.dial-guard')

/** The members of RTCPeerConnection the guard uses */
interface GuardedPeerConnection extends EventTarget {
  readonly connectionState: string
  readonly signalingState: string
  readonly iceConnectionState: string
  onicecandidate: unknown
  createDataChannel(label: string, init?: RTCDataChannelInit): RTCDataChannel
  setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void>
}

interface PeerConnectionClass {
  prototype: object
}

export interface DialGuardOptions {
  /**
   * Hold the dialer's ICE candidates until the answer is applied (the
   * libdatachannel races). Failing fast and naming stream errors are always on.
   *
   * @default true
   */
  holdCandidates?: boolean

  /**
   * After the answer is applied, keep holding the candidates until the
   * dialer's own ICE is connected, for at most this many ms (0: release with
   * the answer).
   *
   * @default DEFAULT_CANDIDATE_HOLD_TIMEOUT
   */
  candidateHoldTimeout?: number
}

/** One dialer peer connection's guard state */
interface DialState {
  /** candidates are held until the answer is applied */
  holding: boolean
  held: Event[]
  /** the dialer's current onicecandidate handler */
  handler: ((event: Event) => void) | null
  /** set when the peer connection failed before the dial was done */
  failure?: PeerConnectionFailedError
  /** the dialer closed its init channel: the rest is the connection's business */
  done: boolean
}

export interface DialGuardStats {
  /** Dialer peer connections the guard held candidates for */
  dials: number
  /** Candidates held until the answer was applied */
  candidatesHeld: number
  /** Dials whose candidates were released by their ICE connecting (after the answer) */
  releasedOnIce: number
  /** Dials whose candidates were released by the hold timeout, ICE not yet connected */
  releasedOnTimeout: number
  /** Dials failed at once because the peer connection failed or closed */
  failedFast: number
  /** Data channels that closed before they opened and were given a named error */
  channelsClosedEarly: number
}

const stats: DialGuardStats = { dials: 0, candidatesHeld: 0, releasedOnIce: 0, releasedOnTimeout: 0, failedFast: 0, channelsClosedEarly: 0 }
const dials = new WeakMap<object, DialState>()

/** The guard's counters in this process (a fresh copy) */
export function dialGuardStats (): DialGuardStats {
  return { ...stats }
}

function descriptor (target: object, property: string): PropertyDescriptor | undefined {
  for (let o: object | null = target; o != null; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, property)
    if (d != null) {
      return d
    }
  }
  return undefined
}

/**
 * Route the peer connection's `onicecandidate` through `state`: events are
 * queued while `state.holding`. Works for the polyfill (a plain own property
 * the class calls) and for browsers (an event handler attribute on the
 * prototype the engine calls).
 */
function holdCandidates (pc: GuardedPeerConnection, state: DialState): void {
  const d = descriptor(pc, 'onicecandidate')
  let value: unknown = d != null && 'value' in d ? d.value : null
  const read = d?.get != null ? () => d.get?.call(pc) : () => value
  const write = d?.set != null ? (v: unknown) => { d.set?.call(pc, v) } : (v: unknown) => { value = v }
  const forward = (event: Event): void => {
    if (state.holding) {
      stats.candidatesHeld++
      state.held.push(event)
      return
    }
    state.handler?.call(pc, event)
  }
  Object.defineProperty(pc, 'onicecandidate', {
    configurable: true,
    enumerable: true,
    get: read,
    set: (handler: unknown) => {
      state.handler = typeof handler === 'function' ? handler as (event: Event) => void : null
      write(state.handler == null ? null : forward)
    }
  })
}

function release (pc: GuardedPeerConnection, state: DialState): void {
  if (!state.holding) {
    return
  }
  state.holding = false
  const held = state.held.splice(0)
  for (const event of held) {
    state.handler?.call(pc, event)
  }
}

/** Make the dialer's init channel fail the dial at once when the peer connection dies */
function failFast (pc: GuardedPeerConnection, channel: RTCDataChannel, state: DialState): void {
  const readyState = descriptor(channel, 'readyState')
  const realState = (): RTCDataChannelState => readyState?.get?.call(channel) ?? 'closed'
  const check = (): void => {
    if (state.failure != null && !state.done) {
      throw state.failure
    }
  }

  pc.addEventListener('connectionstatechange', () => {
    const s = pc.connectionState
    if ((s !== 'failed' && s !== 'closed') || state.done || state.failure != null) {
      return
    }
    stats.failedFast++
    state.failure = new PeerConnectionFailedError(`the peer connection became "${s}" before the WebRTC dial finished`)
    state.held.length = 0
    if (realState() !== 'open') {
      // a dialer waiting for `open` wakes up, touches the channel and throws
      channel.dispatchEvent(new Event('open'))
    }
  })

  Object.defineProperty(channel, 'readyState', {
    configurable: true,
    get: () => { check(); return realState() }
  })
  const close = channel.close.bind(channel)
  channel.close = () => {
    check()
    state.done = true
    close()
  }
}

/** Give a channel's close-before-open a named error (`event.error`), which `@libp2p/webrtc` aborts the stream with */
function nameEarlyClose (channel: RTCDataChannel): void {
  let opened = channel.readyState === 'open'
  channel.addEventListener('open', () => { opened = true })
  channel.addEventListener('close', (event) => {
    if (opened || 'error' in event) {
      return
    }
    stats.channelsClosedEarly++
    Object.defineProperty(event, 'error', {
      value: new DataChannelClosedError('the data channel closed before it opened: its peer connection is gone')
    })
  })
}

/**
 * Patch `PeerConnection.prototype` so that dialers hold their ICE candidates
 * until the answer is applied, dials fail at once when the peer connection
 * fails, and streams that never opened fail with a named error. Returns false
 * when already patched (or when there is no class).
 *
 * @example
 * ```ts
 * import { RTCPeerConnection } from 'node-datachannel/polyfill'
 * import { installDialGuard } from '@membrane/core'
 *
 * installDialGuard(RTCPeerConnection)
 * ```
 */
export function installDialGuard (PeerConnection: PeerConnectionClass | undefined, options: DialGuardOptions = {}): boolean {
  if (PeerConnection == null) {
    return false
  }
  const proto = PeerConnection.prototype as GuardedPeerConnection & { [GUARDED]?: boolean }
  if (proto[GUARDED] === true) {
    return false
  }
  const createDataChannel = proto.createDataChannel
  const setRemoteDescription = proto.setRemoteDescription

  proto.createDataChannel = function (this: GuardedPeerConnection, label: string, init?: RTCDataChannelInit): RTCDataChannel {
    // @libp2p/webrtc's dialer opens `init` on a fresh peer connection, before any description
    const dialer = label === 'init' && this.signalingState === 'stable' && !dials.has(this)
    const channel = createDataChannel.call(this, label, init)
    if (dialer) {
      const hold = options.holdCandidates !== false
      const state: DialState = { holding: hold, held: [], handler: null, done: false }
      dials.set(this, state)
      stats.dials++
      if (hold) {
        holdCandidates(this, state)
      }
      failFast(this, channel, state)
    } else {
      nameEarlyClose(channel)
    }
    return channel
  }

  proto.setRemoteDescription = async function (this: GuardedPeerConnection, description: RTCSessionDescriptionInit): Promise<void> {
    await setRemoteDescription.call(this, description)
    const state = dials.get(this)
    if (state?.holding !== true || description?.type !== 'answer') {
      return
    }
    const holdTimeout = options.candidateHoldTimeout ?? DEFAULT_CANDIDATE_HOLD_TIMEOUT
    const connected = (): boolean => this.iceConnectionState === 'connected' || this.iceConnectionState === 'completed'
    if (holdTimeout <= 0 || connected()) {
      release(this, state)
      return
    }
    // the answerer completes ICE on the dialer's checks, after the dialer's DTLS transport exists
    const onIce = (): void => {
      if (connected() || this.iceConnectionState === 'failed' || this.iceConnectionState === 'closed') {
        cleanup()
        if (connected()) { stats.releasedOnIce++ }
        release(this, state)
      }
    }
    const timer = setTimeout(() => {
      cleanup()
      stats.releasedOnTimeout++
      release(this, state)
    }, holdTimeout)
    const cleanup = (): void => {
      clearTimeout(timer)
      this.removeEventListener('iceconnectionstatechange', onIce)
    }
    this.addEventListener('iceconnectionstatechange', onIce)
  }

  Object.defineProperty(proto, GUARDED, { value: true })
  return true
}
