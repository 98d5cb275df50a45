/**
 * The in-page side of the Chromium tests and the browser bench. Bundled to
 * dist/browser/harness.js with `/membrane.js` and `/stock.js` left as runtime
 * imports, so a page loads the library exactly as a dapp would, and a stock
 * page never loads Membrane (nor its init-channel guard).
 *
 * Tests drive it with `page.evaluate(() => harness.x(...))`; everything crossing
 * the page boundary is plain JSON (peer ids and multiaddrs as strings).
 */
import type { ConnectResult, Membrane, MembraneOptions } from '../../../src/index.browser.js'
import type * as Stock from './stock.js'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'

type MembraneModule = typeof import('../../../src/index.browser.js')

export interface MemberOptions {
  bootstrap: string[]
  /** Peers this page must never dial nor accept (a connection gater) */
  deny?: string[]
  /**
   * Install the test's connection gater (`deny`, `setDenyRelayDials`) in place
   * of allowLocalDial's; set by `deny`. Without it the page runs the options a
   * dapp would: `{ bootstrap, allowLocalDial, topics }` and no public STUN
   */
  gated?: boolean
  /** Passed to createMembrane */
  meshCircuits?: MembraneOptions['meshCircuits']
  networkMap?: MembraneOptions['networkMap']
  /**
   * Passed to createMembrane; absent, pages run the library default (the
   * topology manager on). Specs that need a fixed graph pass `{ enabled: false }`
   */
  topology?: MembraneOptions['topology']
  /** Passed to createMembrane (default true: the page says goodbye on `pagehide`); false lets a test close a page with no goodbye */
  leaveOnPagehide?: boolean
}

/** One of this page's member links (topology neighbours), with the kind its own map record gives the link */
export interface MemberLink { id: string, kind: string }

export interface TrialResult {
  ok: boolean
  /** Setup time, ms */
  ms: number
  /** WebRTC attempts connect() made (1 for a stock dial) */
  attempts: number
  error?: string
  /**
   * When each progress event of the trial arrived, ms after it started, by
   * event type (the first of each type; connect()'s own events and libp2p's
   * `webrtc:*` dial events alike)
   */
  phases?: Record<string, number>
}

/** Records the first arrival of each progress event type, ms after `started` */
function phaseRecorder (started: number): { phases: Record<string, number>, onProgress: (evt: { type: string }) => void } {
  const phases: Record<string, number> = {}
  return {
    phases,
    onProgress: (evt) => { phases[evt.type] ??= performance.now() - started }
  }
}

export interface EdgeInfo { from: string, to: string, kind: string }

const TOPIC = 'harness'
const rtc = { rtcConfiguration: { iceServers: [] } }

let node: Membrane | undefined
let stock: Libp2p | undefined
let stockModule: typeof Stock | undefined
/** While true, dials of relay v2 (`/p2p-circuit`) addresses are refused, so links come from mesh circuits only */
let denyRelayDials = false
let startedGated = false
/** Set by suppressGoodbye() */
let goodbyeSuppressed = false
const broadcasts: string[] = []
const directs: string[] = []
const errors: string[] = []
/** When (Date.now(), shared with the test process) each node left this page's map */
const removedAt = new Map<string, number>()
/** When this page first held two direct member links */
let meshedAt: number | undefined

function member (): Membrane {
  if (node == null) { throw new Error('no member started in this page') }
  return node
}

function peer (id: string): PeerId {
  const n = member()
  const known = n.services.networkMap.nodes().find(m => m.id.toString() === id)?.id ??
    n.getConnections().find(c => c.remotePeer.toString() === id)?.remotePeer
  if (known == null) { throw new Error(`peer ${id} is not in this page's map`) }
  return known
}

