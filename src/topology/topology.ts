import { TypedEventEmitter, serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { isDialableDirectAddress, isDirectLink, relayOf } from '../utils/connections.js'
import {
  BOOTSTRAP_ROLE, BRIDGES_PER_ROUND, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_COOLDOWN, DEFAULT_DIAL_TIMEOUT,
  DEFAULT_GRACE_PERIOD, DEFAULT_INTERVAL, DEFAULT_JITTER, DEFAULT_MAX_ADDS_PER_ROUND, HEAL_DELAY, SAMPLE_SIZE, TOPOLOGY_TAG, TOPOLOGY_TAG_VALUE
} from './constants.js'
import { LinkAttemptError } from './errors.js'
import { addPolicy, distances, leaveBootstrapPolicy, memberGraph, trimPolicy, upgradePolicy } from './policies/index.js'
import { deadlineSignal, timeoutSignal } from '../utils/timeout-signal.js'
import type { Candidate, LinkView, RoundView } from './policies/index.js'
import type { Topology, TopologyAction, TopologyComponents, TopologyEvents, TopologyInit, TopologyStats } from './index.js'
import type { MapEdge, MapNode } from '../network-map/index.js'
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
  private timer?: ReturnType<typeof setTimeout>
  private healTimer?: ReturnType<typeof setTimeout>
  private running?: Promise<void>
  private shutdownController = new AbortController()
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
  readonly [serviceDependencies]: string[] = ['@membrane/network-map', '@membrane/circuit', '@membrane/peer-exchange']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    this.components.networkMap.addEventListener('edge:add', this.onEdgeAdd)
    this.components.networkMap.addEventListener('edge:remove', this.onEdgeRemove)
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.started = true
    this.schedule()
  }

  async stop (): Promise<void> {
    this.started = false
    this.shutdownController.abort()
    clearTimeout(this.timer)
    clearTimeout(this.healTimer)
    this.components.networkMap.removeEventListener('edge:add', this.onEdgeAdd)
    this.components.networkMap.removeEventListener('edge:remove', this.onEdgeRemove)
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
    // a disabled manager makes no member links: the node stays on bootstrap peers
    return !this.started || !this.enabled || this.neighbours().length === 0
  }

  linking (): boolean {
    if (!this.started || !this.enabled) {
      return false
    }
    if (this.pending.size > 0) {
      return true
    }
    // the map still names a member the next round may dial
    const bootstraps = this.bootstrapKeys()
    const now = Date.now()
    return this.components.networkMap.nodes().some(n => {
      const key = n.id.toString()
      return key !== this.self && !bootstraps.has(key) && this.ready(key, now)
    })
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

  /** One round: take a snapshot, ask each policy, carry out what they decide */
  private async round (): Promise<void> {
    if (!this.started || !this.enabled) {
      return
    }
    this.counters.rounds++
    let view = this.view()
    if (view.members.length < this.minPeers && this.components.networkMap.nodes().every(n => n.id.toString() === this.self || view.bootstraps.has(n.id.toString()))) {
      await this.refreshSample()
      view = this.view()
    }
    const tasks: Array<Promise<void>> = []

    const relayed = upgradePolicy(view, { interval: this.interval, ready: (key) => this.ready(key, view.now) })
    if (relayed != null) {
      tasks.push(this.upgrade(relayed.id))
    }

    for (const { candidate, action } of addPolicy(view, { maxAddsPerRound: this.maxAddsPerRound, bridgesPerRound: BRIDGES_PER_ROUND, random: Math.random })) {
      tasks.push(this.link(candidate, action))
    }

    const victim = trimPolicy(view, { gracePeriod: this.gracePeriod })
    if (victim != null) {
      tasks.push(this.close(victim.id, 'trim'))
    }

    if (this.dropBootstraps) {
      for (const link of leaveBootstrapPolicy(view, { holdsReservation: (key) => this.holdsReservation(key) })) {
        tasks.push(this.close(link.id, 'drop-bootstrap'))
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

  /** The snapshot the policies decide on */
  private view (): RoundView {
    const now = Date.now()
    const bootstraps = this.bootstrapKeys()
    const links = this.links()
    const members = this.members(links, bootstraps)
    this.syncTags(members)
    const edges = this.components.networkMap.edges().map((e): [string, string] => [e.from.toString(), e.to.toString()])
    const graph = memberGraph(this.self, edges, bootstraps, members.map(m => m.key))
    const dist = distances(graph, this.self)
    return {
      self: this.self,
      now,
      minPeers: this.minPeers,
      maxPeers: this.maxPeers,
      links,
      members,
      bootstraps,
      graph,
      distances: dist,
      candidates: this.candidates(bootstraps, links, dist, now),
      mapNodes: this.components.networkMap.nodes().map(n => n.id.toString()),
      pending: this.pending.size
    }
  }

  /** Open links by peer */
  private links (): LinkView[] {
    const byPeer = new Map<string, { id: PeerId, connections: Connection[] }>()
    for (const connection of this.components.connectionManager.getConnections()) {
      if (connection.status !== 'open') { continue }
      const key = connection.remotePeer.toString()
      let link = byPeer.get(key)
      if (link == null) {
        link = { id: connection.remotePeer, connections: [] }
        byPeer.set(key, link)
      }
      link.connections.push(connection)
    }
    return [...byPeer].map(([key, { id, connections }]) => ({
      key,
      id,
      direct: connections.some(isDirectLink),
      linkedAt: this.peers.get(key)?.linkedAt
    }))
  }

  /** Links to mesh members: in the map, not bootstrap peers */
  private members (links: LinkView[], bootstraps: Set<string>): LinkView[] {
    return links.filter(l => !bootstraps.has(l.key) && this.components.networkMap.get(l.id) != null)
  }

  private bootstrapKeys (): Set<string> {
    const keys = new Set<string>()
    for (const n of this.components.networkMap.nodes()) {
      if (n.roles.includes(BOOTSTRAP_ROLE)) { keys.add(n.id.toString()) }
    }
    for (const p of this.components.peerExchange.knownBootstraps()) {
      keys.add(p.toString())
    }
    return keys
  }

  private isBootstrap (peer: PeerId): boolean {
    return this.bootstrapKeys().has(peer.toString())
  }

  /** Map nodes we may link to now; when the map knows no member, the peers peer exchange handed us */
  private candidates (bootstraps: Set<string>, links: LinkView[], dist: Map<string, number>, now: number): Candidate[] {
    const linked = new Set(links.map(l => l.key))
    const list: Candidate[] = []
    for (const node of this.components.networkMap.nodes()) {
      const key = node.id.toString()
      if (key === this.self || linked.has(key) || bootstraps.has(key) || this.pending.has(key) || !this.ready(key, now)) {
        continue
      }
      const confirmed = this.components.networkMap.neighbours(node.id)
      const degree = confirmed.filter(p => !bootstraps.has(p.toString())).length
      list.push({
        key,
        id: node.id,
        // read only for the candidates chosen: the map parses a node's addresses on every read
        get multiaddrs () { return node.multiaddrs },
        distance: dist.get(key) ?? Infinity,
        degree,
        cooling: (this.peers.get(key)?.coolUntil ?? 0) > now,
        stale: this.denied(node, confirmed),
        random: Math.random()
      })
    }
    if (list.length === 0 && linked.size <= bootstraps.size) {
      list.push(...this.sampledPeers(bootstraps, linked, now))
    }
    return list
  }

  /**
   * `node`'s record claims a link to a mapped node whose own record does not
   * claim it back (`confirmed`, its two-ended neighbours, all do)
   */
  private denied (node: MapNode, confirmed: PeerId[]): boolean {
    if (node.neighbours.length <= confirmed.length) {
      return false
    }
    return node.neighbours.some(n => {
      const other = this.components.networkMap.get(n.id)
      return other != null && !other.neighbours.some(m => m.id.equals(node.id))
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
      out.push({ key: peer.key, id: peer.id, multiaddrs: peer.multiaddrs, distance: Infinity, degree: 1, cooling: false, stale: false, random: Math.random() })
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

  /** We are dialable through a relay reservation on this peer: dropping it would make us unreachable */
  private holdsReservation (key: string): boolean {
    return this.components.addressManager.getAddresses().some(ma => relayOf(ma) === key)
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

  private async link (c: Candidate, action: 'add' | 'bridge'): Promise<void> {
    await this.attempt(c.id, action, async (signal) => {
      const direct = c.multiaddrs.filter(ma => isDialableDirectAddress(ma) && this.components.transportManager.dialTransportForMultiaddr(ma) != null)
      if (this.directDial && direct.length > 0) {
        try {
          await this.components.connectionManager.openConnection(direct.map(ma => ma.encapsulate(`/p2p/${c.key}`)), { signal })
          return
        } catch (err) {
          signal.throwIfAborted()
          this.log('direct dial to %p failed, trying through the mesh - %e', c.id, err)
        }
      }
      if (this.components.networkMap.path(c.id) == null) {
        throw new LinkAttemptError(`no dialable address and no route to ${c.key}`)
      }
      await this.components.meshCircuits.connect(c.id, { signal })
    })
    if (action === 'bridge') { this.counters.bridged++ } else { this.counters.added++ }
  }

  private async upgrade (peer: PeerId): Promise<void> {
    await this.attempt(peer, 'upgrade', async (signal) => {
      const result = await this.components.meshCircuits.connect(peer, { signal, relay: false })
      // the relayed links are spare now; their relays' budgets are freed
      for (const connection of this.components.connectionManager.getConnections(peer)) {
        if (connection !== result.connection && !isDirectLink(connection)) {
          await connection.close({ signal }).catch(err => { connection.abort(err) })
        }
      }
    })
    this.counters.upgraded++
  }

  /** Run a link attempt with a deadline; failures back the peer off exponentially */
  private async attempt (peer: PeerId, action: TopologyAction, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const key = peer.toString()
    const state = this.state(key)
    this.pending.add(key)
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(this.dialTimeout, this.shutdownController.signal)
    const signal = deadline.signal
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
      deadline.clear()
      this.pending.delete(key)
    }
  }

  private async close (peer: PeerId, action: 'trim' | 'drop-bootstrap'): Promise<void> {
    const key = peer.toString()
    this.state(key).coolUntil = Date.now() + this.cooldown
    try {
      await this.components.connectionManager.closeConnections(peer, { signal: timeoutSignal(this.dialTimeout) })
    } catch (err) {
      this.log('closing %p failed - %e', peer, err)
    }
    if (action === 'trim') { this.counters.trimmed++ } else { this.counters.bootstrapsDropped++ }
    this.log('%s %p', action, peer)
    this.safeDispatchEvent('action', { detail: { action, peer } })
  }

  // --- peer store tags ---

  /** Tag member links so libp2p's connection manager prunes other connections first */
  private syncTags (members: LinkView[]): void {
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
