import { isIP } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { broadcast } from '../broadcast/index.js'
import { gossipsubDefaults } from '../membrane.js'
import { networkMap } from '../network-map/index.js'
import { DEFAULT_HOST, DEFAULT_MAX_RELAYED_TOPICS, DEFAULT_PORT, DEFAULT_RELAY_DATA_LIMIT, DEFAULT_RELAY_DURATION_LIMIT, DEFAULT_RELAY_MAX_RESERVATIONS } from './constants.js'
import { InvalidBootstrapOptionError, ListenError } from './errors.js'
import { topicRelay } from './topic-relay.js'
import type { TopicRelay } from './topic-relay.js'
import type { Broadcast } from '../broadcast/index.js'
import type { NetworkMap, NetworkMapInit } from '../network-map/index.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { PrivateKey, ServiceMap } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Libp2p, Libp2pOptions } from 'libp2p'

export { loadOrCreateKey } from './key-file.js'
export { InvalidKeyFileError, InvalidBootstrapOptionError, ListenError } from './errors.js'
export { topicRelay, type TopicRelay, type TopicRelayInit } from './topic-relay.js'
export * from './constants.js'

export interface BootstrapServices extends ServiceMap {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  broadcast: Broadcast
  relay: CircuitRelayService
  topicRelay: TopicRelay
  networkMap: NetworkMap
}

export type BootstrapPeer<T extends ServiceMap = ServiceMap> = Libp2p<BootstrapServices & T>

export interface RelayLimits {
  /**
   * The most relay reservations held at once
   *
   * @default 128
   */
  maxReservations?: number
  /**
   * How long one relayed connection may stay open, in ms
   *
   * @default 120000
   */
  durationLimit?: number
  /**
   * How many bytes one relayed connection may carry in each direction
   *
   * @default 131072n
   */
  dataLimit?: bigint
}

export interface BootstrapPeerInit<T extends ServiceMap = ServiceMap> {
  /**
   * The IPv4 or IPv6 address to listen on
   *
   * @default '127.0.0.1'
   */
  host?: string
  /**
   * The TCP port; 0 picks a free one
   *
   * @default 4001
   */
  port?: number
  /**
   * The WebSockets port; 0 picks a free one
   *
   * @default port + 1, or 0 when port is 0
   */
  wsPort?: number
  /**
   * The peer's identity (see `loadOrCreateKey`)
   *
   * @default a new Ed25519 key
   */
  privateKey?: PrivateKey
  /** Circuit relay v2 server limits */
  relay?: RelayLimits
  /**
   * The most topics forwarded on members' behalf
   *
   * @default 1024
   */
  maxTopics?: number
  /**
   * Options for the network map service
   *
   * @default { roles: ['bootstrap', 'relay'] }
   */
  networkMap?: NetworkMapInit
  /** Any libp2p option, applied over the bootstrap peer's; `services` are added */
  libp2p?: Libp2pOptions<T>
}

function checkPort (name: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidBootstrapOptionError(`${name} must be an integer from 0 to 65535, got ${port}`)
  }
  return port
}

/**
 * The listen addresses for a host and ports
 */
export function listenAddresses (host: string, port: number, wsPort: number): string[] {
  const family = isIP(host)
  if (family === 0) {
    throw new InvalidBootstrapOptionError(`host must be an IPv4 or IPv6 address, got "${host}"`)
  }
  const proto = family === 4 ? 'ip4' : 'ip6'
  return [
    `/${proto}/${host}/tcp/${checkPort('port', port)}`,
    `/${proto}/${host}/tcp/${checkPort('wsPort', wsPort)}/ws`
  ]
}

/**
 * Start a bootstrap peer: first contact for members over TCP and WebSockets,
 * a circuit relay v2 server for their signaling, and a gossipsub router that
 * forwards members' topics.
 *
 * @example
 * ```ts
 * const peer = await createBootstrapPeer({ port: 4001, privateKey: await loadOrCreateKey('./bootstrap.key') })
 * console.log(peer.getMultiaddrs().map(String))
 * ```
 */
export async function createBootstrapPeer <T extends ServiceMap = ServiceMap> (init: BootstrapPeerInit<T> = {}): Promise<BootstrapPeer<T>> {
  const host = init.host ?? DEFAULT_HOST
  const port = init.port ?? DEFAULT_PORT
  const wsPort = init.wsPort ?? (port === 0 ? 0 : port + 1)
  const listen = listenAddresses(host, port, wsPort)
  const relay = init.relay ?? {}
  const { services: extraServices, ...libp2pOptions } = init.libp2p ?? {}

  try {
    return await createLibp2p({
      privateKey: init.privateKey,
      addresses: { listen },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      ...libp2pOptions,
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub(gossipsubDefaults(6, { doPX: true })),
        broadcast: broadcast(),
        relay: circuitRelayServer({
          reservations: {
            maxReservations: relay.maxReservations ?? DEFAULT_RELAY_MAX_RESERVATIONS,
            defaultDurationLimit: relay.durationLimit ?? DEFAULT_RELAY_DURATION_LIMIT,
            defaultDataLimit: relay.dataLimit ?? DEFAULT_RELAY_DATA_LIMIT
          }
        }),
        topicRelay: topicRelay({ maxTopics: init.maxTopics ?? DEFAULT_MAX_RELAYED_TOPICS }),
        networkMap: networkMap({ roles: ['bootstrap', 'relay'], ...init.networkMap }),
        ...extraServices
      }
    }) as unknown as BootstrapPeer<T>
  } catch (err) {
    const cause = err as NodeJS.ErrnoException
    if (cause.code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(String(cause.message))) {
      throw new ListenError(`cannot listen on ${host} port ${port} or ${wsPort}: address already in use`)
    }
    if (cause.code === 'EADDRNOTAVAIL' || cause.name === 'NoValidAddressesError' || /EADDRNOTAVAIL/.test(String(cause.message))) {
      throw new ListenError(`cannot listen on ${host}: address not available on this machine`)
    }
    throw err
  }
}
