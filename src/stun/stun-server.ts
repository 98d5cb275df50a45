import { createSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import { serviceCapabilities } from '@libp2p/interface'
import { RateLimiter } from '@libp2p/utils'
import { DEFAULT_MAX_REQUESTS_PER_SECOND, DEFAULT_MAX_REQUESTS_PER_SOURCE, DEFAULT_RATE_WINDOW, DEFAULT_STUN_PORT, MAX_TRACKED_SOURCES } from './constants.js'
import { StunListenError } from './errors.js'
import { encodeBindingSuccess, parseBindingRequest } from './message.js'
import type { StunServer, StunServerComponents, StunServerInit, StunServerStats } from './index.js'
import type { Logger } from '@libp2p/interface'
import type { RemoteInfo, Socket } from 'node:dgram'

export class DefaultStunServer implements StunServer {
  private readonly log: Logger
  private readonly host: string
  private readonly requestedPort: number
  private readonly perSource: number
  private readonly rateWindow: number
  private readonly perSecond: number
  private socket?: Socket
  private sources?: RateLimiter
  private global?: RateLimiter
  private readonly counts: StunServerStats = { received: 0, answered: 0, malformed: 0, rateLimited: 0 }

  constructor (components: StunServerComponents, init: StunServerInit = {}) {
    this.log = components.logger.forComponent('membrane:stun-server')
    this.host = init.host ?? '127.0.0.1'
    this.requestedPort = init.port ?? DEFAULT_STUN_PORT
    this.perSource = init.maxRequestsPerSource ?? DEFAULT_MAX_REQUESTS_PER_SOURCE
    this.rateWindow = init.rateWindow ?? DEFAULT_RATE_WINDOW
    this.perSecond = init.maxRequestsPerSecond ?? DEFAULT_MAX_REQUESTS_PER_SECOND
  }

  readonly [Symbol.toStringTag] = '@membrane/stun-server'
  readonly [serviceCapabilities]: string[] = ['@membrane/stun-server']

  get port (): number {
    return this.socket?.address().port ?? 0
  }

  stats (): StunServerStats {
    return { ...this.counts }
  }

  async start (): Promise<void> {
    this.sources = new RateLimiter({ points: this.perSource, duration: this.rateWindow / 1000 })
    this.global = new RateLimiter({ points: this.perSecond, duration: 1 })
    const socket = createSocket({ type: isIPv6(this.host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(this.host) })
    socket.on('message', (msg, rinfo) => { this.onMessage(socket, msg, rinfo) })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => {
        reject(Object.assign(new StunListenError(`cannot listen for STUN on ${this.host} UDP port ${this.requestedPort}: ${err.message}`), { code: (err as NodeJS.ErrnoException).code }))
      })
      socket.bind(this.requestedPort, this.host, () => {
        socket.removeAllListeners('error')
        // a send error (e.g. an unreachable source) concerns one datagram, never the service
        socket.on('error', (err) => { this.log.error('STUN socket error - %e', err) })
        resolve()
      })
    })
    this.socket = socket
    this.log('STUN binding service on %s:%d', this.host, this.port)
  }

  async stop (): Promise<void> {
    const socket = this.socket
    this.socket = undefined
    for (const limiter of [this.sources, this.global]) {
      for (const record of limiter?.memoryStorage.storage.values() ?? []) {
        clearTimeout(record.timeoutId)
      }
      limiter?.memoryStorage.storage.clear()
    }
    if (socket != null) {
      await new Promise<void>(resolve => { socket.close(() => { resolve() }) })
    }
  }

  private onMessage (socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    this.counts.received++
    let request
    try {
      request = parseBindingRequest(msg)
    } catch (err) {
      this.counts.malformed++
      this.log.trace('dropped a datagram from %s:%d - %e', rinfo.address, rinfo.port, err)
      return
    }
    if (!this.allowed(rinfo.address)) {
      this.counts.rateLimited++
      return
    }
    const response = encodeBindingSuccess(request, rinfo.address, rinfo.port)
    socket.send(response, rinfo.port, rinfo.address)
    this.counts.answered++
  }

  /** Per source address, and over all sources; a full table of sources admits no new one */
  private allowed (address: string): boolean {
    const sources = this.sources
    const global = this.global
    if (sources == null || global == null) {
      return false
    }
    if (sources.memoryStorage.storage.size >= MAX_TRACKED_SOURCES && sources.get(address) == null) {
      return false
    }
    try {
      global.consume('all')
      sources.consume(address)
      return true
    } catch {
      return false
    }
  }
}
