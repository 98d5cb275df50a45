import { serviceCapabilities, transportSymbol, TypedEventEmitter } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { pbStream, RateLimiter } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { circuitAddress, isCircuitAddress, parseCircuitAddress, relayedHops } from './address.js'
import {
  CIRCUIT_PROTOCOL, DEFAULT_FORWARD_RATE, DEFAULT_MAX_CIRCUITS, DEFAULT_MAX_CIRCUITS_PER_PEER, DEFAULT_MAX_HOPS,
  DEFAULT_MAX_RELAY_CIRCUITS, DEFAULT_OPEN_TIMEOUT, DEFAULT_RATE_WINDOW, DEFAULT_RELAY_LIMIT, DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_RESPONSE_TIMEOUT, DEFAULT_SIGNALING_LIMIT, MAX_REASON_LENGTH, MAX_REQUEST_SIZE, MAX_RESPONSE_SIZE,
  MAX_STREAMS_PER_CONNECTION
} from './constants.js'
import {
  CircuitLimitError, CircuitLoopError, CircuitRateLimitError, CircuitRefusedError, CircuitTimeoutError,
  CircuitUpgradeError, HopLimitError, MalformedCircuitMessageError, NoRouteError
} from './errors.js'
import { CircuitRequest, CircuitResponse } from './pb/circuit.js'
import { spliceStreams } from './relay.js'
import { streamToConnection } from './stream-to-conn.js'
import type { CircuitMode, CircuitRouter, CircuitStats, MeshCircuitTransportComponents, MeshCircuitTransportInit, OpenCircuitOptions } from './index.js'
import type { SpliceLimit } from './relay.js'
import type { Connection, ConnectionLimits, CreateListenerOptions, DialTransportOptions, Listener, ListenerEvents, Logger, PeerId, Stream, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

type Status = CircuitResponse.Status

/** A refusal to send back to the previous hop */
class Refusal extends Error {
  constructor (readonly status: Status, reason: string) {
    super(reason)
  }
}

/** The typed error an opener sees for each refusal status */
function errorFor (response: CircuitResponse, target: PeerId): Error {
  const by = response.from.byteLength > 0 ? ` by ${safePeerId(response.from)?.toString() ?? 'an unknown peer'}` : ''
  const message = `circuit to ${target} refused${by}: ${response.status} ${response.reason}`.trim()
  switch (response.status) {
    case CircuitResponse.Status.NO_ROUTE: return new NoRouteError(message)
    case CircuitResponse.Status.LIMIT_EXCEEDED: return new CircuitLimitError(message)
    case CircuitResponse.Status.RATE_LIMITED: return new CircuitRateLimitError(message)
    case CircuitResponse.Status.HOP_LIMIT: return new HopLimitError(message)
    case CircuitResponse.Status.LOOP: return new CircuitLoopError(message)
    case CircuitResponse.Status.MALFORMED: return new MalformedCircuitMessageError(message)
    case CircuitResponse.Status.TIMEOUT: return new CircuitTimeoutError(message)
    default: return new CircuitRefusedError(message)
  }
}

const CIRCUIT_ERRORS = [
  NoRouteError, CircuitLimitError, CircuitRateLimitError, HopLimitError, CircuitLoopError,
  MalformedCircuitMessageError, CircuitRefusedError, CircuitTimeoutError, CircuitUpgradeError
]

function safePeerId (multihash: Uint8Array): PeerId | undefined {
  try {
    return peerIdFromString(uint8ArrayToString(multihash, 'base58btc'))
  } catch {
    return undefined
  }
}

function parsePeerId (multihash: Uint8Array, field: string): PeerId {
  const peer = safePeerId(multihash)
  if (peer == null) {
    throw new Refusal(CircuitResponse.Status.MALFORMED, `${field} is not a peer id`)
  }
  return peer
}

/** An open connection to `peer`, preferring the fewest relaying hops; limited ones only if allowed */
function bestConnection (connections: Connection[], allowLimited: boolean): Connection | undefined {
  return connections
    .filter(c => c.status === 'open' && (allowLimited || c.limits == null))
    .sort((x, y) => relayedHops(x.remoteAddr) - relayedHops(y.remoteAddr))[0]
}

function isAbort (err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError'
}

/** A listener with no addresses: circuits are dialed, never listened on */
class CircuitListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  async listen (): Promise<void> {}
  getAddrs (): Multiaddr[] { return [] }
  updateAnnounceAddrs (): void {}
  async close (): Promise<void> {
    this.safeDispatchEvent('close')
  }
}

