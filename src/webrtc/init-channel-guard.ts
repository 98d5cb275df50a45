/**
 * A guard against a race in `@libp2p/webrtc` 6.x private-to-private dials.
 *
 * The dialer creates a data channel labelled `init` only so the offer has an
 * SCTP section; the answerer closes that channel as soon as it arrives. When
 * the close wins the race against the dialer's "connected" (measured here at
 * about 1 dial in 5 between Chromium pages), the dialer finds the channel
 * `closed` when it looks, and, waiting for an `open` that already happened or
 * never will, hangs until its dial timeout. Chromium shows both orders: the
 * channel goes `connecting` → `closed`, or `open` → `closed`, all before the
 * peer connection reports `connected`.
 *
 * A channel the remote closed has shown that the SCTP association works, which
 * is all the dialer needs from it. The guard makes such an `init` channel
 * report `open` (and fires `open` for a waiter if it never opened) until the
 * dialer's own `close()`, which it answers with a `close` event, so the dial
 * goes on at once. Channels with any other label are untouched.
 *
 * It patches the prototype of the RTCPeerConnection class `@libp2p/webrtc`
 * uses (the browser's own, or node-datachannel's polyfill in Node), so every
 * dial in the process is protected, including ones made by code that imports
 * `@libp2p/webrtc` directly. It is idempotent.
 */

const GUARDED = Symbol.for('membrane.webrtc.init-channel-guard')

interface PeerConnectionClass {
  prototype: {
    createDataChannel(label: string, init?: RTCDataChannelInit): RTCDataChannel
  }
}

/** Make one `init` channel safe against the remote closing it before the dialer is done with it */
export function guardInitChannel (channel: RTCDataChannel): void {
  let opened = channel.readyState === 'open'
  let closedEarly = false
  let closeRequested = false
  const realReadyState = (): RTCDataChannelState => Object.getOwnPropertyDescriptor(Object.getPrototypeOf(channel), 'readyState')?.get?.call(channel) ?? 'closed'

  channel.addEventListener('open', () => { opened = true })
  channel.addEventListener('close', () => {
    if (closeRequested || closedEarly) {
      return
    }
    // the remote closed it before the dialer was done with it
    closedEarly = true
    if (!opened) {
      opened = true
      // release a dialer already waiting for `open`
      channel.dispatchEvent(new Event('open'))
    }
  })

  Object.defineProperty(channel, 'readyState', {
    configurable: true,
    get: () => (closedEarly && !closeRequested) ? 'open' : realReadyState()
  })

  const close = channel.close.bind(channel)
  channel.close = () => {
    if (closedEarly && !closeRequested) {
      closeRequested = true
      // the real channel is long closed: answer the dialer's wait for `close`
      setTimeout(() => { channel.dispatchEvent(new Event('close')) }, 0)
      return
    }
    closeRequested = true
    close()
  }
}

/**
 * Patch `PeerConnection.prototype.createDataChannel` so every channel labelled
 * `init` is guarded. Returns false when already patched.
 */
export function installInitChannelGuard (PeerConnection: PeerConnectionClass | undefined): boolean {
  if (PeerConnection == null) {
    return false
  }
  const proto = PeerConnection.prototype as PeerConnectionClass['prototype'] & { [GUARDED]?: boolean }
  if (proto[GUARDED] === true) {
    return false
  }
  const original = proto.createDataChannel
  proto.createDataChannel = function (this: unknown, label: string, init?: RTCDataChannelInit): RTCDataChannel {
    const channel = original.call(this, label, init)
    if (label === 'init') {
      guardInitChannel(channel)
    }
    return channel
  }
  Object.defineProperty(proto, GUARDED, { value: true })
  return true
}
