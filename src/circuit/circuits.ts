import { raceSignal } from 'race-signal'
import { DialError, InvalidParametersError, serviceCapabilities, serviceDependencies, UnsupportedProtocolError } from '@libp2p/interface'
import { RateLimiter } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { bestConnection, isDirectLink, linkKind } from '../utils/connections.js'
import { circuitAddress } from './address.js'
import {
  CIRCUIT_PROTOCOL, DEFAULT_FORWARD_RATE, DEFAULT_MAX_CIRCUITS, DEFAULT_MAX_CIRCUITS_PER_PEER, DEFAULT_MAX_HOPS,
  DEFAULT_MAX_RELAY_CIRCUITS, DEFAULT_RATE_WINDOW, DEFAULT_RELAY_LIMIT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT,
  DEFAULT_SIGNALING_LIMIT, DEFAULT_WEBRTC_ATTEMPT_TIMEOUT, DEFAULT_WEBRTC_ATTEMPTS, MAX_STREAMS_PER_CONNECTION,
  DEFAULT_CIRCUIT_DRAIN_TIMEOUT, DEFAULT_SIGNALING_DRAIN_TIMEOUT, MAX_WEBRTC_ATTEMPT_TIMEOUT, MIN_WEBRTC_ATTEMPT_TIMEOUT, WEBRTC_ATTEMPT_RTTS
} from './constants.js'
import { CircuitLimitError, CircuitRefusedError, CircuitUpgradeError, WebRTCUpgradeError } from './errors.js'
import { handleCircuitStream } from './inbound.js'
import { routeHops } from './opener.js'
import { CircuitSlots } from './slots.js'
import { deadlineSignal, timeoutSignal } from '../utils/timeout-signal.js'
import type { CircuitNode } from './context.js'
import type {
  CircuitMode, CircuitRouter, CircuitStats, ConnectOptions, ConnectResult, LinkOptions, MeshCircuitsComponents,
  MeshCircuitsInit, MeshCircuitsService, OpenCircuitOptions, UpgradeResult
} from './index.js'
import type { CircuitDialOptions } from './transport.js'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ProgressEvent } from 'progress-events'

/** The WebRTC signaling protocol of @libp2p/webrtc */
const WEBRTC_SIGNALING_PROTOCOL = '/webrtc-signaling/0.0.1'


/** True when an error (or one it wraps) says the remote does not speak WebRTC signaling */
function isUnsupported (err: unknown, depth = 0): boolean {
  if (err == null || depth > 4) {
    return false
  }
  if (err instanceof UnsupportedProtocolError || (err as Error).name === 'NoValidAddressesError') {
    return true
  }
  const e = err as { cause?: unknown, errors?: unknown[] }
  return isUnsupported(e.cause, depth + 1) || (e.errors ?? []).some(inner => isUnsupported(inner, depth + 1))
}

/** Resolves when every stream has closed, or after `timeout` ms */
async function streamsClosed (streams: Stream[], timeout: number): Promise<void> {
  const closed = streams.filter(s => s.status === 'open').map(async s => new Promise(resolve => {
    s.addEventListener('close', resolve, { once: true })
  }))
  await raceSignal(Promise.all(closed), timeoutSignal(timeout)).catch(() => {})
}

/**
 * The mesh circuit service: answers `/membrane/circuit/1.0.0` as a hop or a
 * target, opens circuits through the `meshCircuitTransport()` (by dialing
 * circuit addresses through the transport manager), and runs `connect()`:
 * a WebRTC upgrade signaled over a circuit, with a relay-circuit fallback.
 */
export class DefaultMeshCircuits implements MeshCircuitsService, Startable {
  private readonly components: MeshCircuitsComponents
  private readonly init: MeshCircuitsInit
  private readonly log: Logger
  private readonly maxHops: number
  private readonly webrtcAttempts: number
  private readonly webrtcAttemptTimeout: number
  private readonly router?: CircuitRouter
  private readonly slots: CircuitSlots
  private node?: CircuitNode
  private shutdownController = new AbortController()

