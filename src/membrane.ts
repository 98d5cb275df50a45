import { noise } from '@libp2p/noise'
import { guardedYamux } from './utils/yamux-guard.js'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { linkHandover } from './link-handover/index.js'
import { serviceSlot } from './utils/service-slot.js'
import { mapRouter } from './circuit/map-router.js'
import type { LinkHandoverService } from './link-handover/index.js'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { admission } from './admission/index.js'
import { broadcast } from './broadcast/index.js'
import { peerExchange } from './peer-exchange/index.js'
import { directMessages } from './direct-messages/index.js'
import type { DirectMessages, DirectMessagesInit, LinkMaker } from './direct-messages/index.js'
import { requests } from './requests/index.js'
import type { Requests, RequestsInit } from './requests/index.js'
import { transfers } from './transfers/index.js'
import type { Transfers, TransfersInit } from './transfers/index.js'
import type { PeerExchange } from './peer-exchange/index.js'
import type { Admission } from './admission/index.js'
import { channels } from './channels/index.js'
import type { Broadcast, BroadcastInit } from './broadcast/index.js'
import type { Channels, ChannelsInit } from './channels/index.js'
import { bootstrapAddressSorter, firstContact } from './first-contact/index.js'
import type { FirstContact, FirstContactInit } from './first-contact/index.js'
import { networkMap } from './network-map/index.js'
import type { NetworkMap, NetworkMapInit } from './network-map/index.js'
import { meshCircuits, meshCircuitTransport } from './circuit/index.js'
import type { MeshCircuitsInit, MeshCircuitsService, MeshCircuitTransportInit } from './circuit/index.js'
import { topology } from './topology/index.js'
import type { Topology, TopologyInit } from './topology/index.js'
import type { Preset } from './presets/index.js'
import { liveLinks } from './webrtc/live-links.js'
import { keepAlive } from './keep-alive/index.js'
import type { KeepAlive, KeepAliveInit } from './keep-alive/index.js'
import type { LiveLinks, LiveLinksInit } from './webrtc/live-links.js'
import { iceConfiguration, iceServers } from './turn/index.js'
import type { IceServers, IceServersInit } from './turn/index.js'
import { PEER_SCORE_PARAMS } from './utils/gossip-score.js'
import type { GossipSub, GossipsubOpts } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { PrivateKey, ServiceMap } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { WebRTCTransportInit } from '@libp2p/webrtc'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, Libp2pOptions } from 'libp2p'

/** The default upper bound on a member's mesh degree, as in Easypeers */
export const DEFAULT_MAX_PEERS = 6

/** The services every Membrane node carries */
export interface MembraneServices extends ServiceMap {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  broadcast: Broadcast
  admission: Admission
  peerExchange: PeerExchange
  directMessages: DirectMessages
  /** Request/response to a peer by PeerId (`/membrane/request/1.0.0`) */
  requests: Requests
  /** Transfers of any size, streamed, resumable and verified (`/membrane/transfer/1.0.0`) */
  transfers: Transfers
  channels: Channels
  networkMap: NetworkMap
  meshCircuits: MeshCircuitsService
  /** Owns (re-)contact: dials bootstrap peers with back-off whenever this node is detached; `bootstrap:error` events say why it fails */
  firstContact: FirstContact
  topology: Topology
  /** Aborts member links on which nothing arrived for a few seconds (a neighbour that went silent) */
  keepAlive: KeepAlive
  /** STUN and TURN servers announced by the bootstrap peers this node reached, added to its ICE configuration */
  iceServers: IceServers
  /** Aborts WebRTC connections whose peer connection is dead or does not connect in time */
  liveLinks: LiveLinks
  /** Reopens topology streams (gossipsub, the map) on the link that remains when another link to the peer closes */
  linkHandover: LinkHandoverService
}

/** A started libp2p node with Membrane's services */
export type Membrane<T extends ServiceMap = ServiceMap> = Libp2p<MembraneServices & T>

