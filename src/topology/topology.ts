import { TypedEventEmitter, serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { isCircuitAddress } from '../circuit/address.js'
import {
  BOOTSTRAP_ROLE, BRIDGES_PER_ROUND, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_COOLDOWN, DEFAULT_DIAL_TIMEOUT,
  DEFAULT_GRACE_PERIOD, DEFAULT_INTERVAL, DEFAULT_JITTER, DEFAULT_MAX_ADDS_PER_ROUND, HEAL_DELAY, SAMPLE_SIZE, TOPOLOGY_TAG, TOPOLOGY_TAG_VALUE
} from './constants.js'
import { LinkAttemptError } from './errors.js'
import type { Topology, TopologyAction, TopologyComponents, TopologyEvents, TopologyInit, TopologyStats } from './index.js'
import type { MeshCircuitsService } from '../circuit/index.js'
import type { MapEdge, NetworkMap } from '../network-map/index.js'
import type { PeerExchange } from '../peer-exchange/index.js'
import type { Connection, Logger, PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** What the policy remembers about one peer */
interface PeerState {
  /** Failed link attempts in a row */
  failures: number
  /** No attempt before this (back-off) */
  retryAt: number
  /** Not re-added before this unless nothing else is left (trimmed or lost) */
  coolUntil: number
  /** When the current link opened */
  linkedAt?: number
}

interface Link {
  key: string
  id: PeerId
  connections: Connection[]
}

interface Candidate {
  key: string
  id: PeerId
  multiaddrs: Multiaddr[]
  distance: number
  degree: number
  cooling: boolean
  random: number
}

/** A link that crosses no relay: TCP, WebSockets, WebRTC(-direct) */
function isDirect (connection: Connection): boolean {
  return connection.limits == null && !connection.remoteAddr.toString().includes('/p2p-circuit') && !isCircuitAddress(connection.remoteAddr)
}

/** Addresses worth a direct dial: no relay, no WebRTC that needs signaling first */
function isDirectAddress (ma: Multiaddr): boolean {
  const s = ma.toString()
  return !s.includes('/p2p-circuit') && !WebRTC.matches(ma) && !isCircuitAddress(ma)
}

/** Breadth-first hop counts from `from` over `graph`, optionally without the edge from–`without` */
function distances (graph: Map<string, Set<string>>, from: string, without?: string): Map<string, number> {
  const dist = new Map<string, number>([[from, 0]])
  const queue = [from]
  for (let i = 0; i < queue.length; i++) {
    const key = queue[i]
    for (const next of graph.get(key) ?? []) {
      if (dist.has(next) || (without != null && key === from && next === without)) {
        continue
      }
      dist.set(next, dist.get(key)! + 1)
      queue.push(next)
    }
  }
  return dist
}

export class DefaultTopology extends TypedEventEmitter<TopologyEvents> implements Topology, Startable {
  readonly minPeers: number
  readonly maxPeers: number
  private readonly components: TopologyComponents
  private readonly log: Logger
  private readonly self: string
  private readonly enabled: boolean
  private readonly interval: number
  private readonly jitter: number
  private readonly dialTimeout: number
  private readonly maxAddsPerRound: number
  private readonly gracePeriod: number
  private readonly cooldown: number
  private readonly backoffBase: number
  private readonly backoffMax: number
  private readonly dropBootstraps: boolean
  private readonly directDial: boolean
  private readonly peers = new Map<string, PeerState>()
  /** Peers tagged in the peer store as kept links */
  private readonly tagged = new Set<string>()
  /** Link attempts in flight, by peer */
  private readonly pending = new Set<string>()
  /** Members with addresses from the peer store, read when the map knows no member (see `sampledPeers`) */
  private sampled: Array<{ key: string, id: PeerId, multiaddrs: Multiaddr[] }> = []
  private readonly counters = { rounds: 0, added: 0, bridged: 0, upgraded: 0, trimmed: 0, bootstrapsDropped: 0, failedAttempts: 0 }
  private map?: NetworkMap
  private circuit?: MeshCircuitsService
  private peerExchange?: PeerExchange
  private timer?: ReturnType<typeof setTimeout>
  private healTimer?: ReturnType<typeof setTimeout>
  private running?: Promise<void>
  private shutdown = new AbortController()
  private started = false

  constructor (components: TopologyComponents, init: TopologyInit & { minPeers: number, maxPeers: number }) {
    super()
    this.components = components
    this.log = components.logger.forComponent('membrane:topology')
    this.self = components.peerId.toString()
    this.minPeers = init.minPeers
    this.maxPeers = init.maxPeers
    this.enabled = init.enabled ?? true
    this.interval = init.interval ?? DEFAULT_INTERVAL
    this.jitter = Math.min(1, Math.max(0, init.jitter ?? DEFAULT_JITTER))
    this.dialTimeout = init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT
    this.maxAddsPerRound = Math.max(1, init.maxAddsPerRound ?? DEFAULT_MAX_ADDS_PER_ROUND)
    this.gracePeriod = init.gracePeriod ?? DEFAULT_GRACE_PERIOD
    this.cooldown = init.cooldown ?? DEFAULT_COOLDOWN
    this.backoffBase = init.backoffBase ?? DEFAULT_BACKOFF_BASE
    this.backoffMax = init.backoffMax ?? DEFAULT_BACKOFF_MAX
    this.dropBootstraps = init.dropBootstraps ?? true
    this.directDial = init.directDial ?? true
    this.onEdgeAdd = this.onEdgeAdd.bind(this)
    this.onEdgeRemove = this.onEdgeRemove.bind(this)
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/topology'
  readonly [serviceCapabilities]: string[] = ['@membrane/topology']
  readonly [serviceDependencies]: string[] = ['@membrane/network-map', '@membrane/circuit']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    this.map = this.components.networkMap
    this.circuit = this.components.circuit
    try {
      this.peerExchange = this.components.peerExchange
    } catch {
      // libp2p's components throw for a service that is not configured: peer exchange is optional
      this.peerExchange = undefined
    }
    this.map.addEventListener('edge:add', this.onEdgeAdd)
    this.map.addEventListener('edge:remove', this.onEdgeRemove)
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.started = true
    this.schedule()
  }

  async stop (): Promise<void> {
    this.started = false
    this.shutdown.abort()
    clearTimeout(this.timer)
    clearTimeout(this.healTimer)
    this.map?.removeEventListener('edge:add', this.onEdgeAdd)
    this.map?.removeEventListener('edge:remove', this.onEdgeRemove)
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    await this.running
    this.peers.clear()
    this.tagged.clear()
    this.pending.clear()
  }

  // --- public API ---

  neighbours (): PeerId[] {
    const bootstraps = this.bootstrapKeys()
    return this.members(this.links(), bootstraps).map(l => l.id)
  }

  needsBootstrap (): boolean {
    // a disabled manager does not hold member links, so bootstrap failover stays on
    return !this.started || !this.enabled || this.neighbours().length < this.minPeers
  }

  async rebalance (): Promise<void> {
    if (this.running == null) {
      this.running = this.round().finally(() => { this.running = undefined })
    }
    await this.running
  }

  stats (): TopologyStats {
    return { degree: this.started ? this.neighbours().length : 0, ...this.counters }
  }

  // --- events ---

  private onEdgeAdd (evt: CustomEvent<MapEdge>): void {
    const other = this.otherEnd(evt.detail)
    if (other != null) {
      this.safeDispatchEvent('peer:join', { detail: { id: other, kind: evt.detail.kind, bootstrap: this.isBootstrap(other) } })
    }
  }

  private onEdgeRemove (evt: CustomEvent<MapEdge>): void {
    const other = this.otherEnd(evt.detail)
    if (other != null) {
      this.safeDispatchEvent('peer:leave', { detail: { id: other, kind: evt.detail.kind, bootstrap: this.isBootstrap(other) } })
    }
    // an edge anywhere may have split the mesh
    this.healSoon()
  }

  private otherEnd (edge: MapEdge): PeerId | undefined {
    if (edge.from.toString() === this.self) { return edge.to }
    if (edge.to.toString() === this.self) { return edge.from }
    return undefined
  }

  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    const state = this.state(evt.detail.remotePeer.toString())
    state.linkedAt ??= Date.now()
  }

  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const peer = evt.detail.remotePeer
    if (this.components.connectionManager.getConnections(peer).some(c => c.status === 'open')) {
      return
    }
    const key = peer.toString()
    const state = this.state(key)
    if (state.linkedAt != null) {
      state.linkedAt = undefined
      state.coolUntil = Date.now() + this.cooldown
    }
    if (this.tagged.delete(key)) {
      this.untag(peer)
    }
    this.healSoon()
  }

  // --- scheduling ---

  private schedule (): void {
    if (!this.started) {
      return
    }
    const delay = this.interval * (1 - this.jitter / 2 + Math.random() * this.jitter)
    this.timer = setTimeout(() => {
      void this.rebalance().catch(err => { this.log.error('topology round failed - %e', err) }).finally(() => { this.schedule() })
    }, delay)
  }

  /** Run a round soon after a loss, before the timer would */
  private healSoon (): void {
    if (!this.started || !this.enabled || this.healTimer != null) {
      return
    }
    this.healTimer = setTimeout(() => {
      this.healTimer = undefined
      void this.rebalance().catch(err => { this.log.error('topology round failed - %e', err) })
    }, HEAL_DELAY * (0.5 + Math.random()))
  }

  // --- the policy ---

  private async round (): Promise<void> {
    if (!this.started || !this.enabled || this.map == null) {
      return
    }
    this.counters.rounds++
    const now = Date.now()
    const bootstraps = this.bootstrapKeys()
    const links = this.links()
    const members = this.members(links, bootstraps)
    this.syncTags(members)
    const graph = this.memberGraph(bootstraps, members)
    const dist = distances(graph, this.self)
    const degree = members.length
    const tasks: Array<Promise<void>> = []
    if (degree < this.minPeers && this.map.nodes().every(n => n.id.toString() === this.self || bootstraps.has(n.id.toString()))) {
      await this.refreshSample()
    }

    // (a) a relayed or circuit member link becomes direct WebRTC, one per round
    // the end with the smaller PeerId upgrades; the other steps in if the link is still relayed three rounds later
    const relayed = members.find(m => !m.connections.some(isDirect) && this.ready(m.key, now) &&
      (this.self < m.key || now - (this.peers.get(m.key)?.linkedAt ?? now) > 3 * this.interval))
    if (relayed != null) {
      tasks.push(this.upgrade(relayed.id))
    }

    // (b) below minPeers: farthest and weakly linked members first; (b') bridge parts reachable only through bootstrap peers
    const candidates = this.candidates(bootstraps, links, dist, now)
    if (degree < this.minPeers) {
      const deficit = Math.min(this.minPeers - degree, this.maxAddsPerRound) - this.pending.size
      for (const c of candidates.slice(0, Math.max(0, deficit))) {
        tasks.push(this.link(c, c.distance === Infinity && degree > 0 ? 'bridge' : 'add'))
      }
      const bootstrapLinked = links.some(l => bootstraps.has(l.key))
      if (degree === 0 && candidates.length === 0 && !bootstrapLinked && this.pending.size === 0) {
        tasks.push(this.rejoin(now))
      }
    } else if (degree < this.maxPeers && this.pending.size === 0) {
      const across = candidates.filter(c => c.distance === Infinity && !c.cooling && c.degree > 0)
      if (across.length > 0 && Math.random() < BRIDGES_PER_ROUND / Math.max(1, dist.size)) {
        tasks.push(this.link(across[0], 'bridge'))
      }
    }

    // (c) above maxPeers: close one link that is not a bridge and not new
    if (degree > this.maxPeers) {
      const victim = this.trimCandidate(members, graph, now)
      if (victim != null) {
        tasks.push(this.close(victim.id, 'trim'))
      }
    }

    // (d) first contact is over once we hold minPeers member links and the mesh is whole without bootstrap peers
    if (this.dropBootstraps && degree >= this.minPeers) {
      const whole = (this.map.nodes()).every(n => bootstraps.has(n.id.toString()) || dist.has(n.id.toString()))
      if (whole) {
        for (const l of links) {
          if (bootstraps.has(l.key) && !this.holdsReservation(l.key)) {
            tasks.push(this.close(l.id, 'drop-bootstrap'))
          }
        }
      }
    }

    // a dial that ignores its signal must not stall the policy: the next round starts on time, the peer stays pending
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      Promise.allSettled(tasks),
      new Promise(resolve => { timer = setTimeout(resolve, this.dialTimeout + 1_000) })
    ])
    clearTimeout(timer)
  }

  /** Open connections by peer */
  private links (): Link[] {
    const byPeer = new Map<string, Link>()
    for (const connection of this.components.connectionManager.getConnections()) {
      if (connection.status !== 'open') { continue }
      const key = connection.remotePeer.toString()
      let link = byPeer.get(key)
      if (link == null) {
        link = { key, id: connection.remotePeer, connections: [] }
        byPeer.set(key, link)
      }
      link.connections.push(connection)
    }
    return [...byPeer.values()]
  }

  /** Links to mesh members: in the map, not bootstrap peers */
  private members (links: Link[], bootstraps: Set<string>): Link[] {
    return links.filter(l => !bootstraps.has(l.key) && this.map?.get(l.id) != null)
  }

  private bootstrapKeys (): Set<string> {
    const keys = new Set<string>()
    for (const n of this.map?.nodes() ?? []) {
      if (n.roles.includes(BOOTSTRAP_ROLE)) { keys.add(n.id.toString()) }
    }
    for (const p of this.peerExchange?.knownBootstraps() ?? []) {
      keys.add(p.toString())
    }
    return keys
  }

  private isBootstrap (peer: PeerId): boolean {
    return this.bootstrapKeys().has(peer.toString())
  }

  /** The map's member-to-member edges, with our own side replaced by our actual links (the map lags) */
  private memberGraph (bootstraps: Set<string>, members: Link[]): Map<string, Set<string>> {
    const graph = new Map<string, Set<string>>()
    const add = (a: string, b: string): void => {
      let set = graph.get(a)
      if (set == null) {
        set = new Set()
        graph.set(a, set)
      }
      set.add(b)
    }
    for (const edge of this.map?.edges() ?? []) {
      const a = edge.from.toString()
      const b = edge.to.toString()
      if (a === this.self || b === this.self || bootstraps.has(a) || bootstraps.has(b)) { continue }
      add(a, b)
      add(b, a)
    }
    for (const m of members) {
      add(this.self, m.key)
      add(m.key, this.self)
    }
    return graph
  }

  /**
   * Members to link to, best first: ones our part of the mesh cannot reach
   * (bridges), then members short of links, then the farthest (shortest-path
   * gain), then the least linked;
   * full members (at maxPeers) and recently lost or trimmed ones last.
   */
  private candidates (bootstraps: Set<string>, links: Link[], dist: Map<string, number>, now: number): Candidate[] {
    const linked = new Set(links.map(l => l.key))
    const list: Candidate[] = []
    for (const node of this.map?.nodes() ?? []) {
      const key = node.id.toString()
      if (key === this.self || linked.has(key) || bootstraps.has(key) || this.pending.has(key) || !this.ready(key, now)) {
        continue
      }
      const degree = (this.map?.neighbours(node.id) ?? []).filter(p => !bootstraps.has(p.toString())).length
      list.push({
        key,
        id: node.id,
        multiaddrs: node.multiaddrs,
        distance: dist.get(key) ?? Infinity,
        degree,
        cooling: (this.peers.get(key)?.coolUntil ?? 0) > now,
        random: Math.random()
      })
    }
    if (list.length === 0 && linked.size <= bootstraps.size) {
      list.push(...this.sampledPeers(bootstraps, linked, now))
    }
    const rank = (c: Candidate): number[] => [
      c.cooling ? 1 : 0,
      c.degree >= this.maxPeers ? 1 : 0,
      // an unreachable node that still has links is a live part of the mesh; one without may be gone
      c.distance === Infinity ? (c.degree > 0 ? 0 : 1) : 2,
      // a member below minPeers gains from the link as much as we do
      c.degree < this.minPeers ? 0 : 1,
      -Math.min(c.distance, 1e6),
      c.degree,
      c.random
    ]
    return list.sort((a, b) => {
      const ra = rank(a)
      const rb = rank(b)
      for (let i = 0; i < ra.length; i++) {
        if (ra[i] !== rb[i]) { return ra[i] - rb[i] }
      }
      return 0
    })
  }

  /**
   * Members a bootstrap peer handed us by peer exchange, when the map knows
   * nobody: the bootstrap peer is no longer linked to the mesh, so its map
   * is empty, but it remembers members it saw.
   */
  private sampledPeers (bootstraps: Set<string>, linked: Set<string>, now: number): Candidate[] {
    const out: Candidate[] = []
    for (const peer of this.sampled) {
      if (bootstraps.has(peer.key) || linked.has(peer.key) || this.pending.has(peer.key) || !this.ready(peer.key, now)) {
        continue
      }
      out.push({ key: peer.key, id: peer.id, multiaddrs: peer.multiaddrs, distance: Infinity, degree: 1, cooling: false, random: Math.random() })
    }
    return out
  }

  private async refreshSample (): Promise<void> {
    const peers = await this.components.peerStore.all({
      filters: [(p) => p.addresses.length > 0 && !p.id.equals(this.components.peerId)],
      limit: SAMPLE_SIZE
    })
    this.sampled = peers.map(p => ({ key: p.id.toString(), id: p.id, multiaddrs: p.addresses.map(a => a.multiaddr) }))
  }

  /** A link that is not a bridge and past its grace period: relayed first, then to the best-linked member */
  private trimCandidate (members: Link[], graph: Map<string, Set<string>>, now: number): Link | undefined {
    const options = members.filter(m => {
      const linkedAt = this.peers.get(m.key)?.linkedAt ?? 0
      if (now - linkedAt < this.gracePeriod) {
        return false
      }
      // a bridge: without this edge the other end is out of reach
      return distances(graph, this.self, m.key).has(m.key)
    })
    const degreeOf = (m: Link): number => graph.get(m.key)?.size ?? 0
    return options.sort((a, b) =>
      (a.connections.some(isDirect) ? 1 : 0) - (b.connections.some(isDirect) ? 1 : 0) ||
      // the other end keeps minPeers: it will not need to replace the link
      (degreeOf(b) > this.minPeers ? 1 : 0) - (degreeOf(a) > this.minPeers ? 1 : 0) ||
      degreeOf(b) - degreeOf(a)
    )[0]
  }

  /** We are dialable through a relay reservation on this peer: dropping it would make us unreachable */
  private holdsReservation (key: string): boolean {
    return this.components.addressManager.getAddresses().some(ma => ma.toString().includes(`/p2p/${key}/p2p-circuit`))
  }

  private ready (key: string, now: number): boolean {
    return (this.peers.get(key)?.retryAt ?? 0) <= now
  }

  private state (key: string): PeerState {
    let state = this.peers.get(key)
    if (state == null) {
      state = { failures: 0, retryAt: 0, coolUntil: 0 }
      this.peers.set(key, state)
    }
    return state
  }

  // --- actions ---

  private async link (c: Candidate, action: TopologyAction): Promise<void> {
    await this.attempt(c.id, action, async (signal) => {
      const direct = c.multiaddrs.filter(ma => isDirectAddress(ma) && this.components.transportManager.dialTransportForMultiaddr(ma) != null)
      if (this.directDial && direct.length > 0) {
        try {
          await this.components.connectionManager.openConnection(direct.map(ma => ma.encapsulate(`/p2p/${c.key}`)), { signal })
          return
        } catch (err) {
          signal.throwIfAborted()
          this.log('direct dial to %p failed, trying through the mesh - %e', c.id, err)
        }
      }
      if (this.map?.path(c.id) == null) {
        throw new LinkAttemptError(`no dialable address and no route to ${c.key}`)
      }
      await this.circuit!.connect(c.id, { signal })
    })
    if (action === 'bridge') { this.counters.bridged++ } else { this.counters.added++ }
  }

  private async upgrade (peer: PeerId): Promise<void> {
    await this.attempt(peer, 'upgrade', async (signal) => {
      const result = await this.circuit!.connect(peer, { signal, relay: false })
      // the relayed links are spare now; their relays' budgets are freed
      for (const connection of this.components.connectionManager.getConnections(peer)) {
        if (connection !== result.connection && !isDirect(connection)) {
          await connection.close({ signal }).catch(err => { connection.abort(err) })
        }
      }
    })
    this.counters.upgraded++
  }

  /** No member link and nobody to ask: first contact again */
  private async rejoin (now: number): Promise<void> {
    const known = [...this.bootstrapKeys()].filter(k => this.ready(k, now))
    const peer = this.peerExchange?.knownBootstraps().find(p => known.includes(p.toString()))
    if (peer == null) {
      return
    }
    await this.attempt(peer, 'rejoin', async (signal) => {
      await this.components.connectionManager.openConnection(peer, { signal })
    })
  }

  /** Run a link attempt with a deadline; failures back the peer off exponentially */
  private async attempt (peer: PeerId, action: TopologyAction, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const key = peer.toString()
    const state = this.state(key)
    this.pending.add(key)
    const signal = AbortSignal.any([AbortSignal.timeout(this.dialTimeout), this.shutdown.signal])
    try {
      // some dial stages do not watch the signal: the deadline holds regardless, so the peer never stays pending
      await Promise.race([fn(signal), new Promise<never>((resolve, reject) => {
        signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
      })])
      state.failures = 0
      state.retryAt = 0
      this.log('%s %p', action, peer)
      this.safeDispatchEvent('action', { detail: { action, peer } })
    } catch (err) {
      state.failures++
      state.retryAt = Date.now() + Math.min(this.backoffMax, this.backoffBase * 2 ** (state.failures - 1))
      this.counters.failedAttempts++
      const error = new LinkAttemptError(`${action} ${key} failed: ${(err as Error).message}`, { cause: err })
      this.log('%s %p failed (%d in a row) - %e', action, peer, state.failures, err)
      this.safeDispatchEvent('action', { detail: { action, peer, error } })
      throw error
    } finally {
      this.pending.delete(key)
    }
  }

  private async close (peer: PeerId, action: 'trim' | 'drop-bootstrap'): Promise<void> {
    const key = peer.toString()
    this.state(key).coolUntil = Date.now() + this.cooldown
    try {
      await this.components.connectionManager.closeConnections(peer, { signal: AbortSignal.timeout(this.dialTimeout) })
    } catch (err) {
      this.log('closing %p failed - %e', peer, err)
    }
    if (action === 'trim') { this.counters.trimmed++ } else { this.counters.bootstrapsDropped++ }
    this.log('%s %p', action, peer)
    this.safeDispatchEvent('action', { detail: { action, peer } })
  }

  // --- peer store tags ---

  /** Tag member links so libp2p's connection manager prunes other connections first */
  private syncTags (members: Link[]): void {
    for (const m of members) {
      if (!this.tagged.has(m.key)) {
        this.tagged.add(m.key)
        this.components.peerStore.merge(m.id, { tags: { [TOPOLOGY_TAG]: { value: TOPOLOGY_TAG_VALUE } } })
          .catch(err => { this.log('could not tag %p - %e', m.id, err) })
      }
    }
  }

  private untag (peer: PeerId): void {
    this.components.peerStore.merge(peer, { tags: { [TOPOLOGY_TAG]: undefined } })
      .catch(err => { this.log('could not untag %p - %e', peer, err) })
  }
}
