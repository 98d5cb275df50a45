// first: stops an old Node before anything else loads
import '../utils/node-version.js'
import { createSocket } from 'node:dgram'
import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'
import { noise } from '@libp2p/noise'
import { guardedYamux } from '../utils/yamux-guard.js'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { bootstrap as bootstrapDiscovery } from '@libp2p/bootstrap'
import { createLibp2p } from 'libp2p'
import { broadcast } from '../broadcast/index.js'
import { channels } from '../channels/index.js'
import { gossipsubDefaults } from '../membrane.js'
import { DEFAULT_HOST, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_RELAYED_TOPICS, DEFAULT_PORT, DEFAULT_RELAY_DATA_LIMIT, DEFAULT_RELAY_DURATION_LIMIT, DEFAULT_RELAY_MAX_RESERVATIONS } from './constants.js'
import { networkMap } from '../network-map/index.js'
import { InvalidBootstrapOptionError, ListenError } from './errors.js'
import { topicRelay } from './topic-relay.js'
import { admission } from '../admission/index.js'
import { meshCircuits, meshCircuitTransport } from '../circuit/index.js'
import type { MeshCircuitsService } from '../circuit/index.js'
import { peerExchange } from '../peer-exchange/index.js'
import type { PeerExchange } from '../peer-exchange/index.js'
import { ipLimitsGater } from './ip-limits.js'
import { DEFAULT_STUN_PORT, stunServer } from '../stun/index.js'
import type { StunServer } from '../stun/index.js'
import { iceServers } from '../turn/index.js'
import type { IceServers, TurnInit } from '../turn/index.js'
import { loadMonitor } from './load.js'
import { serviceSlot } from '../utils/service-slot.js'
import { mapRouter } from '../circuit/map-router.js'
import type { LoadMonitorService, LoadThresholds } from './load.js'
import type { Admission } from '../admission/index.js'
import type { TopicRelay } from './topic-relay.js'
import type { Broadcast } from '../broadcast/index.js'
import type { Channels } from '../channels/index.js'
import type { NetworkMap, NetworkMapInit } from '../network-map/index.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { PeerId, PrivateKey, ServiceMap } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Libp2p, Libp2pOptions } from 'libp2p'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Registry } from 'prom-client'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { keychain } from '@libp2p/keychain'
import { sha256 } from 'multiformats/hashes/sha2'
import { concat as uint8ArrayConcat } from 'uint8arrays/concat'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { CertificateFileDatastore } from './certificate-store.js'

export { loadOrCreateKey } from './key-file.js'
export { CertificateFileDatastore } from './certificate-store.js'
export { InvalidKeyFileError, InvalidBootstrapOptionError, ListenError } from './errors.js'
export { topicRelay, type TopicRelay, type TopicRelayInit } from './topic-relay.js'
export { createLoadMonitor, loadMonitor, type LoadThresholds, type LoadMonitor, type LoadMonitorService } from './load.js'
export { ipLimitsGater, type IpLimitsInit } from './ip-limits.js'
export { serveOps, type OpsServer, type ServeOpsOptions } from './ops.js'
export * from './constants.js'
export { stunServer, DEFAULT_STUN_PORT, MalformedStunMessageError, StunListenError, type StunServer, type StunServerInit, type StunServerStats } from '../stun/index.js'

