import { serviceCapabilities } from '@libp2p/interface'
import { pbStream, RateLimiter } from '@libp2p/utils'
import { BASE_DIFFICULTY, MAX_ACCEPTED_DIFFICULTY, MAX_DIFFICULTY, difficultyForLoad, solveWork, verifyWork } from '../admission/index.js'
import { typedDecodeError } from '../utils/decode-error.js'
import { DEFAULT_CREDENTIAL_TTL, DEFAULT_MAX_REQUESTS_PER_PEER, DEFAULT_RATE_WINDOW, DEFAULT_REQUEST_TIMEOUT, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_REQUEST_SIZE, MAX_RESPONSE_SIZE, MAX_SOURCES, MAX_TURN_URLS, MAX_URL_LENGTH, PROTOCOL } from './constants.js'
import { turnCredentials } from './credentials.js'
import { IceRateLimitError, IceWorkError, InvalidIceMessageError, InvalidTurnOptionError } from './errors.js'
import { IceRequest, IceResponse } from './pb/ice.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { IceServers, IceServersComponents, IceServersInit, IceServersServe, IceServersStats } from './index.js'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Bits added per doubling of load, as admission asks */
const DIFFICULTY_PER_DOUBLING = 4
/** Hashes between yields while solving, so pages stay responsive */
const HASHES_PER_YIELD = 4096
/** Longest TURN username or credential a member accepts */
const MAX_CREDENTIAL_LENGTH = 256
/** Longest credential lifetime a member accepts, in seconds */
const MAX_TTL = 7 * 24 * 3600

interface Source {
  stun?: RTCIceServer
  turn?: RTCIceServer
  /** When the TURN credentials expire, ms since the epoch */
  turnExpires: number
  refresh?: ReturnType<typeof setTimeout>
}