/**
 * The mesh circuit transport: relays `/membrane/circuit/1.0.0` requests as a
 * hop, accepts them as a target, and opens circuits whose end-to-end stream is
 * upgraded with Noise (authenticating the target) and yamux.
 */
export class MeshCircuitTransport implements Transport {
  private readonly components: MeshCircuitTransportComponents
  private readonly log: Logger
  private readonly maxHops: number
  private readonly signalingLimit: SpliceLimit
  private readonly relayLimit: SpliceLimit
  private readonly maxCircuitsPerPeer: number
  private readonly maxCircuits: number
  private readonly maxRelayCircuits: number
  private readonly requestTimeout: number
  private readonly responseTimeout: number
  private readonly openTimeout: number
  private readonly router?: CircuitRouter
  private readonly rateLimiter: RateLimiter
  private readonly inbound = new Map<string, number>()
  private readonly outbound = new Map<string, number>()
  private circuits = 0
  private relayCircuits = 0
  private forwarded = 0
  private shutdownController = new AbortController()
  private started = false

  constructor (components: MeshCircuitTransportComponents, init: MeshCircuitTransportInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:circuit')
    this.maxHops = init.maxHops ?? DEFAULT_MAX_HOPS
    this.signalingLimit = { ...DEFAULT_SIGNALING_LIMIT, ...init.signalingLimit }
    this.relayLimit = { ...DEFAULT_RELAY_LIMIT, ...init.relayLimit }
    this.maxCircuitsPerPeer = init.maxCircuitsPerPeer ?? DEFAULT_MAX_CIRCUITS_PER_PEER
    this.maxCircuits = init.maxCircuits ?? DEFAULT_MAX_CIRCUITS
    this.maxRelayCircuits = init.maxRelayCircuits ?? DEFAULT_MAX_RELAY_CIRCUITS
    this.requestTimeout = init.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT
    this.responseTimeout = init.responseTimeout ?? DEFAULT_RESPONSE_TIMEOUT
    this.openTimeout = init.openTimeout ?? DEFAULT_OPEN_TIMEOUT
    this.router = init.router
    this.rateLimiter = new RateLimiter({
      points: init.forwardRate ?? DEFAULT_FORWARD_RATE,
      duration: Math.max(1, Math.round((init.rateWindow ?? DEFAULT_RATE_WINDOW) / 1000))
    })
    this.onStream = this.onStream.bind(this)
  }

  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@membrane/circuit-transport'
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport', '@membrane/circuit-transport']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    await this.components.registrar.handle(CIRCUIT_PROTOCOL, this.onStream, {
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION,
      // circuits may be carried over relayed (limited) links, counted against the hop limit
      runOnLimitedConnection: true
    })
    this.started = true
  }

  async stop (): Promise<void> {
    this.shutdownController.abort()
    await this.components.registrar.unhandle(CIRCUIT_PROTOCOL)
    this.started = false
  }

  /** Circuits this node currently relays or terminates */
  stats (): CircuitStats {
    return { circuits: this.circuits, relayCircuits: this.relayCircuits, forwarded: this.forwarded }
  }

  /** True when `connection` is a mesh circuit */
  isCircuit (connection: Connection): boolean {
    return isCircuitAddress(connection.remoteAddr)
  }

  createListener (_options: CreateListenerOptions): Listener {
    return new CircuitListener()
  }

  listenFilter (): Multiaddr[] {
    return []
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(isCircuitAddress)
  }

  /** Dial `/p2p/<hop>…/membrane-circuit/p2p/<target>`: a limited (signaling) circuit along those hops */
  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    const { hops, target } = parseCircuitAddress(ma)
    return this.open(target, { route: hops, mode: 'signaling', signal: options.signal, onProgress: options.onProgress })
  }

  /** The route to use: explicit, from the router, or none */
  private resolveRoute (target: PeerId, route: PeerId[] | undefined): PeerId[] {
    let path = route ?? this.routerPath(target, [])
    if (path == null) {
      throw new NoRouteError(`no route to ${target}: not a neighbour and no router or route given`)
    }
    // accept a full network-map path [self, …, target] or the hops alone
    if (path.length > 0 && path[0].equals(this.components.peerId)) {
      path = path.slice(1)
    }
    if (path.length > 0 && path[path.length - 1].equals(target)) {
      path = path.slice(0, -1)
    }
    if (path.length === 0) {
      throw new NoRouteError(`no relaying peer between this node and ${target}`)
    }
    const seen = new Set<string>([this.components.peerId.toString(), target.toString()])
    for (const hop of path) {
      if (seen.has(hop.toString())) {
        throw new CircuitLoopError(`route to ${target} visits ${hop} twice`)
      }
      seen.add(hop.toString())
    }
    if (path.length > this.maxHops) {
      throw new HopLimitError(`route to ${target} has ${path.length} hops, the limit is ${this.maxHops}`)
    }
    return path
  }

  private routerPath (target: PeerId, exclude: PeerId[]): PeerId[] | undefined {
    const router = this.router ?? this.componentRouter()
    try {
      return router?.path(target, { exclude })
    } catch (err) {
      this.log.error('router failed to find a path to %p - %e', target, err)
      return undefined
    }
  }

  /** A network map registered as the `networkMap` service acts as router when none was given */
  private componentRouter (): CircuitRouter | undefined {
    try {
      const candidate = (this.components as unknown as Record<string, unknown>).networkMap as CircuitRouter | undefined
      return typeof candidate?.path === 'function' ? candidate : undefined
    } catch {
      return undefined
    }
  }

  /**
   * Open a circuit to `target` and upgrade it to an ordinary libp2p connection
   * (Noise authenticating `target`, then yamux). Signaling circuits are
   * marked limited; relay circuits are not.
   */
  async open (target: PeerId, options: OpenCircuitOptions = {}): Promise<Connection> {
    const mode: CircuitMode = options.mode ?? 'signaling'
    const route = this.resolveRoute(target, options.route)
    const timeout = AbortSignal.timeout(this.openTimeout)
    const signal = options.signal == null ? timeout : AbortSignal.any([options.signal, timeout])
    const first = route[0]
    const connection = bestConnection(this.components.connectionManager.getConnections(first), mode === 'signaling')
    if (connection == null) {
      throw new NoRouteError(`not connected to the first hop ${first} of the route to ${target}`)
    }

    let stream: Stream | undefined
    try {
      stream = await connection.newStream(CIRCUIT_PROTOCOL, { signal, runOnLimitedConnection: true })
      const messages = pbStream(stream, { maxDataLength: MAX_RESPONSE_SIZE })
      await messages.write({
        target: target.toMultihash().bytes,
        route: route.slice(1).map(p => p.toMultihash().bytes),
        path: [this.components.peerId.toMultihash().bytes],
        hops: 0,
        maxHops: this.maxHops,
        mode: mode === 'relay' ? CircuitRequest.Mode.RELAY : CircuitRequest.Mode.SIGNALING
      }, CircuitRequest, { signal })
      const response = await messages.read(CircuitResponse, { signal })
      if (response.status !== CircuitResponse.Status.OK) {
        throw errorFor(response, target)
      }
      options.onProgress?.(new CustomEvent('circuit', { detail: { target, route, mode } }))

      const maConn = streamToConnection({
        stream: messages.unwrap(),
        remoteAddr: circuitAddress(route, target),
        log: stream.log.newScope('membrane:circuit:connection')
      })
      let conn: Connection
      try {
        conn = await this.components.upgrader.upgradeOutbound(maConn, {
          signal,
          onProgress: options.onProgress,
          limits: this.connectionLimits(mode)
        })
      } catch (err) {
        maConn.abort(err as Error)
        if (isAbort(err, signal)) {
          throw new CircuitTimeoutError(`Noise/yamux over the circuit to ${target} did not finish in time`, { cause: err })
        }
        throw new CircuitUpgradeError(`the end-to-end handshake with ${target} failed (${(err as Error).name}: ${(err as Error).message})`, { cause: err })
      }
      options.onProgress?.(new CustomEvent('noise', { detail: { target, remotePeer: conn.remotePeer } }))
      this.log('opened %s circuit to %p via %s', mode, target, route.map(String).join(' → '))
      return conn
    } catch (err) {
      stream?.abort(err as Error)
      throw this.openError(err, signal, first, target)
    }
  }

  /** Map what went wrong while opening to one of the typed circuit errors */
  private openError (err: unknown, signal: AbortSignal, first: PeerId, target: PeerId): Error {
    const name = (err as Error)?.name ?? ''
    if (CIRCUIT_ERRORS.some(E => err instanceof E)) {
      return err as Error
    }
    if (isAbort(err, signal)) {
      return new CircuitTimeoutError(`circuit to ${target} did not open in time`, { cause: err })
    }
    if (name === 'UnsupportedProtocolError') {
      return new CircuitRefusedError(`${first} does not relay mesh circuits`, { cause: err })
    }
    if (name.endsWith('LengthError') || name === 'UnexpectedEOFError' || name === 'MaxLengthError' || err instanceof RangeError) {
      return new MalformedCircuitMessageError(`bad circuit response from ${first}: ${(err as Error).message}`, { cause: err })
    }
    return err instanceof Error ? err : new CircuitRefusedError(String(err))
  }

  private connectionLimits (mode: CircuitMode): ConnectionLimits | undefined {
    if (mode !== 'signaling') {
      return undefined
    }
    return { bytes: BigInt(this.signalingLimit.bytes), seconds: Math.round(this.signalingLimit.duration / 1000) }
  }

  private onStream (stream: Stream, connection: Connection): void {
    this.handle(stream, connection).catch(err => {
      this.log.error('circuit request from %p failed - %e', connection.remotePeer, err)
      stream.abort(err)
    })
  }

  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.requestTimeout), this.shutdownController.signal])
    const messages = pbStream(stream, { maxDataLength: MAX_REQUEST_SIZE })
    const refuse = async (status: Status, reason: string): Promise<void> => {
      this.log('refusing circuit from %p: %s %s', connection.remotePeer, status, reason)
      try {
        await messages.write({ status, reason: reason.slice(0, MAX_REASON_LENGTH), from: this.components.peerId.toMultihash().bytes }, CircuitResponse, { signal })
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err as Error)
      }
    }

    let request: CircuitRequest
    try {
      request = await messages.read(CircuitRequest, { signal, limits: { route: this.maxHops + 1, path: this.maxHops + 1 } })
    } catch (err) {
      if (isAbort(err, signal)) {
        stream.abort(new CircuitTimeoutError('no circuit request before the deadline'))
        return
      }
      await refuse(CircuitResponse.Status.MALFORMED, `unreadable request: ${(err as Error).message}`)
      return
    }

    try {
      const target = parsePeerId(request.target, 'target')
      const path = request.path.map(p => parsePeerId(p, 'path entry'))
      if (path.length === 0 || !path[path.length - 1].equals(connection.remotePeer)) {
        throw new Refusal(CircuitResponse.Status.MALFORMED, 'the path must end with the sending peer')
      }
      const self = this.components.peerId
      if (path.some(p => p.equals(self)) || path.some(p => p.equals(target))) {
        throw new Refusal(CircuitResponse.Status.LOOP, `${self} is already on the path`)
      }
      const maxHops = Math.min(request.maxHops > 0 ? request.maxHops : this.maxHops, this.maxHops)
      const hops = request.hops + relayedHops(connection.remoteAddr)
      const mode: CircuitMode = request.mode === CircuitRequest.Mode.RELAY ? 'relay' : 'signaling'

      if (target.equals(self)) {
        await this.accept(messages, stream, connection, path, hops, maxHops, mode, signal)
      } else {
        await this.forward(messages, stream, connection, request, target, path, hops, maxHops, mode, signal)
      }
    } catch (err) {
      if (err instanceof Refusal) {
        await refuse(err.status, err.message)
        return
      }
      throw err
    }
  }

  /** Reserve a circuit slot; returns the release function or throws a Refusal */
  private reserve (from: PeerId, to: PeerId | undefined, mode: CircuitMode): () => void {
    const inKey = from.toString()
    const outKey = to?.toString()
    if (this.circuits >= this.maxCircuits) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `this node carries its limit of ${this.maxCircuits} circuits`)
    }
    if ((this.inbound.get(inKey) ?? 0) >= this.maxCircuitsPerPeer) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `${from} already has ${this.maxCircuitsPerPeer} circuits through this node`)
    }
    if (outKey != null && (this.outbound.get(outKey) ?? 0) >= this.maxCircuitsPerPeer) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `this node already forwards ${this.maxCircuitsPerPeer} circuits to ${to}`)
    }
    if (mode === 'relay' && this.relayCircuits >= this.maxRelayCircuits) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `this node carries its limit of ${this.maxRelayCircuits} relay circuits`)
    }
    this.circuits++
    this.inbound.set(inKey, (this.inbound.get(inKey) ?? 0) + 1)
    if (outKey != null) {
      this.outbound.set(outKey, (this.outbound.get(outKey) ?? 0) + 1)
    }
    if (mode === 'relay') {
      this.relayCircuits++
    }
    let released = false
    return () => {
      if (released) {
        return
      }
      released = true
      this.circuits--
      decrement(this.inbound, inKey)
      if (outKey != null) {
        decrement(this.outbound, outKey)
      }
      if (mode === 'relay') {
        this.relayCircuits--
      }
    }
  }

  /** This node is the target: answer OK and run the inbound Noise + yamux upgrade */
  private async accept (messages: ReturnType<typeof pbStream<Stream>>, stream: Stream, connection: Connection, path: PeerId[], hops: number, maxHops: number, mode: CircuitMode, signal: AbortSignal): Promise<void> {
    if (path.length < 2 && relayedHops(connection.remoteAddr) === 0) {
      throw new Refusal(CircuitResponse.Status.MALFORMED, 'a circuit needs at least one relaying peer')
    }
    if (hops > maxHops) {
      throw new Refusal(CircuitResponse.Status.HOP_LIMIT, `the circuit crossed ${hops} relaying peers, the limit is ${maxHops}`)
    }
    const release = this.reserve(connection.remotePeer, undefined, mode)
    try {
      await messages.write({ status: CircuitResponse.Status.OK, reason: '', from: this.components.peerId.toMultihash().bytes }, CircuitResponse, { signal })
    } catch (err) {
      release()
      throw err
    }
    // from this end the hops run from the nearest (the sender) back to the opener
    const opener = path[0]
    const hopsFromHere = path.slice(1).reverse()
    if (hopsFromHere.length === 0) {
      hopsFromHere.push(connection.remotePeer)
    }
    const raw = messages.unwrap()
    raw.addEventListener('close', release, { once: true })
    const maConn = streamToConnection({
      stream: raw,
      remoteAddr: circuitAddress(hopsFromHere, opener),
      log: stream.log.newScope('membrane:circuit:connection')
    })
    try {
      // the upgrader applies its inbound timeout; Noise checks the opener's key against `opener`
      await this.components.upgrader.upgradeInbound(maConn, {
        signal: this.shutdownController.signal,
        limits: this.connectionLimits(mode)
      })
      this.log('accepted %s circuit from %p', mode, opener)
    } catch (err) {
      maConn.abort(err as Error)
      release()
      this.log('inbound circuit upgrade from %p failed - %e', opener, err)
    }
  }

  /** This node is a hop: pick the next peer, forward the request, relay the answer, then splice */
  private async forward (messages: ReturnType<typeof pbStream<Stream>>, stream: Stream, connection: Connection, request: CircuitRequest, target: PeerId, path: PeerId[], hops: number, maxHops: number, mode: CircuitMode, signal: AbortSignal): Promise<void> {
    try {
      this.rateLimiter.consume(connection.remotePeer.toString())
    } catch {
      throw new Refusal(CircuitResponse.Status.RATE_LIMITED, `${connection.remotePeer} sent too many circuit requests`)
    }
    if (hops + 1 > maxHops) {
      throw new Refusal(CircuitResponse.Status.HOP_LIMIT, `relaying would make ${hops + 1} relaying peers, the limit is ${maxHops}`)
    }

    let next: PeerId
    let rest: PeerId[]
    const route = request.route.map(r => parsePeerId(r, 'route entry'))
    const targetConnection = bestConnection(this.components.connectionManager.getConnections(target), mode === 'signaling')
    if (route.length > 0) {
      next = route[0]
      rest = route.slice(1)
    } else if (targetConnection != null) {
      next = target
      rest = []
    } else {
      const found = this.routerPath(target, path)
      if (found == null || found.length < 2) {
        throw new Refusal(CircuitResponse.Status.NO_ROUTE, `${this.components.peerId} has no route to ${target}`)
      }
      const hopsAhead = found[0].equals(this.components.peerId) ? found.slice(1) : found
      next = hopsAhead[0]
      rest = hopsAhead.slice(1).filter(p => !p.equals(target))
    }
    const ahead = [next, ...rest]
    const revisited = ahead.find(p => p.equals(this.components.peerId) || path.some(q => q.equals(p)) || ahead.filter(q => q.equals(p)).length > 1) ??
      rest.find(p => p.equals(target))
    if (revisited != null) {
      throw new Refusal(CircuitResponse.Status.LOOP, `the route returns to ${revisited}`)
    }
    const nextConnection = next.equals(target) ? targetConnection : bestConnection(this.components.connectionManager.getConnections(next), mode === 'signaling')
    if (nextConnection == null) {
      // never dial on someone else's behalf: only existing links are used
      throw new Refusal(CircuitResponse.Status.NO_ROUTE, `${this.components.peerId} is not connected to ${next}`)
    }
    const hopsAfter = hops + 1 + relayedHops(nextConnection.remoteAddr)
    if (hopsAfter > maxHops) {
      throw new Refusal(CircuitResponse.Status.HOP_LIMIT, `the link to ${next} is itself relayed; the circuit would cross ${hopsAfter} relaying peers, the limit is ${maxHops}`)
    }

    const release = this.reserve(connection.remotePeer, next, mode)
    let onward: Stream | undefined
    try {
      const responseSignal = AbortSignal.any([AbortSignal.timeout(this.responseTimeout), this.shutdownController.signal])
      let response: CircuitResponse
      let onwardMessages: ReturnType<typeof pbStream<Stream>>
      try {
        onward = await nextConnection.newStream(CIRCUIT_PROTOCOL, { signal: responseSignal, runOnLimitedConnection: true })
        onwardMessages = pbStream(onward, { maxDataLength: MAX_RESPONSE_SIZE })
        await onwardMessages.write({
          target: request.target,
          route: rest.map(p => p.toMultihash().bytes),
          path: [...request.path, this.components.peerId.toMultihash().bytes],
          hops: hops + 1,
          maxHops,
          mode: request.mode
        }, CircuitRequest, { signal: responseSignal })
        response = await onwardMessages.read(CircuitResponse, { signal: responseSignal })
      } catch (err) {
        if (isAbort(err, responseSignal)) {
          throw new Refusal(CircuitResponse.Status.TIMEOUT, `${next} did not answer within ${this.responseTimeout} ms`)
        }
        if ((err as Error).name?.endsWith('LengthError') === true || (err as Error).name === 'UnexpectedEOFError') {
          throw new Refusal(CircuitResponse.Status.MALFORMED, `${next} sent a bad response`)
        }
        throw new Refusal(CircuitResponse.Status.CONNECTION_FAILED, `could not reach ${next}: ${(err as Error).message}`)
      }
      // pass the far end's answer back unchanged; the opener trusts only Noise anyway
      await messages.write({
        status: response.status,
        reason: response.reason.slice(0, MAX_REASON_LENGTH),
        from: response.from
      }, CircuitResponse, { signal })
      if (response.status !== CircuitResponse.Status.OK) {
        release()
        await Promise.all([stream.close({ signal }), onward.close({ signal })]).catch(() => {
          stream.abort(new CircuitRefusedError('refused'))
          onward?.abort(new CircuitRefusedError('refused'))
        })
        return
      }
      this.forwarded++
      spliceStreams(messages.unwrap(), onwardMessages.unwrap(), {
        limit: mode === 'relay' ? this.relayLimit : this.signalingLimit,
        signal: this.shutdownController.signal,
        log: this.log,
        onEnd: release
      })
      this.log.trace('relaying %s circuit %p → %p → %p', mode, connection.remotePeer, this.components.peerId, next)
    } catch (err) {
      release()
      onward?.abort(err as Error)
      throw err
    }
  }
}

function decrement (counts: Map<string, number>, key: string): void {
  const value = (counts.get(key) ?? 0) - 1
  if (value <= 0) {
    counts.delete(key)
  } else {
    counts.set(key, value)
  }
}