/** Start a Membrane node from `/membrane.js` */
export async function startMember (options: MemberOptions): Promise<string> {
  const { createMembrane } = await import('/membrane.js' as string) as MembraneModule
  const deny = new Set(options.deny ?? [])
  startedGated = options.gated === true || deny.size > 0
  node = await createMembrane({
    bootstrap: options.bootstrap,
    allowLocalDial: true,
    webrtc: rtc,
    topics: [TOPIC],
    meshCircuits: options.meshCircuits,
    networkMap: options.networkMap,
    topology: options.topology,
    leaveOnPagehide: options.leaveOnPagehide,
    libp2p: startedGated
      ? {
          // replaces allowLocalDial's gater, so loopback and ws:// stay allowed here too
          connectionGater: {
            denyDialMultiaddr: (ma) => denyRelayDials && ma.toString().includes('/p2p-circuit'),
            denyDialPeer: (p) => deny.has(p.toString()),
            denyInboundEncryptedConnection: (p) => deny.has(p.toString())
          }
        }
      : undefined
  })
  node.services.networkMap.addEventListener('node:remove', (evt) => { removedAt.set(evt.detail.id.toString(), Date.now()) })
  node.services.networkMap.addEventListener('node:add', (evt) => { removedAt.delete(evt.detail.id.toString()) })
  const checkMeshed = (): void => {
    if (meshedAt == null && node != null && memberLinks().filter(l => l.kind === 'webrtc' || l.kind === 'direct').length >= 2) {
      meshedAt = Date.now()
    }
  }
  node.services.networkMap.addEventListener('edge:add', checkMeshed)
  node.services.networkMap.addEventListener('edge:update', checkMeshed)
  node.services.networkMap.addEventListener('node:add', checkMeshed)
  node.addEventListener('connection:open', checkMeshed)
  node.services.broadcast.addEventListener('message', (evt) => {
    broadcasts.push(new TextDecoder().decode(evt.detail.data))
  })
  node.services.directMessages.addEventListener('message', (evt) => {
    directs.push(`${evt.detail.from.toString()}:${new TextDecoder().decode(evt.detail.data)}`)
  })
  return node.peerId.toString()
}

export function setDenyRelayDials (value: boolean): void {
  if (value && !startedGated) { throw new Error('setDenyRelayDials needs startMember({ gated: true })') }
  denyRelayDials = value
}

/**
 * Keep this page from saying goodbye when it closes: the harness's own
 * `pagehide` listener (registered when the harness loads, so before any
 * member's: listeners on one target run in registration order) stops the
 * library's, and the page vanishes the way a crashed tab or a lost network
 * does (its links just close)
 */
export function suppressGoodbye (): void { goodbyeSuppressed = true }

export function peers (): string[] {
  return member().getPeers().map(String)
}

/** Remote addresses of open connections to `id` */
export function connectionsTo (id: string): string[] {
  return member().getConnections().filter(c => c.remotePeer.toString() === id).map(c => c.remoteAddr.toString())
}

/** This page's relay v2 + WebRTC address (`…/p2p-circuit/webrtc/p2p/<self>`), once it has a reservation */
export function webrtcAddress (): string | undefined {
  return member().getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit/webrtc'))
}

/** Circuits this page has forwarded as a middle hop */
export function forwarded (): number {
  return member().services.meshCircuits.stats().forwarded
}

/** Close every connection to `id` */
export async function hangUpPeer (id: string): Promise<void> {
  await member().hangUp(peer(id))
}

export function mapNodes (): string[] {
  return member().services.networkMap.nodes().map(n => n.id.toString()).sort()
}

/** This page's member links: the topology manager's neighbours, each with the kind of its edge in this page's own map record */
export function memberLinks (): MemberLink[] {
  const n = member()
  const self = n.peerId.toString()
  const kinds = new Map<string, string>()
  for (const e of n.services.networkMap.edges()) {
    const [from, to] = [e.from.toString(), e.to.toString()]
    if (from === self || to === self) { kinds.set(from === self ? to : from, e.kind) }
  }
  return n.services.topology.neighbours().map(id => ({ id: id.toString(), kind: kinds.get(id.toString()) ?? 'unmapped' }))
}

/** Date.now() when this page first held two direct (WebRTC, TCP/WebSockets) member links, if it has */
export function meshedTime (): number | undefined { return meshedAt }

/** Date.now() when `id` last left this page's map, if it has (and has not come back since) */
export function removedTime (id: string): number | undefined { return removedAt.get(id) }

export function mapEdges (): EdgeInfo[] {
  return member().services.networkMap.edges().map(e => ({ from: e.from.toString(), to: e.to.toString(), kind: e.kind }))
}

export function subscribers (): string[] {
  return member().services.broadcast.subscribers(TOPIC).map(String)
}

export async function publish (text: string): Promise<void> {
  await member().services.broadcast.publish(TOPIC, new TextEncoder().encode(text))
}

export function received (): string[] { return [...broadcasts] }
export function receivedDirect (): string[] { return [...directs] }
export function pageErrors (): string[] { return [...errors] }

export async function sendDirect (to: string, text: string): Promise<string> {
  const result = await member().services.directMessages.send(peer(to), new TextEncoder().encode(text), { signal: AbortSignal.timeout(30_000) })
  return result.connection.remoteAddr.toString()
}

