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
 */
class StreamConnection extends AbstractMultiaddrConnection {
  private readonly stream: Stream

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
      this.onData(evt.data)
    })
    this.stream.addEventListener('drain', () => {
      this.safeDispatchEvent('drain')
    })
  }

  sendData (data: Uint8ArrayList): SendResult {
    return { sentBytes: data.byteLength, canSendMore: this.stream.send(data) }
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
