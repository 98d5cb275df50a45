import { serviceCapabilities, transportSymbol, TypedEventEmitter } from '@libp2p/interface'
import { isCircuitAddress, parseCircuitAddress } from './address.js'
import { DEFAULT_MAX_HOPS, DEFAULT_OPEN_TIMEOUT, DEFAULT_SIGNALING_LIMIT } from './constants.js'
import { openCircuit, routeHops } from './opener.js'
import type { CircuitMode, MeshCircuitTransportComponents, MeshCircuitTransportInit } from './index.js'
import type { OpenerNode } from './opener.js'
import type { Connection, CreateListenerOptions, DialTransportOptions, Listener, ListenerEvents, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Dial options of the mesh circuit transport: which kind of circuit to open */
export interface CircuitDialOptions extends DialTransportOptions {
  /** @default 'signaling' */
  mode?: CircuitMode
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
 * The mesh circuit transport dials `/p2p/<hop>…/membrane-circuit/p2p/<target>`:
 * a circuit along those hops, upgraded with Noise (authenticating the target)
 * and yamux. Answering circuits, as a hop or a target, is the `meshCircuits()`
 * service's job.
 */
export class MeshCircuitTransport implements Transport {
  private readonly node: OpenerNode

  constructor (components: MeshCircuitTransportComponents, init: MeshCircuitTransportInit = {}) {
    this.node = {
      peerId: components.peerId,
      connectionManager: components.connectionManager,
      upgrader: components.upgrader,
      log: components.logger.forComponent('membrane:circuit-transport'),
      maxHops: init.maxHops ?? DEFAULT_MAX_HOPS,
      signalingLimit: { ...DEFAULT_SIGNALING_LIMIT, ...init.signalingLimit },
      openTimeout: init.openTimeout ?? DEFAULT_OPEN_TIMEOUT,
      earlyHandshake: init.earlyHandshake ?? true
    }
  }

  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@membrane/circuit-transport'
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport', '@membrane/circuit-transport']

  createListener (_options: CreateListenerOptions): Listener {
    return new CircuitListener()
  }

  listenFilter (): Multiaddr[] {
    return []
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(isCircuitAddress)
  }

  /** A signaling (limited) circuit along the address's hops, or a relay circuit when `options.mode` says so */
  async dial (ma: Multiaddr, options: CircuitDialOptions): Promise<Connection> {
    const { hops, target } = parseCircuitAddress(ma)
    const route = routeHops(this.node.peerId, target, hops, this.node.maxHops)
    return openCircuit(this.node, target, { route, mode: options.mode ?? 'signaling', signal: options.signal, onProgress: options.onProgress })
  }
}
