import { AbstractMultiaddrConnection } from '@libp2p/utils'
import type { AbortOptions, Logger, Stream } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface StreamConnectionInit {
  stream: Stream
  remoteAddr: Multiaddr
  localAddr?: Multiaddr
  log: Logger
}

/**
 * The end-to-end byte stream of a circuit as a MultiaddrConnection, so the
 * upgrader can run Noise and yamux over it like over a TCP socket.
 *
 * The stream can lose its writable end without this connection asking: the
 * link it rides on closes every stream on it when that link is closed (its
 * muxer half-closes them), and no event says so. Yamux and Noise above keep
 * writing (keep-alive pings, window updates of a stream opened a moment
 * before), and `stream.send()` would throw into them, in a timer or a
 * microtask where nothing catches it. So a write that finds the stream's
 * writable end gone ends this connection as closed by its transport (once,
 * in a microtask: yamux then stops its keep-alive and closes its streams),
 * and the bytes written until then are dropped: nothing can carry them.
 */
export class StreamConnection extends AbstractMultiaddrConnection {
  private readonly stream: Stream
  private writableLost = false

  constructor (init: StreamConnectionInit) {
    super({ remoteAddr: init.remoteAddr, localAddr: init.localAddr, log: init.log, direction: init.stream.direction })
    this.stream = init.stream
    this.stream.addEventListener('close', (evt) => {
      this.onTransportClosed(evt.error)
    })
    this.stream.addEventListener('remoteCloseWrite', () => {
      this.onRemoteCloseWrite()
      this.close().catch(err => { this.abort(err) })
    })
    this.stream.addEventListener('message', (evt) => {
      this.receive(evt.data)
    })
    this.stream.addEventListener('drain', () => {
      this.safeDispatchEvent('drain')
    })
  }

  /** Bytes from the circuit stream */
  protected receive (data: Uint8ArrayList | Uint8Array): void {
    this.onData(data)
  }

  sendData (data: Uint8ArrayList): SendResult {
    if (this.stream.writeStatus === 'closing' || this.stream.writeStatus === 'closed') {
      this.onWritableLost()
      return { sentBytes: data.byteLength, canSendMore: true }
    }
    return { sentBytes: data.byteLength, canSendMore: this.stream.send(data) }
  }

  /** The link closed the stream's writable end: this connection's transport is gone */
  private onWritableLost (): void {
    if (this.writableLost) {
      return
    }
    this.writableLost = true
    this.log('the circuit stream is %s under an open connection (the link under it closed), closing', this.stream.writeStatus)
    queueMicrotask(() => {
      this.onTransportClosed()
    })
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    await this.stream.close(options)
  }

  sendReset (err: Error): void {
    this.stream.abort(err)
  }

  sendPause (): void {
    this.stream.pause()
  }

  sendResume (): void {
    this.stream.resume()
  }
}

/** Wrap a circuit stream as a MultiaddrConnection */
export function streamToConnection (init: StreamConnectionInit): StreamConnection {
  return new StreamConnection(init)
}