export interface MembraneOptions<T extends ServiceMap = ServiceMap> {
  /**
   * Multiaddrs of bootstrap peers (first contact), each ending in `/p2p/<peer id>`
   *
   * @default []
   */
  bootstrap?: Array<string | Multiaddr>

  /**
   * The node's identity. Pass a stored key to keep the same PeerId across runs.
   *
   * @default a new Ed25519 key
   */
  privateKey?: PrivateKey

  /**
   * Addresses to listen on
   *
   * @default ['/p2p-circuit', '/webrtc'] - reachable through relay reservations on bootstrap peers, upgraded to direct WebRTC
   */
  listen?: string[]

  /**
   * Topics to subscribe to at start; messages arrive as `message` events on
   * `node.services.broadcast`
   *
   * @default []
   */
  topics?: string[]

  /**
   * The most mesh peers this node keeps per topic (gossipsub `Dhi`); the
   * target degree is `min(6, maxPeers)`
   *
   * @default 6
   */
  maxPeers?: number

  /**
   * The topology manager adds member links while this node has fewer than
   * this (and trims above `maxPeers`)
   *
   * @default min(3, maxPeers)
   */
  minPeers?: number

  /**
   * Options for first contact and re-contact (back-off, dial and protocol
   * deadlines); the addresses are `bootstrap` above
   *
   * @default {}
   */
  firstContact?: Omit<FirstContactInit, 'bootstrap'>

  /**
   * Options for the topology manager (round interval, back-off…);
   * `minPeers`/`maxPeers` above take precedence. The manager runs by
   * default; `{ enabled: false }` opts out (the node then keeps whatever links
   * it is given and stays on its bootstrap peers).
   *
   * @default {}
   */
  topology?: TopologyInit

  /**
   * In a browser page: stop the node (which sends the map's signed goodbye to
   * every neighbour, so the tab leaves every map at once) on `pagehide`, and
   * start it again when the page comes back from the back/forward cache
   *
   * @default true
   */
  leaveOnPagehide?: boolean

  /**
   * Allow dials to loopback, private-range and plain `ws://` addresses. The
   * browser's default connection gater refuses them, which is right for a
   * deployed dapp but blocks a local development mesh. Node allows them anyway.
   *
   * @default false
   */
  allowLocalDial?: boolean

  /**
   * Options for the WebRTC transport, e.g. `{ rtcConfiguration: { iceServers: [] } }`
   *
   * @default stock @libp2p/webrtc defaults
   */
  webrtc?: WebRTCTransportInit

  /**
   * How long a WebRTC connection may stay open before its peer connection is
   * connected (`peerConnectionTimeout`)
   *
   * @default {}
   */
  liveLinks?: LiveLinksInit

  /**
   * Failure detection on member links: each end beats every `beatInterval`,
   * and a link silent for `silenceTimeout` is aborted
   *
   * @default {}
   */
  keepAlive?: KeepAliveInit

  /**
   * Asking reached bootstrap peers for their STUN (and TURN) servers, which
   * are added after `webrtc.rtcConfiguration`'s own; `{ request: false }`
   * turns it off
   *
   * @default {}
   */
  iceServers?: IceServersInit

  /**
   * Options for the broadcast service
   *
   * @default {}
   */
  broadcast?: BroadcastInit

  /**
   * Options for the typed channels service
   *
   * @default {}
   */
  channels?: ChannelsInit

  /**
   * Options for direct messages (`maxMessageSize`, `timeout`, `rateLimit`…)
   *
   * @default {}
   */
  directMessages?: DirectMessagesInit

  /**
   * Options for request/response (`maxRequestSize`, `maxResponseSize`, `requestTimeout`…)
   *
   * @default {}
   */
  requests?: RequestsInit

  /**
   * Options for transfers (`windowSize`, `idleTimeout`, `resumeTimeout`…)
   *
   * @default {}
   */
  transfers?: TransfersInit