  constructor (components: MeshCircuitsComponents, init: MeshCircuitsInit = {}) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('membrane:circuit')
    this.maxHops = init.maxHops ?? DEFAULT_MAX_HOPS
    this.webrtcAttempts = Math.max(1, init.webrtcAttempts ?? DEFAULT_WEBRTC_ATTEMPTS)
    this.webrtcAttemptTimeout = init.webrtcAttemptTimeout ?? DEFAULT_WEBRTC_ATTEMPT_TIMEOUT
    this.router = init.router
    this.slots = new CircuitSlots({
      maxCircuitsPerPeer: init.maxCircuitsPerPeer ?? DEFAULT_MAX_CIRCUITS_PER_PEER,
      maxCircuits: init.maxCircuits ?? DEFAULT_MAX_CIRCUITS,
      maxRelayCircuits: init.maxRelayCircuits ?? DEFAULT_MAX_RELAY_CIRCUITS
    })
    this.onStream = this.onStream.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/circuit'
  readonly [serviceCapabilities]: string[] = ['@membrane/circuit']
  readonly [serviceDependencies]: string[] = ['@membrane/circuit-transport']

  isStarted (): boolean {
    return this.node != null
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    const init = this.init
    this.node = {
      peerId: this.components.peerId,
      connectionManager: this.components.connectionManager,
      upgrader: this.components.upgrader,
      log: this.log,
      slots: this.slots,
      rateLimiter: new RateLimiter({
        points: init.forwardRate ?? DEFAULT_FORWARD_RATE,
        duration: Math.max(1, Math.round((init.rateWindow ?? DEFAULT_RATE_WINDOW) / 1000))
      }),
      maxHops: this.maxHops,
      signalingLimit: { ...DEFAULT_SIGNALING_LIMIT, ...init.signalingLimit },
      relayLimit: { ...DEFAULT_RELAY_LIMIT, ...init.relayLimit },
      requestTimeout: init.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
      responseTimeout: init.responseTimeout ?? DEFAULT_RESPONSE_TIMEOUT,
      shutdown: this.shutdownController.signal,
      path: (target, exclude) => this.routerPath(target, exclude)
    }
    await this.components.registrar.handle(CIRCUIT_PROTOCOL, this.onStream, {
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION,
      // circuits may be carried over relayed (limited) links, counted against the hop limit
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    this.shutdownController.abort()
    await this.components.registrar.unhandle(CIRCUIT_PROTOCOL)
    this.node = undefined
  }

  stats (): CircuitStats {
    return this.slots.stats()
  }

  private onStream (stream: Stream, connection: Connection): void {
    const node = this.node
    if (node == null) {
      stream.abort(new Error('the circuit service is stopped'))
      return
    }
    handleCircuitStream(node, stream, connection, { forwardRate: this.init.forwardRate ?? DEFAULT_FORWARD_RATE }).catch(err => {
      this.log.error('circuit request from %p failed - %e', connection.remotePeer, err)
      stream.abort(err)
    })
  }

  private routerPath (target: PeerId, exclude: PeerId[]): PeerId[] | undefined {
    try {
      return this.router?.path(target, { exclude })
    } catch (err) {
      this.log.error('router failed to find a path to %p - %e', target, err)
      return undefined
    }
  }

  /** Dial a circuit through the transport manager: the mesh circuit transport opens it */
  private async open (peer: PeerId, route: PeerId[] | undefined, mode: CircuitMode, options: OpenCircuitOptions): Promise<Connection> {
    const hops = routeHops(this.components.peerId, peer, route ?? this.routerPath(peer, []), this.maxHops)
    const dialOptions: Omit<CircuitDialOptions, 'upgrader'> = { mode, signal: options.signal ?? this.shutdownController.signal, onProgress: options.onProgress }
    return this.components.transportManager.dial(circuitAddress(hops, peer), dialOptions)
  }

  async openCircuit (peer: PeerId, options: OpenCircuitOptions = {}): Promise<Connection> {
    return this.open(peer, options.route, options.mode ?? 'signaling', options)
  }

  async link (peer: PeerId, options: LinkOptions = {}): Promise<Connection> {
    try {
      return (await this.connect(peer, options)).connection
    } catch (err) {
      // no mesh path (e.g. only a bootstrap peer between us, which relays v2 but not mesh
      // circuits): stock relay→WebRTC through the relay addresses the router knows for the peer
      const relayed = (this.router?.addresses?.(peer) ?? [])
        .filter(ma => WebRTC.matches(ma))
        .map(ma => ma.encapsulate(`/p2p/${peer}`))
      if (relayed.length === 0) {
        throw err
      }
      return this.components.connectionManager.openConnection(relayed, options.signal == null ? {} : { signal: options.signal })
    }
  }

  async connect (peer: PeerId, options: ConnectOptions = {}): Promise<ConnectResult> {
    if (peer.equals(this.components.peerId)) {
      throw new InvalidParametersError('cannot connect to self')
    }
    options.signal?.throwIfAborted()
    // a live WebRTC link (bestConnection skips one whose peer connection is not connected)
    const existingWebRTC = bestConnection(this.components.connectionManager.getConnections(peer))
    if (existingWebRTC != null && linkKind(existingWebRTC) === 'webrtc') {
      return settled({ connection: existingWebRTC, kind: 'webrtc' })
    }
    // the route is chosen once, up front: a signaling circuit opened later makes the map show
    // a link to the target, and a route read after that would have no relaying peer
    const route = options.route ?? this.routerPath(peer, [])
    options.onProgress?.(new CustomEvent('route', { detail: { target: peer, route, time: Date.now() } }))
    if (options.webrtc !== false && await this.components.connectionGater?.denyDialPeer?.(peer) === true) {
      throw new DialError(`the connection gater denies dialing ${peer}`)
    }
    if (options.relay === false) {
      return settled(await this.directOnly(peer, route, options))
    }

    // a usable link first: one that exists, else a relay circuit
    let link = bestConnection(this.components.connectionManager.getConnections(peer))
    let rtt: number | undefined
    let ownCircuit = false
    if (link == null) {
      try {
        const opened = await this.openRouted(peer, route, 'relay', options)
        link = opened.connection
        rtt = opened.rtt
        ownCircuit = true
      } catch (err) {
        // the hops' relay budgets are spent: a limited signaling circuit may still make a direct link
        if (err instanceof CircuitLimitError && options.webrtc !== false) {
          this.log('no relay circuit to %p (%s), trying for a direct link only', peer, err.message)
          return settled(await this.directOnly(peer, route, options))
        }
        throw err
      }
    }
    const kind = linkKind(link) === 'circuit' ? 'circuit' : 'existing'
    if (options.webrtc === false || isDirectLink(link)) {
      return settled({ connection: link, kind })
    }
    const upgrade = this.upgradeBehind(peer, link, kind, ownCircuit, rtt, options)
    if (options.waitForDirect === true) {
      return { ...await upgrade, upgrade }
    }
    return { connection: link, kind, upgrade }
  }

  /** The attempt deadline: fixed when configured, else scaled by the circuit's round trip */
  private attemptTimeout (rtt: number | undefined): number {
    if (this.init.webrtcAttemptTimeout != null) {
      return this.init.webrtcAttemptTimeout
    }
    if (rtt == null) {
      return DEFAULT_WEBRTC_ATTEMPT_TIMEOUT
    }
    return Math.min(MAX_WEBRTC_ATTEMPT_TIMEOUT, Math.max(MIN_WEBRTC_ATTEMPT_TIMEOUT, rtt * WEBRTC_ATTEMPT_RTTS))
  }

  /**
   * Open a circuit along `route`; an explicit route that broke (a hop left, a link dropped)
   * is retried once along the map's path. Never after a failed authentication: a hop that
   * tried to pose as the target is reported.
   */
  private async openRouted (peer: PeerId, route: PeerId[] | undefined, mode: CircuitMode, options: ConnectOptions): Promise<{ connection: Connection, rtt?: number }> {
    let rtt: number | undefined
    const onProgress = (evt: ProgressEvent): void => {
      if (evt.type === 'circuit') {
        rtt = (evt.detail as { rtt: number }).rtt
      }
      options.onProgress?.(evt)
    }
    try {
      return { connection: await this.open(peer, route, mode, { ...options, onProgress }), rtt }
    } catch (err) {
      options.signal?.throwIfAborted()
      if (options.route == null || route !== options.route || err instanceof CircuitUpgradeError) {
        throw err
      }
      this.log('route to %p failed, asking the router - %e', peer, err)
      const fresh = this.routerPath(peer, [])
      options.onProgress?.(new CustomEvent('route', { detail: { target: peer, route: fresh, time: Date.now() } }))
      return { connection: await this.open(peer, fresh, mode, { ...options, onProgress }), rtt }
    }
  }

  /**
   * WebRTC attempts over `carrier`. Each attempt is a fresh dial straight to the transport,
   * not the dial queue: a retry must not join the attempt that just timed out, and it does
   * not wait for that one to wind down.
   */
  private async attempts (peer: PeerId, carrier: () => Promise<Connection>, rtt: () => number | undefined, options: ConnectOptions): Promise<{ connection?: Connection, webrtcError?: Error }> {
    const signal = options.signal == null ? this.shutdownController.signal : AbortSignal.any([options.signal, this.shutdownController.signal])
    let webrtcError: Error | undefined
    for (let attempt = 1; attempt <= this.webrtcAttempts; attempt++) {
      if (signal.aborted) {
        break
      }
      await carrier()
      const timeout = this.attemptTimeout(rtt())
      options.onProgress?.(new CustomEvent('signaling', { detail: { target: peer, attempt, timeout, time: Date.now() } }))
      // not AbortSignal.any(): `signal` is (or is built on) the shutdown signal, which would keep a cell per attempt (src/utils/timeout-signal.ts)
      const attemptDeadline = deadlineSignal(timeout, signal)
      const attemptSignal = attemptDeadline.signal
      const dial = this.components.transportManager.dial(multiaddr(`/webrtc/p2p/${peer}`), {
        signal: attemptSignal,
        onProgress: options.onProgress
      })
      // some dial stages do not watch the signal: a link that still lands after the caller gave up
      // (or after the link under the upgrade closed) is closed, not left open unasked
      dial.then(connection => {
        if (signal.aborted) {
          this.log('closing the WebRTC link to %p that connected after its upgrade was called off', peer)
          connection.close().catch(err => { connection.abort(err) })
        }
      }, () => {})
      try {
        const connection = await raceSignal(dial, attemptSignal)
        options.onProgress?.(new CustomEvent('webrtc', { detail: { target: peer, attempt, time: Date.now() } }))
        return { connection }
      } catch (err) {
        webrtcError = namedError(err, `WebRTC attempt ${attempt} to ${peer} failed`)
        this.log('WebRTC attempt %d to %p failed - %e', attempt, peer, webrtcError)
        // no WebRTC at the far end will not change on a retry
        if (isUnsupported(err)) {
          break
        }
      } finally {
        attemptDeadline.clear()
      }
    }
    return { webrtcError }
  }

  /**
   * The upgrade behind a usable link; the circuit is closed once drained if
   * WebRTC connects. The upgrade is called off when the link closes first
   * (hung up, trimmed, cut by a hop): a WebRTC attempt past its signaling
   * could still connect after the circuit closed, and leave both ends with a
   * link nobody holds any more (seen after `hangUp` in the DM bench: the
   * map then kept the edge, rightly, since the link was there)
   */
  private async upgradeBehind (peer: PeerId, link: Connection, kind: UpgradeResult['kind'], ownCircuit: boolean, rtt: number | undefined, options: ConnectOptions): Promise<UpgradeResult> {
    const linkClosed = new AbortController()
    const onClose = (): void => { linkClosed.abort(new CircuitRefusedError(`the link to ${peer} closed during the WebRTC upgrade`)) }
    link.addEventListener('close', onClose, { once: true })
    if (link.status !== 'open') {
      onClose()
    }
    const signal = options.signal == null ? linkClosed.signal : AbortSignal.any([options.signal, linkClosed.signal])
    try {
      const result = await this.attempts(peer, async () => {
        if (link.status !== 'open') {
          throw new CircuitRefusedError(`the link to ${peer} closed during the WebRTC upgrade`)
        }
        return link
      }, () => rtt, { ...options, signal })
      if (result.connection != null) {
        if (ownCircuit) {
          void this.retire(link)
        }
        return { connection: result.connection, kind: 'webrtc' }
      }
      return { connection: link, kind, webrtcError: linkClosed.signal.aborted ? linkClosed.signal.reason as Error : result.webrtcError }
    } catch (err) {
      return { connection: link, kind, webrtcError: namedError(err, `WebRTC upgrade to ${peer} failed`) }
    } finally {
      link.removeEventListener('close', onClose)
    }
  }

  /**
   * A direct WebRTC link only, signaled over a limited circuit that is closed on
   * every path (or over a link that already exists); WebRTCUpgradeError when none
   */
  private async directOnly (peer: PeerId, route: PeerId[] | undefined, options: ConnectOptions): Promise<UpgradeResult> {
    if (options.webrtc === false) {
      throw new WebRTCUpgradeError(`no link to ${peer}: WebRTC and the relay circuit are both disabled`)
    }
    const existing = bestConnection(this.components.connectionManager.getConnections(peer), { allowLimited: true })
    let circuit: Connection | undefined
    let rtt: number | undefined
    // reopened when a hop cut it between attempts
    const carrier = async (): Promise<Connection> => {
      if (existing?.status === 'open') {
        return existing
      }
      if (circuit?.status !== 'open') {
        const opened = await this.openRouted(peer, route, 'signaling', options)
        circuit = opened.connection
        rtt = opened.rtt
      }
      return circuit
    }
    let result: { connection?: Connection, webrtcError?: Error }
    try {
      result = await this.attempts(peer, carrier, () => rtt, options)
    } catch (err) {
      if (circuit != null) {
        void this.retire(circuit)
      }
      throw err
    }
    if (circuit != null) {
      void this.retire(circuit)
    }
    options.signal?.throwIfAborted()
    if (result.connection == null) {
      throw new WebRTCUpgradeError(`WebRTC to ${peer} did not connect: ${result.webrtcError?.message ?? 'no attempt made'}`, { cause: result.webrtcError })
    }
    return { connection: result.connection, kind: 'webrtc' }
  }

  /**
   * Close a circuit once its streams have ended, or after the drain timeout.
   * The answerer's signaling stream is one of them: @libp2p/webrtc closes the
   * new peer connection if that stream fails to close, so cutting the circuit
   * under it would undo the upgrade.
   */
  private async retire (circuit: Connection): Promise<void> {
    const signaling = circuit.streams.filter(s => s.protocol === WEBRTC_SIGNALING_PROTOCOL)
    const others = circuit.streams.filter(s => s.protocol !== WEBRTC_SIGNALING_PROTOCOL)
    await Promise.all([
      streamsClosed(signaling, DEFAULT_SIGNALING_DRAIN_TIMEOUT),
      streamsClosed(others, this.init.circuitDrainTimeout ?? DEFAULT_CIRCUIT_DRAIN_TIMEOUT)
    ])
    try {
      await circuit.close({ signal: timeoutSignal(DEFAULT_SIGNALING_DRAIN_TIMEOUT) })
    } catch (err) {
      circuit.abort(err as Error)
    }
  }
}

/** A result with nothing left to upgrade */
function settled (result: UpgradeResult): ConnectResult {
  return { ...result, upgrade: Promise.resolve(result) }
}

/** Errors reaching the application are Errors with a name, never a raw Event or string */
function namedError (err: unknown, context: string): Error {
  if (err instanceof Error) {
    return err
  }
  const what = err instanceof Event ? `${err.type} event` : String(err)
  return new WebRTCUpgradeError(`${context}: ${what}`, { cause: err })
}