export interface BootstrapServices extends ServiceMap {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  broadcast: Broadcast
  channels: Channels
  relay: CircuitRelayService
  topicRelay: TopicRelay
  admission: Admission
  loadMonitor: LoadMonitorService
  peerExchange: PeerExchange
  networkMap: NetworkMap
  meshCircuits: MeshCircuitsService
  /** The STUN binding service, unless `stunPort` is false */
  stunServer?: StunServer
  iceServers: IceServers
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

export interface WebRTCDirectCertificateInit {
  /** Keep the certificate in this file, created if missing (the CLI: `<key file>.webrtc-direct.json`) */
  file?: string
  /**
   * How long a new certificate is valid, in ms
   *
   * @default 1_209_600_000 (14 days)
   */
  lifespan?: number
  /**
   * Renew the certificate this many ms before it expires (must be less than `lifespan`)
   *
   * @default 86_400_000 (1 day)
   */
  renewBefore?: number
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
   * UDP port for WebRTC-direct (certhash addresses: browsers on https pages
   * can dial it without a TLS certificate); `false` disables it
   *
   * @default the TCP port's number
   */
  webrtcDirectPort?: number | false
  /**
   * The WebRTC-direct certificate. With `file`, it is kept there (mode 0600;
   * its private key encrypted with a key derived from `privateKey`), so the
   * certhash in the peer's addresses is the same on every start until the
   * certificate is renewed: `renewBefore` ms before it expires, while running
   * or at the next start, after which the new address is announced like any
   * address change (identify push, the network-map record, `self:peer:update`).
   *
   * @default { lifespan: 14 days, renewBefore: 1 day } and no file (a new certhash on every start)
   */
  webrtcDirectCertificate?: WebRTCDirectCertificateInit
  /**
   * UDP port of the STUN binding service (RFC 5389) members use to learn
   * their public address; `false` disables it
   *
   * @default 3478, or 0 (any free port) when `port` is 0
   */
  stunPort?: number | false
  /**
   * coturn run beside this peer: members get short-lived credentials for it
   * (coturn's REST API scheme, `use-auth-secret` + `static-auth-secret`)
   *
   * @default undefined (no TURN)
   */
  turn?: TurnInit
  /** Secure WebSockets: listen on `port` with this PEM certificate and key */
  tls?: { port: number, cert: string | Buffer, key: string | Buffer }
  /**
   * Other bootstrap peers to mesh with (multiaddrs ending in `/p2p/<id>`)
   *
   * @default []
   */
  peers?: Array<string | Multiaddr>
  /**
   * The most connections held at once
   *
   * @default 512
   */
  maxConnections?: number
  /**
   * The most simultaneous inbound connections from one IP address
   *
   * @default 16
   */
  maxConnectionsPerIp?: number
  /**
   * When the peer counts as loaded, and so asks new members for proof of work
   *
   * @default { connections: 256, cpu: 0.9, eventLoopLag: 100 }
   */
  load?: LoadThresholds
  /**
   * Record libp2p's and Membrane's metrics in this prom-client registry (see `serveOps`)
   *
   * @default undefined (no metrics)
   */
  metricsRegistry?: Registry
  /**
   * Options for the network map service
   *
   * @default { roles: ['bootstrap', 'relay'] }
   */
  networkMap?: NetworkMapInit
  /** Any libp2p option, applied over the bootstrap peer's; `services` are added */
  libp2p?: Libp2pOptions<T>
}

/** The PeerIds named by `/p2p/<id>` multiaddrs; others are ignored */
function peerIdsOf (addrs: string[]): PeerId[] {
  return addrs.flatMap((addr) => {
    try {
      const id = multiaddr(addr).getComponents().findLast(c => c.name === 'p2p')?.value
      return id == null ? [] : [peerIdFromString(id)]
    } catch {
      throw new InvalidBootstrapOptionError(`not a multiaddr with a peer id: "${addr}"`)
    }
  })
}

/** The keychain pass phrase for the WebRTC-direct certificate's key: derived from the peer's own private key */
async function certificatePass (privateKey?: PrivateKey): Promise<string | undefined> {
  if (privateKey == null) {
    return undefined
  }
  const digest = await sha256.digest(uint8ArrayConcat([uint8ArrayFromString('membrane webrtc-direct certificate key\n'), privateKey.raw]))
  return uint8ArrayToString(digest.digest, 'base64')
}

function checkPort (name: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidBootstrapOptionError(`${name} must be an integer from 0 to 65535, got ${port}`)
  }
  return port
}

export interface ListenPorts {
  port: number
  wsPort: number
  /** UDP port for WebRTC-direct, or false for none */
  webrtcDirectPort: number | false
  /** secure WebSockets port, if any */
  wssPort?: number
}

const udpInUse = (host: string, port: number | false): string => `cannot listen on ${host} UDP port ${port} for WebRTC-direct: address already in use`

/** An IP address in one canonical spelling (IPv6 compressed, lower case) */
function canonicalIp (address: string): string {
  return isIP(address) === 6 ? new URL(`http://[${address}]`).hostname.slice(1, -1) : address
}

/**
 * Whether `host` is the wildcard or an address of one of this machine's
 * network interfaces (any 127.x.y.z counts: Linux binds all of 127/8 on `lo`)
 */
export function isLocalAddress (host: string): boolean {
  if (host === '0.0.0.0' || canonicalIp(host) === '::' || (isIP(host) === 4 && host.startsWith('127.'))) {
    return true
  }
  const wanted = canonicalIp(host)
  return Object.values(networkInterfaces()).some(list => list?.some(i => canonicalIp(i.address) === wanted))
}

