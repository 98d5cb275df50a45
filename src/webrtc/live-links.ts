/**
 * Only live WebRTC links are trusted.
 *
 * Stock `@libp2p/webrtc` opens a WebRTC connection as soon as signaling ends,
 * whether or not its peer connection connected: a failed dial leaves the
 * answerer an inbound connection over a peer connection that never connected,
 * and it stays until ICE gives up 10–30 s later. A later stream or `connect()`
 * picks it and fails. And when the peer connection was already `failed` or
 * `closed` before the connection object existed, nothing closes it at all.
 *
 * This service watches every WebRTC connection from the moment it opens: one
 * whose peer connection is `failed` or `closed` is aborted at once; one that is
 * not `connected` (or is `disconnected`) gets `peerConnectionTimeout` to get
 * there, and is aborted when it does not. `bestConnection()` in
 * `src/utils/connections.ts` skips such connections meanwhile.
 */
import { linkKind, peerConnectionOf } from '../utils/connections.js'
import { DEFAULT_PEER_CONNECTION_TIMEOUT } from './constants.js'
import { PeerConnectionFailedError, PeerConnectionTimeoutError } from './errors.js'
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, Startable, TypedEventTarget } from '@libp2p/interface'

export interface LiveLinksInit {
  /**
   * How long a WebRTC connection may be open while its peer connection is not
   * `connected`, in ms
   *
   * @default DEFAULT_PEER_CONNECTION_TIMEOUT (2000)
   */
  peerConnectionTimeout?: number
}

export interface LiveLinksComponents {
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface LiveLinksStats {
  /** WebRTC connections watched */
  watched: number
  /** Aborted because their peer connection was or became `failed`/`closed` */
  closedFailed: number
  /** Aborted because their peer connection was not `connected` within the deadline */
  closedTimeout: number
}

export interface LiveLinks {
  stats(): LiveLinksStats
}

class DefaultLiveLinks implements LiveLinks, Startable {
  readonly [Symbol.toStringTag] = '@membrane/live-links'
  readonly [serviceCapabilities]: string[] = ['@membrane/live-links']
  private readonly components: LiveLinksComponents
  private readonly log: Logger
  private readonly timeout: number
  private readonly counters: LiveLinksStats = { watched: 0, closedFailed: 0, closedTimeout: 0 }
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private shutdownController = new AbortController()

  constructor (components: LiveLinksComponents, init: LiveLinksInit) {
    this.components = components
    this.log = components.logger.forComponent('membrane:live-links')
    this.timeout = init.peerConnectionTimeout ?? DEFAULT_PEER_CONNECTION_TIMEOUT
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
  }

  start (): void {
    this.shutdownController = new AbortController()
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
  }

  stop (): void {
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.shutdownController.abort()
    for (const timer of this.timers) {
      clearTimeout(timer)
    }
    this.timers.clear()
  }

  stats (): LiveLinksStats {
    return { ...this.counters }
  }

  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    const connection = evt.detail
    if (linkKind(connection) !== 'webrtc') {
      return
    }
    const pc = peerConnectionOf(connection)
    if (pc == null) {
      return
    }
    this.counters.watched++
    const signal = this.shutdownController.signal
    let timer: ReturnType<typeof setTimeout> | undefined

    const clear = (): void => {
      if (timer != null) {
        clearTimeout(timer)
        this.timers.delete(timer)
        timer = undefined
      }
    }
    const abort = (err: Error, counter: 'closedFailed' | 'closedTimeout'): void => {
      clear()
      pc.removeEventListener('connectionstatechange', check)
      if (connection.status !== 'open' || signal.aborted) {
        return
      }
      this.counters[counter]++
      this.log('aborting %s WebRTC connection to %p - %e', connection.direction, connection.remotePeer, err)
      connection.abort(err)
    }
    const check = (): void => {
      const state = pc.connectionState
      if (state === 'failed' || state === 'closed') {
        abort(new PeerConnectionFailedError(`the peer connection is "${state}"`), 'closedFailed')
      } else if (state === 'connected') {
        clear()
      } else if (timer == null) {
        timer = setTimeout(() => {
          abort(new PeerConnectionTimeoutError(`the peer connection stayed "${pc.connectionState}" for ${this.timeout} ms`), 'closedTimeout')
        }, this.timeout)
        this.timers.add(timer)
      }
    }
    pc.addEventListener('connectionstatechange', check)
    connection.addEventListener('close', () => {
      clear()
      pc.removeEventListener('connectionstatechange', check)
    }, { once: true })
    check()
  }
}

/**
 * Abort WebRTC connections whose peer connection is dead or does not connect
 * in time. Membrane adds it as the `liveLinks` service.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({ services: { liveLinks: liveLinks() } })
 * node.services.liveLinks.stats().closedTimeout
 * ```
 */
export function liveLinks (init: LiveLinksInit = {}): (components: LiveLinksComponents) => LiveLinks {
  return (components) => new DefaultLiveLinks(components, init)
}