/** A stock relay→WebRTC dial made through Membrane's node (the bootstrap relays the signaling) */
export async function dial (addr: string): Promise<string> {
  const { multiaddr } = await import('/stock.js' as string) as typeof Stock
  const connection = await member().dial(multiaddr(addr), { signal: AbortSignal.timeout(15_000) })
  return connection.remoteAddr.toString()
}

export interface ConnectSummary { kind: ConnectResult['kind'], remoteAddr: string, route?: string[], ms: number }

/** `connect()` to `to`, through `route` when given */
export async function connect (to: string, route?: string[]): Promise<ConnectSummary> {
  const started = performance.now()
  let used: string[] | undefined
  const result = await member().services.meshCircuits.connect(peer(to), {
    route: route?.map(peer),
    // the page tests ask for the direct link; connect() alone returns the circuit first
    waitForDirect: true,
    signal: AbortSignal.timeout(30_000),
    onProgress: (evt) => {
      if (evt.type === 'circuit') {
        used = (evt.detail as { route: PeerId[] }).route.map(String)
      }
    }
  })
  return { kind: result.kind, remoteAddr: result.connection.remoteAddr.toString(), route: used, ms: performance.now() - started }
}

async function closeAll (connections: Connection[]): Promise<void> {
  await Promise.all(connections.map(async c => c.close().catch(() => { c.abort(new Error('trial over')) })))
}

/**
 * `n` page-to-page `connect()` trials to `to` through `route`, closing the
 * WebRTC link after each. A trial succeeds when it yields a direct WebRTC link.
 */
export async function connectTrials (to: string, route: string[], n: number): Promise<TrialResult[]> {
  const results: TrialResult[] = []
  const target = peer(to)
  const hops = route.map(peer)
  for (let i = 0; i < n; i++) {
    let attempts = 0
    const started = performance.now()
    const { phases, onProgress } = phaseRecorder(started)
    try {
      const result = await member().services.meshCircuits.connect(target, {
        route: hops,
        relay: false,
        signal: AbortSignal.timeout(20_000),
        onProgress: (evt) => {
          if (evt.type === 'signaling') { attempts++ }
          onProgress(evt)
        }
      })
      results.push({ ok: result.kind === 'webrtc', ms: performance.now() - started, attempts, phases })
    } catch (err) {
      results.push({ ok: false, ms: performance.now() - started, attempts, error: (err as Error).message, phases })
    }
    // a failed close must not end the loop: the next trial starts from whatever is left
    await closeAll(member().getConnections(target)).catch(() => {})
    await settle(() => member().getConnections(target).length === 0)
  }
  return results
}