/**
 * Whether a UDP port can be bound on `host`. Asked before WebRTC-direct
 * listens, because libjuice reports a port in use with four lines of its own
 * straight to stdout before the error reaches us.
 */
async function udpPortFree (host: string, port: number): Promise<boolean> {
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4')
  return new Promise((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close()
      resolve(err.code !== 'EADDRINUSE')
    })
    socket.bind(port, host, () => { socket.close(() => { resolve(true) }) })
  })
}

/**
 * The listen addresses for a host and ports
 */
export function listenAddresses (host: string, ports: ListenPorts): string[] {
  const family = isIP(host)
  if (family === 0) {
    throw new InvalidBootstrapOptionError(`host must be an IPv4 or IPv6 address, got "${host}"`)
  }
  const proto = family === 4 ? 'ip4' : 'ip6'
  const addrs = [
    `/${proto}/${host}/tcp/${checkPort('port', ports.port)}`,
    `/${proto}/${host}/tcp/${checkPort('wsPort', ports.wsPort)}/ws`
  ]
  if (ports.webrtcDirectPort !== false) {
    addrs.push(`/${proto}/${host}/udp/${checkPort('webrtcDirectPort', ports.webrtcDirectPort)}/webrtc-direct`)
  }
  if (ports.wssPort != null) {
    addrs.push(`/${proto}/${host}/tcp/${checkPort('wssPort', ports.wssPort)}/tls/ws`)
  }
  return addrs
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
  const webrtcDirectPort = init.webrtcDirectPort ?? port
  const stunPort = init.stunPort ?? (port === 0 ? 0 : DEFAULT_STUN_PORT)
  if (stunPort !== false) {
    checkPort('stunPort', stunPort)
  }
  const listen = listenAddresses(host, { port, wsPort, webrtcDirectPort, wssPort: init.tls?.port })
  // said plainly here: the transports would each fail with their own, less clear, error
  if (!isLocalAddress(host)) {
    throw new ListenError(`cannot listen on ${host}: not an address of this machine`)
  }
  if (webrtcDirectPort !== false && webrtcDirectPort !== 0 && !await udpPortFree(host, webrtcDirectPort)) {
    throw new ListenError(udpInUse(host, webrtcDirectPort))
  }
  const peers = (init.peers ?? []).map(String)
  const relay = init.relay ?? {}
  const { services: extraServices, ...libp2pOptions } = init.libp2p ?? {}
  const bootstrapIds = peerIdsOf(peers)
  const certificate = init.webrtcDirectCertificate ?? {}
  const certificateFile = webrtcDirectPort === false ? undefined : certificate.file
  if (certificate.lifespan != null && certificate.renewBefore != null && certificate.renewBefore >= certificate.lifespan) {
    throw new InvalidBootstrapOptionError('webrtcDirectCertificate.renewBefore must be less than its lifespan')
  }
  // a kept certificate's key is encrypted with one derived from the identity, so the identity must exist first
  const privateKey = init.privateKey ?? (certificateFile == null ? undefined : await generateKeyPair('Ed25519'))
  // services handed to the gater and to each other explicitly
  const admissionService = serviceSlot<Admission>('admission')
  const loadService = serviceSlot<LoadMonitorService>('loadMonitor')
  const exchangeService = serviceSlot<PeerExchange>('peerExchange')
  const stunService = serviceSlot<StunServer>('stunServer')
  const mapService = serviceSlot<NetworkMap>('networkMap')
  let node: BootstrapPeer<T> | undefined

  try {
    node = await createLibp2p({
      privateKey,
      ...(certificateFile == null ? {} : { datastore: new CertificateFileDatastore(certificateFile) }),
      addresses: { listen },
      transports: [
        tcp(),
        webSockets(init.tls == null ? {} : { https: { cert: init.tls.cert, key: init.tls.key } }),
        ...(webrtcDirectPort === false ? [] : [webRTCDirect({ certificateLifespan: certificate.lifespan, certificateRenewalThreshold: certificate.renewBefore })]),
        // a hop for mesh circuits between members that share only this peer
        meshCircuitTransport()
      ],
      // other bootstrap peers: dialled at start, tagged so the connection manager keeps them
      peerDiscovery: peers.length === 0 ? [] : [bootstrapDiscovery({ list: peers, timeout: 0, tagName: 'bootstrap-mesh', tagValue: 100 })],
      connectionEncrypters: [noise()],
      streamMuxers: [guardedYamux()],
      connectionManager: {
        maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        // one IP holds at most maxConnectionsPerIp of these, so a single flooder cannot fill them
        maxIncomingPendingConnections: 64,
        // half-open handshakes are dropped after this
        inboundUpgradeTimeout: 5_000
      },
      connectionGater: ipLimitsGater({
        maxConnectionsPerIp: init.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
        isBarred: (peer) => admissionService.getIfCreated()?.isBarred(peer) === true
      }),
      ...(init.metricsRegistry == null ? {} : { metrics: prometheusMetrics({ registry: init.metricsRegistry }) }),
      ...libp2pOptions,
      services: {
        // @libp2p/webrtc keeps its certificate's private key in the keychain, the certificate in the datastore
        ...(certificateFile == null ? {} : { keychain: keychain({ pass: await certificatePass(privateKey) }) }),
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub(gossipsubDefaults(6, { doPX: true })),
        broadcast: broadcast(),
        channels: channels(),
        relay: circuitRelayServer({
          reservations: {
            maxReservations: relay.maxReservations ?? DEFAULT_RELAY_MAX_RESERVATIONS,
            defaultDurationLimit: relay.durationLimit ?? DEFAULT_RELAY_DURATION_LIMIT,
            defaultDataLimit: relay.dataLimit ?? DEFAULT_RELAY_DATA_LIMIT
          }
        }),
        topicRelay: topicRelay({ maxTopics: init.maxTopics ?? DEFAULT_MAX_RELAYED_TOPICS }),
        loadMonitor: loadService.bind(loadMonitor(init.load)),
        // trusts the configured peers and the bootstrap peers they vouch for, nobody else
        peerExchange: exchangeService.bind(peerExchange({ serve: true, bootstrap: true, trusted: peers })),
        // routes hop by hop with the map when a member names only the target
        meshCircuits: meshCircuits({ router: mapRouter(mapService.get) }),
        admission: admissionService.bind(admission({
          load: () => loadService.get().load(),
          exempt: bootstrapIds,
          // a bootstrap peer that joins another (not yet exempt there) answers its challenge
          isBootstrapPeer: (peer) => bootstrapIds.some(p => p.equals(peer)) || exchangeService.get().knownBootstraps().some(p => p.equals(peer))
        })),
        networkMap: mapService.bind(networkMap({ roles: ['bootstrap', 'relay'], ...init.networkMap })),
        ...(stunPort === false ? {} : { stunServer: stunService.bind(stunServer({ host, port: stunPort })) }),
        // tells members the STUN port and hands out TURN credentials (proof-of-work first when loaded)
        iceServers: iceServers({ serve: { stunPort: () => stunService.getIfCreated()?.port, turn: init.turn, load: () => loadService.get().load() } }),
        ...extraServices
      }
    }) as unknown as BootstrapPeer<T>
    const peer = node
    peer.metrics?.registerMetric('membrane_map_nodes', {
      help: 'Nodes in this peer\'s network map',
      calculate: () => peer.services.networkMap.size
    })
    peer.metrics?.registerMetric('membrane_circuits_forwarded_total', {
      help: 'Mesh circuits this peer has forwarded as a hop',
      calculate: () => peer.services.meshCircuits.stats().forwarded
    })
    peer.metrics?.registerMetric('membrane_circuits_open', {
      help: 'Mesh circuits relayed or terminated here now',
      calculate: () => peer.services.meshCircuits.stats().circuits
    })
    peer.metrics?.registerMetric('membrane_map_edges', {
      help: 'Two-sided edges in this peer\'s network map',
      calculate: () => peer.services.networkMap.edges().length
    })
    return peer
  } catch (err) {
    const cause = err as NodeJS.ErrnoException
    if (cause.name === 'StunListenError' && cause.code !== 'EADDRNOTAVAIL') {
      throw new ListenError(cause.message)
    }
    if (cause.code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(String(cause.message))) {
      throw new ListenError(`cannot listen on ${host} port ${port}, ${wsPort}${webrtcDirectPort === false ? '' : ` or UDP ${webrtcDirectPort}`}: address already in use`)
    }
    if (/ICE UDP mux/.test(String(cause.message))) {
      throw new ListenError(udpInUse(host, webrtcDirectPort))
    }
    if (cause.code === 'EADDRNOTAVAIL' || cause.name === 'NoValidAddressesError' || /EADDRNOTAVAIL/.test(String(cause.message))) {
      throw new ListenError(`cannot listen on ${host}: address not available on this machine`)
    }
    throw err
  }
}
