import { DialError, InvalidParametersError, serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { DEFAULT_WEBRTC_ATTEMPT_TIMEOUT, DEFAULT_WEBRTC_ATTEMPTS } from './constants.js'
import { CircuitTransportMissingError, WebRTCUpgradeError } from './errors.js'
import { MeshCircuitTransport } from './transport.js'
import type { CircuitRouter, CircuitStats, ConnectOptions, ConnectResult, MeshCircuitsComponents, MeshCircuitsInit, MeshCircuitsService, OpenCircuitOptions } from './index.js'
import type { Connection, Logger, PeerId } from '@libp2p/interface'

/** The WebRTC signaling protocol of @libp2p/webrtc, whose stream must end before the circuit closes */
const WEBRTC_SIGNALING_PROTOCOL = '/webrtc-signaling/0.0.1'

/** How long to let the answerer finish closing its signaling stream before the circuit closes */
const SIGNALING_DRAIN_TIMEOUT = 2000

/** True when an error (or one it wraps) says the remote does not speak WebRTC signaling */
function isUnsupported (err: unknown, depth = 0): boolean {
  if (err == null || depth > 4) {
    return false
  }
  const e = err as { name?: string, cause?: unknown, errors?: unknown[] }
  if (e.name === 'UnsupportedProtocolError' || e.name === 'NoValidAddressesError') {
    return true
  }
  return isUnsupported(e.cause, depth + 1) || (e.errors ?? []).some(inner => isUnsupported(inner, depth + 1))
}

function isWebRTCConnection (connection: Connection): boolean {
  return connection.status === 'open' && WebRTC.exactMatch(connection.remoteAddr)
}

export class MeshCircuits implements MeshCircuitsService {
  private readonly components: MeshCircuitsComponents
  private readonly log: Logger
  private readonly webrtcAttempts: number
  private readonly webrtcAttemptTimeout: number
  private readonly router?: CircuitRouter

  constructor (components: MeshCircuitsComponents, init: MeshCircuitsInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:circuit:connect')
    this.webrtcAttempts = Math.max(1, init.webrtcAttempts ?? DEFAULT_WEBRTC_ATTEMPTS)
    this.webrtcAttemptTimeout = init.webrtcAttemptTimeout ?? DEFAULT_WEBRTC_ATTEMPT_TIMEOUT
    this.router = init.router
  }

  readonly [Symbol.toStringTag] = '@membrane/circuit'
  readonly [serviceCapabilities]: string[] = ['@membrane/circuit']
  readonly [serviceDependencies]: string[] = ['@membrane/circuit-transport']

  private transport (): MeshCircuitTransport {
    const transport = this.components.transportManager.getTransports().find(t => t instanceof MeshCircuitTransport)
    if (transport == null) {
      throw new CircuitTransportMissingError('add meshCircuitTransport() to the libp2p transports')
    }
    return transport as MeshCircuitTransport
  }

  stats (): CircuitStats {
    return this.transport().stats()
  }

  async openCircuit (peer: PeerId, options: OpenCircuitOptions = {}): Promise<Connection> {
    return this.transport().open(peer, { ...options, route: options.route ?? this.router?.path(peer) })
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
    const transport = this.transport()
    let route = options.route ?? this.router?.path(peer)
    options.onProgress?.(new CustomEvent('route', { detail: { target: peer, route } }))

    // any open link to the peer (a neighbour, an earlier circuit) can carry the signaling
    let carrier = this.components.connectionManager.getConnections(peer).find(c => c.status === 'open')
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
            ownCircuit = await transport.open(peer, { route, mode: 'signaling', signal: options.signal, onProgress: options.onProgress }).catch((err: Error) => {
              circuitError = err
              throw err
            })
            carrier = ownCircuit
          }
          options.onProgress?.(new CustomEvent('signaling', { detail: { target: peer, attempt } }))
          const signal = AbortSignal.any([AbortSignal.timeout(this.webrtcAttemptTimeout), ...(options.signal == null ? [] : [options.signal])])
          // straight to the transport, not the dial queue: a retry must be a fresh dial, not
          // join the attempt that just timed out (which the queue keeps running to its own timeout)
          const connection = await this.components.transportManager.dial(multiaddr(`/webrtc/p2p/${peer}`), {
            signal,
            onProgress: options.onProgress
          })
          options.onProgress?.(new CustomEvent('webrtc', { detail: { target: peer, attempt } }))
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
            route = this.router?.path(peer)
            options.onProgress?.(new CustomEvent('route', { detail: { target: peer, route } }))
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
    const existing = this.components.connectionManager.getConnections(peer).find(c => c.status === 'open' && c.limits == null)
    if (existing != null && existing !== ownCircuit) {
      return { connection: existing, kind: transport.isCircuit(existing) ? 'circuit' : 'existing', webrtcError }
    }
    const relay = await transport.open(peer, { route, mode: 'relay', signal: options.signal, onProgress: options.onProgress })
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
    const deadline = Date.now() + SIGNALING_DRAIN_TIMEOUT
    while (Date.now() < deadline && circuit.streams.some(s => s.protocol === WEBRTC_SIGNALING_PROTOCOL && s.status === 'open')) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    try {
      await circuit.close({ signal: AbortSignal.timeout(SIGNALING_DRAIN_TIMEOUT) })
    } catch (err) {
      circuit.abort(err as Error)
    }
  }
}