  /**
   * Options for the network map service (alias, roles, record TTL, limits)
   *
   * @default {}
   */
  networkMap?: NetworkMapInit

  /**
   * Mesh circuit limits (per hop) and `connect()` settings
   *
   * @default {}
   */
  meshCircuits?: MeshCircuitTransportInit & MeshCircuitsInit

  /**
   * Options merged over Membrane's gossipsub defaults (StrictSign, strict validation)
   *
   * @default {}
   */
  gossipsub?: Partial<GossipsubOpts>

  /**
   * Any libp2p option, applied over Membrane's. `services` are added to
   * Membrane's; `transports`, `peerDiscovery` and the rest replace them.
   *
   * @default {}
   */
  libp2p?: Libp2pOptions<T>
}

/** Gossipsub settings shared by members and bootstrap peers */
export function gossipsubDefaults (maxPeers: number, overrides: Partial<GossipsubOpts> = {}): Partial<GossipsubOpts> {
  if (!Number.isInteger(maxPeers) || maxPeers < 1) {
    throw new RangeError(`maxPeers must be a positive integer, got ${maxPeers}`)
  }
  const D = Math.min(DEFAULT_MAX_PEERS, maxPeers)
  return {
    globalSignaturePolicy: 'StrictSign',
    emitSelf: false,
    D,
    Dlo: Math.max(1, Math.min(D, Math.ceil(D * 2 / 3))),
    Dhi: Math.max(D, maxPeers),
    // one RPC may carry several messages; each message's payload is checked by the broadcast validator
    maxInboundDataLength: 1024 * 1024,
    ...overrides,
    scoreParams: { ...PEER_SCORE_PARAMS, ...overrides.scoreParams }
  }
}

/**
 * Create and start a Membrane node with the given runtime preset. Used by the
 * Node and browser entry points; call `createMembrane()` instead.
 */
