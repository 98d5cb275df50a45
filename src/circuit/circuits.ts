import { DialError, InvalidParametersError, serviceCapabilities, serviceDependencies, UnsupportedProtocolError } from '@libp2p/interface'
import { RateLimiter } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { bestConnection, linkKind } from '../utils/connections.js'
import { circuitAddress } from './address.js'
import {
  CIRCUIT_PROTOCOL, DEFAULT_FORWARD_RATE, DEFAULT_MAX_CIRCUITS, DEFAULT_MAX_CIRCUITS_PER_PEER, DEFAULT_MAX_HOPS,
  DEFAULT_MAX_RELAY_CIRCUITS, DEFAULT_RATE_WINDOW, DEFAULT_RELAY_LIMIT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT,
  DEFAULT_SIGNALING_LIMIT, DEFAULT_WEBRTC_ATTEMPT_TIMEOUT, DEFAULT_WEBRTC_ATTEMPTS, MAX_STREAMS_PER_CONNECTION
} from './constants.js'
import { WebRTCUpgradeError } from './errors.js'
import { handleCircuitStream } from './inbound.js'
import { routeHops } from './opener.js'
import { CircuitSlots } from './slots.js'
import type { CircuitNode } from './context.js'
import type {
  CircuitMode, CircuitRouter, CircuitStats, ConnectOptions, ConnectResult, LinkOptions, MeshCircuitsComponents,
  MeshCircuitsInit, MeshCircuitsService, OpenCircuitOptions
} from './index.js'
import type { CircuitDialOptions } from './transport.js'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'

/** The WebRTC signaling protocol of @libp2p/webrtc, whose stream must end before the circuit closes */
const WEBRTC_SIGNALING_PROTOCOL = '/webrtc-signaling/0.0.1'

/** How long to let the answerer finish closing its signaling stream before the circuit closes */
const SIGNALING_DRAIN_TIMEOUT = 2000

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

function isWebRTCConnection (connection: Connection): boolean {
  return connection.status === 'open' && WebRTC.exactMatch(connection.remoteAddr)
}

/** Resolves when every stream has closed, or after `timeout` ms */
async function streamsClosed (streams: Stream[], timeout: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([
    Promise.all(streams.map(async s => new Promise(resolve => {
      if (s.status !== 'open') {
        resolve(undefined)
        return
      }
      s.addEventListener('close', resolve, { once: true })
    }))),
    new Promise(resolve => { timer = setTimeout(resolve, timeout) })
  ])
  clearTimeout(timer)
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
    const existingWebRTC = this.components.connectionManager.getConnections(peer).find(isWebRTCConnection)
    if (existingWebRTC != null) {
      return { connection: existingWebRTC, kind: 'webrtc' }
    }
    let route = options.route ?? this.routerPath(peer, [])
    options.onProgress?.(new CustomEvent('route', { detail: { target: peer, route, time: Date.now() } }))

    // any open link to the peer (a neighbour, an earlier circuit) can carry the signaling
    let carrier = bestConnection(this.components.connectionManager.getConnections(peer), { allowLimited: true })
    let ownCircuit: Connection | undefined
    let webrtcError: Error | undefined
    // set when the last attempt could not even open its signaling circuit
    let circuitError: Error | undefined

    if (options.webrtc !== false && await this.components.connectionGater?.denyDialPeer?.(peer) === true) {
      throw new DialError(`the connection gater denies dialing ${peer}`)
    }
    if (options.webrtc !== false) {
      for (let attempt = 1; attempt <= this.webrtcAttempts; attempt++) {
        try {
          if (carrier == null || carrier.status !== 'open') {
            circuitError = undefined
            ownCircuit = await this.open(peer, route, 'signaling', options).catch((err: Error) => {
              circuitError = err
              throw err
            })
            carrier = ownCircuit
          }
          options.onProgress?.(new CustomEvent('signaling', { detail: { target: peer, attempt, time: Date.now() } }))
          const signal = AbortSignal.any([AbortSignal.timeout(this.webrtcAttemptTimeout), ...(options.signal == null ? [] : [options.signal])])
          // straight to the transport, not the dial queue: a retry must be a fresh dial, not
          // join the attempt that just timed out (which the queue keeps running to its own timeout)
          const connection = await this.components.transportManager.dial(multiaddr(`/webrtc/p2p/${peer}`), {
            signal,
            onProgress: options.onProgress
          })
          options.onProgress?.(new CustomEvent('webrtc', { detail: { target: peer, attempt, time: Date.now() } }))
          if (ownCircuit != null) {
            void this.closeAfterSignaling(ownCircuit)
          }
          return { connection, kind: 'webrtc' }
        } catch (err) {
          options.signal?.throwIfAborted()
          webrtcError = err as Error
          this.log('WebRTC attempt %d to %p failed - %e', attempt, peer, err)
          // no WebRTC at the far end will not change on a retry
          if (isUnsupported(err)) {
            break
          }
          // an explicit route that broke (a hop left, a link dropped): let the map choose next time.
          // Never after a failed authentication: a hop that tried to pose as the target is reported.
          if (circuitError != null && circuitError.name !== 'CircuitUpgradeError' && route === options.route && options.route != null) {
            route = this.routerPath(peer, [])
            options.onProgress?.(new CustomEvent('route', { detail: { target: peer, route, time: Date.now() } }))
            continue
          }
          if ((err as Error).name === 'NoRouteError') {
            break
          }
        }
      }
    }

    if (circuitError != null) {
      // the mesh path itself failed (refused, timed out, bad key): a relay circuit over it would too
      throw circuitError
    }
    if (options.relay === false) {
      if (ownCircuit != null) {
        void this.closeAfterSignaling(ownCircuit)
      }
      throw new WebRTCUpgradeError(`WebRTC to ${peer} did not connect: ${webrtcError?.message ?? 'disabled'}`, { cause: webrtcError })
    }
    const existing = bestConnection(this.components.connectionManager.getConnections(peer))
    if (existing != null && existing !== ownCircuit) {
      return { connection: existing, kind: linkKind(existing) === 'circuit' ? 'circuit' : 'existing', webrtcError }
    }
    const relay = await this.open(peer, route, 'relay', options)
    if (ownCircuit != null) {
      void this.closeAfterSignaling(ownCircuit)
    }
    return { connection: relay, kind: 'circuit', webrtcError }
  }

  /**
   * Close a signaling circuit once the answerer has finished with its
   * signaling stream: @libp2p/webrtc closes the new peer connection if that
   * stream fails to close, so cutting the circuit under it would undo the
   * upgrade.
   */
  private async closeAfterSignaling (circuit: Connection): Promise<void> {
    await streamsClosed(circuit.streams.filter(s => s.protocol === WEBRTC_SIGNALING_PROTOCOL), SIGNALING_DRAIN_TIMEOUT)
    try {
      await circuit.close({ signal: AbortSignal.timeout(SIGNALING_DRAIN_TIMEOUT) })
    } catch (err) {
      circuit.abort(err as Error)
    }
  }
}
