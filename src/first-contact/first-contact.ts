import { TypedEventEmitter, serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { BOOTSTRAP_TAG, BOOTSTRAP_TAG_VALUE, CHECK_DELAY, DEFAULT_CHECK_INTERVAL, DEFAULT_DIAL_TIMEOUT, DEFAULT_HEAL_WAIT, DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY, DEFAULT_PROTOCOL_TIMEOUT, MAX_PARALLEL_DIALS } from './constants.js'
import { BootstrapUnreachableError, InvalidBootstrapAddressError, NoProtocolError } from './errors.js'
import { describeDialFailure } from '../utils/dial-error.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { BootstrapErrorDetail, FirstContact as FirstContactInterface, FirstContactComponents, FirstContactEvents, FirstContactInit, FirstContactStats } from './index.js'
import type { Connection, IdentifyResult, Logger, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** One bootstrap peer to dial: a configured address, or a learnt peer dialled by id (the peer store has its addresses) */
interface Target {
  peer: PeerId
  address?: Multiaddr
}

function shuffle <T> (items: T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/**
 * The one owner of (re-)contact: decides whether this node is attached to the
 * mesh and, when it is not, dials bootstrap peers with one exponential
 * back-off, reporting each round as `bootstrap:connect` / `bootstrap:error`.
 */
export class DefaultFirstContact extends TypedEventEmitter<FirstContactEvents> implements FirstContactInterface {
  private readonly components: FirstContactComponents
  private readonly log: Logger
  private readonly addresses: string[]
  private readonly initialDelay: number
  private readonly maxDelay: number
  private readonly dialTimeout: number
  private readonly checkInterval: number
  private readonly protocolTimeout: number
  private readonly healWait: number
  /** Open bootstrap connections that have not negotiated a protocol yet, with the timer that closes them */
  private readonly unproven = new Map<Connection, ReturnType<typeof setTimeout>>()
  /** Well-formed configured addresses */
  private configured: Target[] = []
  private shutdownController = new AbortController()
  private retryTimer?: ReturnType<typeof setTimeout>
  private checkTimer?: ReturnType<typeof setTimeout>
  private healTimer?: ReturnType<typeof setTimeout>
  /** When this node, detached, began to wait for the topology's heal dials */
  private healWaitSince?: number
  private intervalTimer?: ReturnType<typeof setInterval>
  private dialing = false
  private lastRoundAt = 0
  /** Failed rounds since this node was last attached */
  private attempt = 0
  private readonly counters = { rounds: 0, failedRounds: 0, contacts: 0, noProtocol: 0, healWaits: 0 }
  private started = false
  connected = false
  lastError?: BootstrapErrorDetail

  constructor (components: FirstContactComponents, init: FirstContactInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('membrane:first-contact')
    this.addresses = init.bootstrap ?? []
    this.initialDelay = init.initialDelay ?? DEFAULT_INITIAL_DELAY
    this.maxDelay = init.maxDelay ?? DEFAULT_MAX_DELAY
    this.dialTimeout = init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT
    this.checkInterval = init.checkInterval ?? DEFAULT_CHECK_INTERVAL
    this.protocolTimeout = init.protocolTimeout ?? DEFAULT_PROTOCOL_TIMEOUT
    this.healWait = init.healWait ?? DEFAULT_HEAL_WAIT
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.onIdentify = this.onIdentify.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
    this.onNeighbourLost = this.onNeighbourLost.bind(this)
    this.onTopologyAction = this.onTopologyAction.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/first-contact'
  readonly [serviceCapabilities]: string[] = ['@membrane/first-contact']
  readonly [serviceDependencies]: string[] = ['@membrane/peer-exchange', '@membrane/topology']

  isStarted (): boolean {
    return this.started
  }

  start (): void {
    this.shutdownController = new AbortController()
    this.started = true
  }

  async afterStart (): Promise<void> {
    this.configured = []
    for (const address of this.addresses) {
      try {
        const ma = multiaddr(address)
        const id = ma.getComponents().findLast(c => c.code === CODE_P2P)?.value
        if (id == null) {
          throw new Error('it names no peer (/p2p/<peer id>)')
        }
        this.configured.push({ peer: peerIdFromString(id), address: ma })
      } catch (err) {
        const error = new InvalidBootstrapAddressError(`bootstrap address "${address}" is malformed: ${(err as Error).message}`, { cause: err })
        this.log.error('%s', error.message)
        this.lastError = { error, addresses: [address], attempt: 0 }
        const detail = this.lastError
        // on a timer, so listeners added right after `await createMembrane()` hear it
        setTimeout(() => { this.safeDispatchEvent('bootstrap:error', { detail }) }, 0)
      }
    }
    // the peer store keeps their addresses, so a later round can dial them by id
    await Promise.all(this.configured.map(async ({ peer, address }) => {
      await this.components.peerStore.merge(peer, { multiaddrs: address == null ? [] : [address], tags: { [BOOTSTRAP_TAG]: { value: BOOTSTRAP_TAG_VALUE } } })
        .catch(err => { this.log('could not store bootstrap peer %p - %e', peer, err) })
    }))
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.components.topology.addEventListener('peer:leave', this.onNeighbourLost)
    this.components.topology.addEventListener('action', this.onTopologyAction)
    this.intervalTimer = setInterval(() => { this.check() }, this.checkInterval)
    this.check()
  }

  stop (): void {
    this.started = false
    this.shutdownController.abort()
    clearTimeout(this.retryTimer)
    clearTimeout(this.checkTimer)
    clearTimeout(this.healTimer)
    clearInterval(this.intervalTimer)
    this.retryTimer = undefined
    this.checkTimer = undefined
    this.healTimer = undefined
    this.healWaitSince = undefined
    for (const timer of this.unproven.values()) { clearTimeout(timer) }
    this.unproven.clear()
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    this.components.topology.removeEventListener('peer:leave', this.onNeighbourLost)
    this.components.topology.removeEventListener('action', this.onTopologyAction)
  }

  attached (): boolean {
    return this.bootstrapConnected() || !this.components.topology.needsBootstrap()
  }

  stats (): FirstContactStats {
    return { ...this.counters, attached: this.attached() ? 1 : 0 }
  }

  private bootstrapConnected (): boolean {
    return this.bootstrapPeers().some(peer => this.components.connectionManager.getConnections(peer).some(c => c.status === 'open'))
  }

  /** Configured bootstrap peers, then those peer exchange learnt from them */
  private bootstrapPeers (): PeerId[] {
    const peers = new Map<string, PeerId>()
    for (const { peer } of this.configured) { peers.set(peer.toString(), peer) }
    for (const peer of this.components.peerExchange.knownBootstraps()) { peers.set(peer.toString(), peer) }
    return [...peers.values()]
  }

  private isBootstrapPeer (peer: PeerId): boolean {
    return this.bootstrapPeers().some(p => p.equals(peer))
  }

  /** A bootstrap connection must negotiate a protocol (identify completes over it) within protocolTimeout */
  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    const connection = evt.detail
    if (!this.started || !this.isBootstrapPeer(connection.remotePeer)) {
      return
    }
    this.unproven.set(connection, setTimeout(() => { this.noProtocol(connection) }, this.protocolTimeout))
  }

  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    const timer = this.unproven.get(evt.detail.connection)
    if (timer == null) {
      return
    }
    clearTimeout(timer)
    this.unproven.delete(evt.detail.connection)
    // a working bootstrap link: the back-off starts again from the beginning
    this.check()
  }

  /** Close a bootstrap connection that negotiated nothing, report it, and let the back-off redial */
  private noProtocol (connection: Connection): void {
    this.unproven.delete(connection)
    if (!this.started || connection.status !== 'open') {
      return
    }
    this.counters.noProtocol++
    const error = new NoProtocolError(`bootstrap peer ${connection.remotePeer} accepted a connection over ${connection.remoteAddr} but negotiated no protocol within ${this.protocolTimeout} ms (no identify): closed it`)
    // still attached by a link that works: nothing to redial
    const stillSettled = this.settled(connection)
    connection.abort(error)
    if (stillSettled) {
      this.log('%s; other links work, no redial', error.message)
      this.safeDispatchEvent('bootstrap:error', { detail: { error, addresses: [connection.remoteAddr.toString()], attempt: this.attempt } })
      return
    }
    this.attempt++
    const retryIn = this.retryDelay()
    this.log('%s, redialling in %d ms', error.message, retryIn)
    this.lastError = { error, addresses: [connection.remoteAddr.toString()], attempt: this.attempt, retryIn }
    this.safeDispatchEvent('bootstrap:error', { detail: this.lastError })
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.check()
    }, retryIn)
  }

  /** The wait before the next round after `attempt` failed ones */
  private retryDelay (): number {
    return Math.min(this.maxDelay, this.initialDelay * 2 ** (this.attempt - 1))
  }

  /** Attached by a link that works (other than `except`): a member link, or a bootstrap connection that negotiated a protocol */
  private settled (except?: Connection): boolean {
    if (!this.components.topology.needsBootstrap()) {
      return true
    }
    return this.bootstrapPeers().some(peer => this.components.connectionManager.getConnections(peer).some(c => c !== except && c.status === 'open' && !this.unproven.has(c)))
  }

  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const timer = this.unproven.get(evt.detail)
    if (timer != null) {
      clearTimeout(timer)
      this.unproven.delete(evt.detail)
    }
    this.checkSoon()
  }

  private onNeighbourLost (): void {
    this.checkSoon()
  }

  /** A topology dial ended: if this node waits on its heal, decide once the dial is no longer pending */
  private onTopologyAction (): void {
    if (this.healWaitSince != null) {
      queueMicrotask(() => { this.check() })
    }
  }

  private checkSoon (): void {
    if (!this.started || this.checkTimer != null) {
      return
    }
    this.checkTimer = setTimeout(() => {
      this.checkTimer = undefined
      this.check()
    }, CHECK_DELAY)
  }

  /**
   * Attached by a working link: reset the back-off. Attached only by a
   * connection still to negotiate a protocol: wait for it. Detached: start a
   * round now, unless one is running or waiting out its back-off.
   */
  private check (): void {
    if (!this.started || this.dialing) {
      return
    }
    if (this.attached()) {
      if (!this.settled()) {
        return
      }
      this.attempt = 0
      clearTimeout(this.retryTimer)
      this.retryTimer = undefined
      this.endHealWait()
      return
    }
    if (this.waitForHeal()) {
      return
    }
    if (this.retryTimer != null || this.configured.length + this.components.peerExchange.knownBootstraps().length === 0) {
      return
    }
    // a bootstrap peer that accepts and then drops us is not redialled more than once per initialDelay
    const wait = this.lastRoundAt + this.initialDelay - Date.now()
    if (wait > 0) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        this.check()
      }, wait)
      return
    }
    void this.round()
  }

  /**
   * Detached, but the topology is dialling members or may dial one its map
   * names: give it up to `healWait` from when this node began to wait (each
   * of its dials ends in an `action` event, which checks again)
   */
  private waitForHeal (): boolean {
    if (!this.components.topology.linking()) {
      this.endHealWait()
      return false
    }
    const now = Date.now()
    if (this.healWaitSince == null) {
      this.healWaitSince = now
      this.counters.healWaits++
    }
    const left = this.healWaitSince + this.healWait - now
    if (left <= 0) {
      return false
    }
    if (this.healTimer == null) {
      this.healTimer = setTimeout(() => {
        this.healTimer = undefined
        this.check()
      }, left)
    }
    return true
  }

  private endHealWait (): void {
    clearTimeout(this.healTimer)
    this.healTimer = undefined
    this.healWaitSince = undefined
  }

  /** The bootstrap peers of this round: configured first, then learnt, rotating through them round by round */
  private targets (): Target[] {
    const configured = shuffle(this.configured)
    const known = new Set(configured.map(t => t.peer.toString()))
    const learnt = shuffle(this.components.peerExchange.knownBootstraps().filter(p => !known.has(p.toString()))).map(peer => ({ peer }))
    const all = [...configured, ...learnt]
    if (all.length <= MAX_PARALLEL_DIALS) {
      return all
    }
    const start = (this.attempt * MAX_PARALLEL_DIALS) % all.length
    return [...all, ...all].slice(start, start + MAX_PARALLEL_DIALS)
  }

  private async round (): Promise<void> {
    const targets = this.targets()
    if (targets.length === 0) {
      return
    }
    this.dialing = true
    this.lastRoundAt = Date.now()
    this.counters.rounds++
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(this.dialTimeout, this.shutdownController.signal)
    const signal = deadline.signal
    try {
      const results = await Promise.allSettled(targets.map(async t => this.components.connectionManager.openConnection(t.address ?? t.peer, { signal })))
      if (!this.started) {
        return
      }
      const reached = results.find(r => r.status === 'fulfilled')
      if (reached != null) {
        this.connected = true
        this.lastError = undefined
        // the back-off is reset once the link negotiates a protocol (onIdentify), not on a bare connection
        this.counters.contacts++
        this.log('reached bootstrap peer %p', reached.value.remotePeer)
        this.safeDispatchEvent('bootstrap:connect', { detail: reached.value.remotePeer })
        return
      }
      this.attempt++
      this.counters.failedRounds++
      const last = (results.at(-1) as PromiseRejectedResult).reason as Error
      const retryIn = this.retryDelay()
      const error = new BootstrapUnreachableError(`no bootstrap peer answered (${targets.length} tried): ${describeDialFailure(last, String(targets.at(-1)?.address ?? ''))}`, { cause: last })
      this.log('round %d failed, retrying in %d ms - %e', this.attempt, retryIn, error)
      this.lastError = { error, addresses: targets.map(t => String(t.address ?? t.peer)), attempt: this.attempt, retryIn }
      this.safeDispatchEvent('bootstrap:error', { detail: this.lastError })
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        this.check()
      }, retryIn)
    } finally {
      deadline.clear()
      this.dialing = false
    }
  }
}
