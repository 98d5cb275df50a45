import { KEEP_ALIVE, serviceCapabilities } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { pbStream } from '@libp2p/utils'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { BOOTSTRAP_TAG, DEFAULT_SAMPLE_SIZE, MAX_ADDRS_PER_PEER, MAX_KNOWN_BOOTSTRAPS, MAX_MESSAGE_SIZE, MAX_PEER_ID_SIZE, MAX_PEERS, MIN_REQUEST_INTERVAL, PROTOCOL, REFRESH_INTERVAL, DEFAULT_EXCHANGE_TIMEOUT } from './constants.js'
import { SeenCache } from '../utils/seen-cache.js'
import { InvalidPeerExchangeError, UntrustedPeerError } from './errors.js'
import { PeerExchangeResponse } from './pb/px.js'
import { deadlineSignal, operationDeadline, timeoutSignal } from '../utils/timeout-signal.js'
import type { ExchangedPeer, PeerExchange, PeerExchangeComponents, PeerExchangeInit, PeerExchangeStats } from './index.js'
import type { PeerInfo } from './pb/px.js'
import type { Connection, IdentifyResult, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The PeerId a configured entry names: a bare PeerId string or the last `/p2p` of a multiaddr; undefined when malformed */
function configuredPeer (entry: string | Multiaddr): PeerId | undefined {
  try {
    const text = String(entry)
    if (!text.startsWith('/')) {
      return peerIdFromString(text)
    }
    const id = multiaddr(text).getComponents().findLast(c => c.code === CODE_P2P)?.value
    return id == null ? undefined : peerIdFromString(id)
  } catch {
    return undefined
  }
}

function shuffle <T> (items: T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

export class DefaultPeerExchange implements PeerExchange {
  private readonly components: PeerExchangeComponents
  private readonly log: Logger
  private readonly serve: boolean
  private readonly isBootstrap: boolean
  private readonly sampleSize: number
  /** Configured bootstrap peers: trusted for good, never evicted */
  private readonly configured = new Map<string, PeerId>()
  /** Bootstrap peers learnt from trusted ones, most recently seen last */
  private readonly bootstraps = new Map<string, PeerId>()
  private readonly counters = { exchanges: 0, untrustedIgnored: 0 }
  /** Peers that asked within the last MIN_REQUEST_INTERVAL */
  private readonly recentRequesters = new SeenCache(10_000, MIN_REQUEST_INTERVAL)
  private shutdownController = new AbortController()
  private refreshTimer?: ReturnType<typeof setInterval>
  private readonly refreshInterval: number
  private started = false

  constructor (components: PeerExchangeComponents, init: PeerExchangeInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:peer-exchange')
    this.serve = init.serve ?? false
    this.isBootstrap = init.bootstrap ?? false
    this.sampleSize = init.sampleSize ?? DEFAULT_SAMPLE_SIZE
    for (const entry of init.trusted ?? []) {
      const peer = configuredPeer(entry)
      if (peer == null) {
        this.log('ignoring malformed trusted bootstrap entry %s', String(entry))
      } else if (!peer.equals(components.peerId)) {
        this.configured.set(peer.toString(), peer)
      }
    }
    this.refreshInterval = init.refreshInterval ?? REFRESH_INTERVAL
    this.onIdentify = this.onIdentify.bind(this)
    this.handle = this.handle.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/peer-exchange'
  readonly [serviceCapabilities]: string[] = ['@membrane/peer-exchange']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    if (this.serve) {
      await this.components.registrar.handle(PROTOCOL, this.handle, {
        maxInboundStreams: 2,
        maxOutboundStreams: 2,
        runOnLimitedConnection: true
      })
    }
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.refreshTimer = setInterval(() => { this.refresh() }, this.refreshInterval)
    this.started = true
  }

  async stop (): Promise<void> {
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    clearInterval(this.refreshTimer)
    this.shutdownController.abort()
    if (this.serve) {
      await this.components.registrar.unhandle(PROTOCOL)
    }
    this.started = false
  }

  /** Ask one connected bootstrap peer again */
  private refresh (): void {
    const connected = shuffle(this.knownBootstraps()).find(p => this.components.connectionManager.getConnections(p).length > 0)
    if (connected == null) {
      return
    }
    this.exchange(connected).then(async (peers) => {
      if (this.isBootstrap) {
        await this.meshWith(connected, peers)
      }
    }).catch((err: Error) => {
      this.log('peer exchange refresh with %p failed - %e', connected, err)
    })
  }

  knownBootstraps (): PeerId[] {
    return [...this.configured.values(), ...[...this.bootstraps.values()].filter(p => !this.configured.has(p.toString()))]
  }

  isTrusted (peer: PeerId): boolean {
    const key = peer.toString()
    return this.configured.has(key) || this.bootstraps.has(key)
  }

  stats (): PeerExchangeStats {
    return { ...this.counters }
  }

  /** A bootstrap peer a trusted peer handed us */
  private remember (peer: PeerId): void {
    const key = peer.toString()
    if (peer.equals(this.components.peerId) || this.configured.has(key)) {
      return
    }
    this.bootstraps.delete(key)
    this.bootstraps.set(key, peer)
    if (this.bootstraps.size > MAX_KNOWN_BOOTSTRAPS) {
      const oldest = this.bootstraps.keys().next().value
      if (oldest != null) { this.bootstraps.delete(oldest) }
    }
  }

  /** A trusted bootstrap peer connected: ask it. Serving peer exchange alone makes nobody a bootstrap peer. */
  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    const { peerId, protocols } = evt.detail
    if (!protocols.includes(PROTOCOL)) {
      return
    }
    if (!this.isTrusted(peerId)) {
      this.counters.untrustedIgnored++
      this.log('%p serves peer exchange but no configured bootstrap peer vouches for it: ignored', peerId)
      return
    }
    this.exchange(peerId).then(async (peers) => {
      if (this.isBootstrap) {
        await this.meshWith(peerId, peers)
      }
    }).catch((err: Error) => {
      this.log('peer exchange with %p failed - %e', peerId, err)
    })
  }

  /** Bootstrap peers keep every other bootstrap peer they learn of connected */
  private async meshWith (from: PeerId, peers: ExchangedPeer[]): Promise<void> {
    for (const peer of [{ id: from, addrs: [], bootstrap: true }, ...peers]) {
      if (!peer.bootstrap || peer.id.equals(this.components.peerId)) {
        continue
      }
      await this.components.peerStore.merge(peer.id, { tags: { [KEEP_ALIVE]: { value: 1 }, [BOOTSTRAP_TAG]: { value: 100 } } })
      if (this.components.connectionManager.getConnections(peer.id).length === 0) {
        this.components.connectionManager.openConnection(peer.id, { signal: timeoutSignal(DEFAULT_EXCHANGE_TIMEOUT) }).catch((err: Error) => {
          this.log('could not dial bootstrap peer %p - %e', peer.id, err)
        })
      }
    }
  }

  async exchange (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<ExchangedPeer[]> {
    if (!this.isTrusted(peer)) {
      throw new UntrustedPeerError(`${peer} is not a trusted bootstrap peer`)
    }
    const deadline = operationDeadline(DEFAULT_EXCHANGE_TIMEOUT, this.shutdownController.signal, options.signal)
    const signal = deadline.signal
    let response: PeerExchangeResponse
    try {
      const stream = await this.components.connectionManager.openStream(peer, PROTOCOL, { signal, runOnLimitedConnection: true })
      try {
        const pb = pbStream(stream, { maxDataLength: MAX_MESSAGE_SIZE })
        response = await pb.read(PeerExchangeResponse, { signal, limits: { peers: MAX_PEERS, peers$: { addrs: MAX_ADDRS_PER_PEER } } })
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    } finally {
      deadline.clear()
    }
    const peers = response.peers.map(info => this.parse(info))
    for (const p of peers) {
      if (p.id.equals(this.components.peerId)) {
        continue
      }
      await this.components.peerStore.merge(p.id, {
        multiaddrs: p.addrs,
        ...(p.bootstrap ? { tags: { [BOOTSTRAP_TAG]: { value: 50 } } } : {})
      })
      if (p.bootstrap) {
        this.remember(p.id)
      }
    }
    this.counters.exchanges++
    this.log('learned %d peers (%d bootstrap) from %p', peers.length, peers.filter(p => p.bootstrap).length, peer)
    return peers
  }

  private parse (info: PeerInfo): ExchangedPeer {
    if (info.id.byteLength > MAX_PEER_ID_SIZE) {
      throw new InvalidPeerExchangeError(`peer id of ${info.id.byteLength} bytes in exchange (at most ${MAX_PEER_ID_SIZE})`)
    }
    try {
      return {
        id: peerIdFromMultihash(Digest.decode(info.id)),
        addrs: info.addrs.map(a => multiaddr(a)),
        bootstrap: info.bootstrap
      }
    } catch (err) {
      throw new InvalidPeerExchangeError(`malformed peer in exchange: ${(err as Error).message}`)
    }
  }

  /** Server side: answer with every known bootstrap peer and a random sample of members */
  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const requester = connection.remotePeer
    const key = requester.toString()
    if (this.recentRequesters.has(key)) {
      this.log('%p asked again within %d ms', requester, MIN_REQUEST_INTERVAL)
      stream.abort(new InvalidPeerExchangeError('peer exchange requested too often'))
      return
    }
    this.recentRequesters.add(key)
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(DEFAULT_EXCHANGE_TIMEOUT, this.shutdownController.signal)
    const signal = deadline.signal
    try {
      const bootstraps = this.knownBootstraps().filter(p => !p.equals(requester))
      const members = shuffle(this.components.connectionManager.getConnections()
        .map(c => c.remotePeer)
        .filter(p => !p.equals(requester) && !this.isTrusted(p)))
      const unique = new Map<string, PeerId>()
      for (const p of members) { unique.set(p.toString(), p) }
      if (unique.size < this.sampleSize) {
        // members that left us (the topology manager drops bootstrap peers) are still the way into the mesh
        const seen = await this.components.peerStore.all({
          filters: [(p) => p.addresses.length > 0 && !p.id.equals(requester) && !p.id.equals(this.components.peerId) && !this.isTrusted(p.id)],
          limit: this.sampleSize * 4
        })
        for (const p of shuffle(seen.map(p => p.id))) {
          if (unique.size >= this.sampleSize) { break }
          unique.set(p.toString(), p)
        }
      }
      const chosen = [...bootstraps.slice(-MAX_PEERS), ...[...unique.values()].slice(0, this.sampleSize)].slice(0, MAX_PEERS)
      const peers: PeerInfo[] = []
      for (const p of chosen) {
        const addrs = await this.components.peerStore.get(p).then(info => info.addresses.map(a => a.multiaddr), () => [])
        peers.push({ id: p.toMultihash().bytes, addrs: addrs.slice(0, MAX_ADDRS_PER_PEER).map(a => a.bytes), bootstrap: this.isTrusted(p) })
      }
      await pbStream(stream, { maxDataLength: MAX_MESSAGE_SIZE }).write({ peers }, PeerExchangeResponse, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    } finally {
      deadline.clear()
    }
  }
}