/** `stun:<host>:<port>` for the host a connection reached the peer at */
export function stunUrlFor (remoteAddr: Multiaddr, port: number): string | undefined {
  const host = remoteAddr.getComponents().find(c => ['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(c.name))
  if (host?.value == null) {
    return undefined
  }
  return `stun:${host.name === 'ip6' ? `[${host.value}]` : host.value}:${port}`
}

function checkTurn (serve: IceServersServe): void {
  const turn = serve.turn
  if (turn == null) {
    return
  }
  if (turn.urls.length === 0 || turn.urls.length > MAX_TURN_URLS) {
    throw new InvalidTurnOptionError(`give 1 to ${MAX_TURN_URLS} TURN URLs, got ${turn.urls.length}`)
  }
  for (const url of turn.urls) {
    if (!/^turns?:[^\s]+$/.test(url) || url.length > MAX_URL_LENGTH) {
      throw new InvalidTurnOptionError(`not a turn: or turns: URL of at most ${MAX_URL_LENGTH} characters: "${url}"`)
    }
  }
  if (turn.secret.length === 0) {
    throw new InvalidTurnOptionError('the TURN secret is empty')
  }
  if (turn.ttl != null && (!Number.isInteger(turn.ttl) || turn.ttl < 60 || turn.ttl > MAX_TTL)) {
    throw new InvalidTurnOptionError(`the TURN credential lifetime must be 60 to ${MAX_TTL} seconds, got ${turn.ttl}`)
  }
}

export class DefaultIceServers implements IceServers {
  private readonly components: IceServersComponents
  private readonly log: Logger
  private readonly serve?: IceServersServe
  private readonly request: boolean
  private readonly timeout: number
  private readonly sources = new Map<string, Source>()
  private readonly pending = new Set<string>()
  private readonly counts: IceServersStats = { served: 0, credentialsIssued: 0, challenged: 0, refused: 0, sources: 0, failed: 0 }
  private limiter?: RateLimiter
  private shutdownController = new AbortController()
  private topologyId?: string

  constructor (components: IceServersComponents, init: IceServersInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:ice-servers')
    this.serve = init.serve
    if (init.serve != null) {
      checkTurn(init.serve)
    }
    this.request = init.request ?? init.serve == null
    this.timeout = init.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT
    this.handle = this.handle.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/ice-servers'
  readonly [serviceCapabilities]: string[] = ['@membrane/ice-servers']

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    if (this.serve != null) {
      this.limiter = new RateLimiter({ points: this.serve.maxRequestsPerPeer ?? DEFAULT_MAX_REQUESTS_PER_PEER, duration: DEFAULT_RATE_WINDOW / 1000 })
      await this.components.registrar.handle(PROTOCOL, this.handle, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    }
    if (this.request) {
      this.topologyId = await this.components.registrar.register(PROTOCOL, {
        onConnect: (peer, connection) => { void this.ask(peer, connection) }
      })
    }
  }

  async stop (): Promise<void> {
    this.shutdownController.abort()
    if (this.serve != null) {
      await this.components.registrar.unhandle(PROTOCOL)
    }
    if (this.topologyId != null) {
      this.components.registrar.unregister(this.topologyId)
      this.topologyId = undefined
    }
    for (const source of this.sources.values()) {
      clearTimeout(source.refresh)
    }
    this.sources.clear()
    for (const record of this.limiter?.memoryStorage.storage.values() ?? []) {
      clearTimeout(record.timeoutId)
    }
    this.limiter = undefined
  }

  servers (): RTCIceServer[] {
    const now = Date.now()
    return [...this.sources.values()].flatMap(s => [
      ...(s.stun == null ? [] : [s.stun]),
      ...(s.turn == null || s.turnExpires <= now ? [] : [s.turn])
    ])
  }

  stats (): IceServersStats {
    return { ...this.counts, sources: this.sources.size }
  }

  /** Server side: one exchange */
  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    const serve = this.serve!
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(this.timeout, this.shutdownController.signal)
    const signal = deadline.signal
    try {
      try {
        this.limiter?.consume(peer.toString())
      } catch {
        throw new IceRateLimitError(`${peer} asked too often`)
      }
      const pb = pbStream(stream, { maxDataLength: MAX_REQUEST_SIZE })
      const first = await pb.read(IceRequest, { signal })
      if (first.counter !== 0n) {
        throw new InvalidIceMessageError('a first request carries no solution')
      }
      const stunPort = serve.stunPort?.() ?? 0
      const empty = { stunPort, turnUrls: [], username: '', credential: '', ttl: 0 }
      const turn = serve.turn
      if (turn != null) {
        const difficulty = serve.load == null ? 0 : difficultyForLoad(serve.load(), BASE_DIFFICULTY, DIFFICULTY_PER_DOUBLING, MAX_DIFFICULTY)
        if (difficulty > 0) {
          const nonce = crypto.getRandomValues(new Uint8Array(16))
          this.counts.challenged++
          await pb.write({ ...empty, challenge: { nonce, difficulty } }, IceResponse, { signal })
          const answer = await pb.read(IceRequest, { signal })
          if (!verifyWork(nonce, peer.toMultihash().bytes, difficulty, answer.counter)) {
            throw new IceWorkError(`wrong solution from ${peer}`)
          }
        }
        const ttl = turn.ttl ?? DEFAULT_CREDENTIAL_TTL
        const credentials = turnCredentials(turn.secret, peer.toString(), ttl)
        await pb.write({ stunPort, turnUrls: turn.urls, username: credentials.username, credential: credentials.credential, ttl }, IceResponse, { signal })
        this.counts.credentialsIssued++
      } else {
        await pb.write(empty, IceResponse, { signal })
      }
      await stream.close({ signal })
      this.counts.served++
    } catch (err) {
      this.counts.refused++
      const typed = typedDecodeError(err, why => new InvalidIceMessageError(`ICE servers request ${why}`))
      this.log('refused an ICE servers request from %p - %e', peer, typed)
      stream.abort(typed)
    } finally {
      deadline.clear()
    }
  }

  /** Member side: ask a bootstrap peer for its servers */
  private async ask (peer: PeerId, connection: Connection): Promise<void> {
    const key = peer.toString()
    if (this.pending.has(key) || connection.status !== 'open') {
      return
    }
    this.pending.add(key)
    const deadline = deadlineSignal(this.timeout, this.shutdownController.signal)
    const signal = deadline.signal
    let stream: Stream | undefined
    try {
      stream = await connection.newStream(PROTOCOL, { signal })
      const pb = pbStream(stream, { maxDataLength: MAX_RESPONSE_SIZE })
      await pb.write({ counter: 0n }, IceRequest, { signal })
      let response = await pb.read(IceResponse, { signal })
      if (response.challenge != null) {
        const { nonce, difficulty } = response.challenge
        if (difficulty > MAX_ACCEPTED_DIFFICULTY || nonce.byteLength < 8 || nonce.byteLength > 64) {
          throw new IceWorkError(`refusing a ${difficulty}-bit challenge with a ${nonce.byteLength}-byte nonce`)
        }
        const counter = await solveWork(nonce, this.components.peerId.toMultihash().bytes, difficulty, { signal, hashesPerYield: HASHES_PER_YIELD })
        await pb.write({ counter }, IceRequest, { signal })
        response = await pb.read(IceResponse, { signal })
        if (response.challenge != null) {
          throw new InvalidIceMessageError('a second challenge')
        }
      }
      await stream.close({ signal })
      this.store(key, connection, response)
    } catch (err) {
      this.counts.failed++
      this.log('no ICE servers from %p - %e', peer, err)
      stream?.abort(err as Error)
    } finally {
      deadline.clear()
      this.pending.delete(key)
    }
  }

  private store (key: string, connection: Connection, response: IceResponse): void {
    if (response.stunPort > 65535 || response.turnUrls.length > MAX_TURN_URLS || response.ttl > MAX_TTL ||
      response.turnUrls.some(u => u.length > MAX_URL_LENGTH || !/^turns?:[^\s]+$/.test(u)) ||
      response.username.length > MAX_CREDENTIAL_LENGTH || response.credential.length > MAX_CREDENTIAL_LENGTH) {
      throw new InvalidIceMessageError('a response out of bounds')
    }
    const stunUrl = response.stunPort === 0 ? undefined : stunUrlFor(connection.remoteAddr, response.stunPort)
    const hasTurn = response.turnUrls.length > 0 && response.ttl > 0
    const previous = this.sources.get(key)
    clearTimeout(previous?.refresh)
    this.sources.delete(key)
    const source: Source = {
      stun: stunUrl == null ? undefined : { urls: stunUrl },
      turn: hasTurn ? { urls: response.turnUrls, username: response.username, credential: response.credential } : undefined,
      turnExpires: hasTurn ? Date.now() + response.ttl * 1000 : 0
    }
    if (hasTurn) {
      // new credentials at half-life, while the bootstrap peer stays connected
      source.refresh = setTimeout(() => { void this.ask(connection.remotePeer, connection) }, response.ttl * 500)
      source.refresh.unref?.()
    }
    this.sources.set(key, source)
    // the most recently reached bootstrap peers win
    for (const [oldest, old] of this.sources) {
      if (this.sources.size <= MAX_SOURCES) {
        break
      }
      clearTimeout(old.refresh)
      this.sources.delete(oldest)
    }
    this.log('ICE servers from %p: %s', connection.remotePeer, [source.stun?.urls, ...(response.turnUrls)].filter(u => u != null).join(' '))
  }
}