export async function createMembraneWithPreset <T extends ServiceMap = ServiceMap> (preset: Preset, options: MembraneOptions<T> = {}): Promise<Membrane<T>> {
  // renamed to the service's factory name (docs/STYLE.md); silently ignored, it would leave every circuit limit at its default
  if ('circuit' in options) {
    throw new TypeError('the `circuit` option is now `meshCircuits` (the service is `node.services.meshCircuits`)')
  }
  const maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS
  const bootstrapList = (options.bootstrap ?? []).map(String)
  // admission answers challenges from these (and from bootstrap peers learnt from them) only
  const configuredBootstraps = new Set(bootstrapList.flatMap(a => {
    try { return multiaddr(a).getComponents().filter(c => c.name === 'p2p').map(c => c.value ?? '') } catch { return [] }
  }))
  const { services: extraServices, ...libp2pOptions } = options.libp2p ?? {}

  // read for every new peer connection: the app's ICE servers, then those the reached bootstrap peers announced
  const webrtcOptions: WebRTCTransportInit = {
    ...options.webrtc,
    rtcConfiguration: iceConfiguration(options.webrtc?.rtcConfiguration, () => iceService.getIfCreated()?.servers() ?? [], preset.name)
  }
  // WebRTC race guards on this runtime's RTCPeerConnection class (process-wide, idempotent)
  preset.installGuards()
  const iceService = serviceSlot<IceServers>('iceServers')
  const identifyService = serviceSlot<Identify>('identify')
  const mapService = serviceSlot<NetworkMap>('networkMap')
  const circuitService = serviceSlot<MeshCircuitsService>('meshCircuits')
  const exchangeService = serviceSlot<PeerExchange>('peerExchange')
  // a peer with no link is reached through the circuit service's link(): WebRTC over the
  // mesh, else an end-to-end encrypted circuit, else stock relay→WebRTC
  const makeLink: LinkMaker = async (peer, { signal }) => circuitService.get().link(peer, { signal })
  const node = await createLibp2p({
    privateKey: options.privateKey,
    addresses: {
      listen: options.listen ?? preset.listen
    },
    transports: [...preset.transports({ webrtc: webrtcOptions }), meshCircuitTransport(options.meshCircuits)],
    connectionEncrypters: [noise()],
    streamMuxers: [guardedYamux()],
    ...(options.allowLocalDial === true ? { connectionGater: { denyDialMultiaddr: () => false } } : {}),
    ...libp2pOptions,
    connectionManager: {
      // a dial to a bootstrap peer by PeerId tries the configured addresses (and transports) first, not WebRTC-direct
      addressSorter: bootstrapAddressSorter(bootstrapList),
      ...libp2pOptions.connectionManager
    },
    services: {
      identify: identifyService.bind(identify()),
      ping: ping(),
      pubsub: gossipsub(gossipsubDefaults(maxPeers, options.gossipsub)),
      broadcast: broadcast(options.broadcast),
      // answers a loaded bootstrap peer's proof-of-work challenge, and no other peer's
      admission: admission({
        isBootstrapPeer: (peer) => configuredBootstraps.has(peer.toString()) || exchangeService.get().knownBootstraps().some(p => p.equals(peer))
      }),
      // learns other bootstrap peers from the configured ones (and only from them)
      peerExchange: exchangeService.bind(peerExchange({ trusted: bootstrapList })),
      directMessages: directMessages({
        makeLink,
        ...options.directMessages
      }),
      requests: requests({ makeLink, ...options.requests }),
      transfers: transfers({ makeLink, ...options.transfers }),
      channels: channels(options.channels),
      networkMap: mapService.bind(networkMap(options.networkMap)),
      // the network map routes circuits and knows the relay addresses members announce
      meshCircuits: circuitService.bind(meshCircuits({ router: mapRouter(mapService.get), ...options.meshCircuits })),
      // the one owner of (re-)contact: dials bootstrap peers whenever this node holds neither a bootstrap nor a member link;
      // malformed addresses are reported as bootstrap:error events, not thrown here
      firstContact: firstContact({ ...options.firstContact, bootstrap: bootstrapList }),
      topology: topology({ ...options.topology, maxPeers, ...(options.minPeers != null ? { minPeers: options.minPeers } : {}) }),
      liveLinks: liveLinks(options.liveLinks),
      // a neighbour that goes silent (killed, frozen, network gone) is lost within about 4 s, not the connection monitor's 10-20 s
      keepAlive: keepAlive(options.keepAlive),
      // a retired circuit's gossipsub and map streams reopen on the WebRTC link that replaced it
      linkHandover: linkHandover({ identify: async (connection, opts) => identifyService.get().identify(connection, opts) }),
      iceServers: iceService.bind(iceServers(options.iceServers)),
      ...extraServices
    }
  }) as unknown as Membrane<T>

  for (const topic of options.topics ?? []) {
    node.services.broadcast.subscribe(topic)
  }
  if (options.leaveOnPagehide !== false) {
    leaveOnPagehide(node)
  }

  return node
}

interface PageEvents {
  addEventListener(type: 'pagehide' | 'pageshow', listener: (evt: { persisted?: boolean }) => void): void
}

/** A closed, reloaded or navigated-away tab says goodbye instead of going silent (a no-op outside a page) */
function leaveOnPagehide (node: Libp2p): void {
  const page = globalThis as unknown as Partial<PageEvents> & { document?: unknown }
  if (typeof page.addEventListener !== 'function' || page.document == null) {
    return
  }
  page.addEventListener('pagehide', () => {
    // stop() runs the network map's beforeStop: the goodbye record goes out while the links are still open
    Promise.resolve(node.stop()).catch(() => {})
  })
  page.addEventListener('pageshow', (evt) => {
    if (evt.persisted === true && node.status === 'stopped') {
      Promise.resolve(node.start()).catch(() => {})
    }
  })
}