async function settle (done: () => boolean, timeout = 3000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!done() && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Start a stock js-libp2p node from `/stock.js`: WebSockets to the relay, relay v2 reservation, WebRTC */
export async function startStock (bootstrap: string[]): Promise<string> {
  stockModule = await import('/stock.js' as string) as typeof Stock
  const { createLibp2p, webRTC, webSockets, circuitRelayTransport, noise, yamux, identify, multiaddr } = stockModule
  stock = await createLibp2p({
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [webSockets(), webRTC(rtc), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // the browser default gater refuses loopback ws:// dials
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify() }
  })
  await Promise.all(bootstrap.map(async a => stock?.dial(multiaddr(a))))
  return stock.peerId.toString()
}

export function stockWebrtcAddress (): string | undefined {
  return stock?.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit/webrtc'))
}

export function stockState (): { addrs: string[], connections: string[] } {
  return { addrs: stock?.getMultiaddrs().map(String) ?? [], connections: stock?.getConnections().map(c => c.remoteAddr.toString()) ?? [] }
}

/**
 * Up to `n` stock relay→WebRTC dials to `addr` (`…/p2p-circuit/webrtc/p2p/<peer>`),
 * each bounded by `timeout` ms, hanging up (relay link included) after each;
 * stops early after `budget` ms.
 */
export async function stockTrials (addr: string, n: number, timeout: number, budget = Infinity): Promise<TrialResult[]> {
  const end = performance.now() + budget
  if (stock == null || stockModule == null) { throw new Error('no stock node started in this page') }
  const s = stock
  const ma = stockModule.multiaddr(addr)
  const target = stockModule.peerIdFromString(addr.slice(addr.lastIndexOf('/') + 1))
  const results: TrialResult[] = []
  for (let i = 0; i < n && performance.now() < end; i++) {
    const started = performance.now()
    const { phases, onProgress } = phaseRecorder(started)
    try {
      const connection = await s.dial(ma, { signal: AbortSignal.timeout(timeout), onProgress })
      results.push({ ok: connection.remoteAddr.toString().includes('/webrtc'), ms: performance.now() - started, attempts: 1, phases })
    } catch (err) {
      results.push({ ok: false, ms: performance.now() - started, attempts: 1, error: (err as Error).message, phases })
      // the dial queue runs a hung dial on to its own timeout; the next trial must not join it
      await new Promise(resolve => setTimeout(resolve, 2000))
    }
    await s.hangUp(target).catch(() => {})
    await settle(() => s.getConnections(target).length === 0)
  }
  return results
}

/** Answer requests under `name` with `<requester id>:<request text>` */
export function handleEcho (name: string): void {
  member().services.requests.handle(name, (data, { from }) => new TextEncoder().encode(`${from.toString()}:${new TextDecoder().decode(data)}`))
}

/** A request to `to`; the response as text */
export async function request (to: string, name: string, text: string): Promise<{ response: string, remoteAddr: string }> {
  const n = member()
  const response = await n.services.requests.request(peer(to), name, new TextEncoder().encode(text), { timeout: 30_000 })
  const remoteAddr = n.getConnections(peer(to)).find(c => c.status === 'open')?.remoteAddr.toString() ?? ''
  return { response: new TextDecoder().decode(response), remoteAddr }
}

export interface TransferSummary { bytes: number, digest: string, progressEvents: number, lastProgress: number, error?: string, remoteAddr?: string, resumes?: number }

const incomingTransfers: TransferSummary[] = []

const hex = (bytes: Uint8Array): string => [...bytes].map(b => b.toString(16).padStart(2, '0')).join('')

/** Receive transfers under `name`, hashing them with the library's content hash (see transfersReceived) */
export function handleTransfers (name: string): void {
  member().services.transfers.handle(name, async (transfer) => {
    const { ContentHasher } = await import('/membrane.js' as string) as MembraneModule
    const summary: TransferSummary = { bytes: 0, digest: '', progressEvents: 0, lastProgress: 0 }
    incomingTransfers.push(summary)
    transfer.addEventListener('progress', ({ detail }) => { summary.progressEvents++; summary.lastProgress = detail.bytes })
    const hasher = new ContentHasher()
    try {
      for await (const chunk of transfer.source) {
        summary.bytes += chunk.byteLength
        await hasher.update(chunk)
      }
      summary.digest = hex(await hasher.digest())
    } catch (err) {
      summary.error = `${(err as Error).name}: ${(err as Error).message}`
      throw err
    }
  })
}

export function transfersReceived (): TransferSummary[] { return incomingTransfers.map(t => ({ ...t })) }

/** Send `size` random bytes to `to` under `name`; the digest is of what the source yielded */
export async function sendTransfer (to: string, name: string, size: number): Promise<TransferSummary> {
  const { ContentHasher } = await import('/membrane.js' as string) as MembraneModule
  const hasher = new ContentHasher()
  const source = (async function * () {
    for (let sent = 0; sent < size; sent += 65536) {
      const chunk = crypto.getRandomValues(new Uint8Array(Math.min(65536, size - sent)))
      await hasher.update(chunk)
      yield chunk
    }
  })()
  const summary: TransferSummary = { bytes: 0, digest: '', progressEvents: 0, lastProgress: 0 }
  const result = await member().services.transfers.send(peer(to), name, source, {
    size,
    signal: AbortSignal.timeout(120_000),
    onProgress: ({ bytes }) => { summary.progressEvents++; summary.lastProgress = bytes }
  })
  const digest = hex(await hasher.digest())
  if (digest !== result.digest) {
    throw new Error(`the sender reported ${result.digest}, its source hashed to ${digest}`)
  }
  return { ...summary, bytes: result.bytes, digest, remoteAddr: result.connection.remoteAddr.toString(), resumes: result.resumes }
}

export async function stop (): Promise<void> {
  await node?.stop()
  await stock?.stop()
}

globalThis.addEventListener('pagehide', (evt) => { if (goodbyeSuppressed) { evt.stopImmediatePropagation() } })
globalThis.addEventListener('error', (evt) => { errors.push(String(evt.message)) })
globalThis.addEventListener('unhandledrejection', (evt) => { errors.push(String(evt.reason)) })
