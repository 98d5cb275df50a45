// One worker process of bench/network-map-multi.ts: it holds a share of the
// nodes and answers the coordinator's commands over the IPC channel. Nodes in
// the same worker link over the memory transport, nodes in different workers
// over TCP loopback; both upgrade with Noise + yamux.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { networkMap } from '../src/network-map/index.js'
import { RECORD_DELTAS } from './network-map.js'
import type { NetworkMap } from '../src/network-map/index.js'
import type { Libp2p } from '@libp2p/interface'

type Node = Libp2p<{ networkMap?: NetworkMap }>

/** What the coordinator learns about a started node */
export interface NodeInfo {
  index: number
  peerId: string
  tcp: string
  memory: string
}

/** One link to dial: from our node `from` to `addr` */
export interface DialLink {
  from: number
  addr: string
}

export interface StartOptions {
  indices: number[]
  /** `membrane`: libp2p + identify + gossipsub + network map; `stock`: without the map */
  kind: 'membrane' | 'stock'
  recordTtl: number
  maxNodes: number
  topic: string
}

/** Counters of the map nodes this worker holds (the current newcomer included, stopped or not) */
export interface Counters {
  bytesSent: number
  /** The part of bytesSent that pushed refreshes (`NetworkMapStats.refreshBytesSent`) */
  refreshBytesSent: number
  recordsIssued: number
  reissuesSkipped: number
  recordsRejected: number
  streamsRefused: number
  nodesMissing: number
}

const nodes = new Map<number, Node>()
/** Per node, the peers identify completed with (a `peer:identify` event): the registrar links a map neighbour only then */
const identified = new WeakMap<Node, Set<string>>()
/** The newcomer of the current round and every one before it, kept for their byte counters */
const newcomers = new Map<number, Node>()
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
const now = (): number => performance.timeOrigin + performance.now()
const gc = (globalThis as { gc?: () => void }).gc

async function startNode (index: number, options: StartOptions): Promise<Node> {
  const node = await createNode(index, options)
  const peers = new Set<string>()
  identified.set(node, peers)
  node.addEventListener('peer:identify', evt => { peers.add(evt.detail.peerId.toString()) })
  return node
}

async function createNode (index: number, options: StartOptions): Promise<Node> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0', `/memory/netmap-multi-${process.pid}-${index}`] },
    transports: [tcp(), memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: 1000,
      // every peer dials from 127.0.0.1: the per-host inbound rate limit would refuse honest links
      allow: ['/ip4/127.0.0.1'],
      maxIncomingPendingConnections: 1000,
      // a saturated simulator stalls event loops for seconds: let dials and
      // upgrades outlast that, or the graph loses links before the map is measured
      dialTimeout: 60_000,
      addressDialTimeout: 60_000,
      inboundUpgradeTimeout: 60_000
    },
    // pings keep flowing, but a ping lost to a stalled simulator does not cut the
    // link: at load 20+ the monitor cut a quarter of the graph before the maps could fill
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      pubsub: gossipsub(),
      ...(options.kind === 'membrane' ? { networkMap: networkMap({ recordTtl: options.recordTtl, maxNodes: options.maxNodes, recordDeltas: RECORD_DELTAS }) } : {})
    }
  }) as Promise<Node>
}

function info (index: number, node: Node): NodeInfo {
  const addrs = node.getMultiaddrs().map(a => a.toString())
  const tcpAddr = addrs.find(a => a.includes('/tcp/'))
  const memAddr = addrs.find(a => a.includes('/memory/'))
  if (tcpAddr == null || memAddr == null) {
    throw new Error(`node ${index} listens on ${addrs.join(', ')}`)
  }
  return { index, peerId: node.peerId.toString(), tcp: tcpAddr, memory: memAddr }
}

function mapOf (node: Node): NetworkMap {
  const map = node.services.networkMap
  if (map == null) {
    throw new Error('not a map node')
  }
  return map
}

async function start (options: StartOptions): Promise<NodeInfo[]> {
  const started = await Promise.all(options.indices.map(async index => {
    const node = await startNode(index, options)
    ;(node.services as unknown as { pubsub: { subscribe(t: string): void } }).pubsub.subscribe(options.topic)
    nodes.set(index, node)
    return info(index, node)
  }))
  return started
}

/** Dial every link, 16 at a time per worker, 3 attempts each: a loaded machine times out many concurrent Noise handshakes */
async function dial (links: DialLink[], deadline: number): Promise<{ failed: number, errors: string[] }> {
  const queue = [...links]
  const errors: string[] = []
  let failed = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let link = queue.shift(); link != null; link = queue.shift()) {
      // past the deadline the links left are not tried: they count as failed and the run goes on with the graph it has
      if (now() > deadline) {
        failed++
        continue
      }
      const node = nodes.get(link.from) ?? newcomers.get(link.from)
      if (node == null) { throw new Error(`no node ${link.from}`) }
      for (let attempt = 1; ; attempt++) {
        try {
          await node.dial(multiaddr(link.addr), { signal: AbortSignal.timeout(Math.floor(Math.max(1, Math.min(60_000, deadline - now())))) })
          break
        } catch (err) {
          if (attempt === 3 || now() > deadline) {
            failed++
            if (errors.length < 3) { errors.push(`${(err as Error).name}: ${(err as Error).message}`) }
            break
          }
        }
      }
    }
  }))
  return { failed, errors }
}

/** Open connections of our nodes, as [self, remote] PeerId strings */
function links (): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const node of nodes.values()) {
    for (const c of node.getConnections()) {
      if (c.status === 'open') { out.push([node.peerId.toString(), c.remotePeer.toString()]) }
    }
  }
  return out
}

/**
 * Why a map may lack a link or a node: per node, its open connections to a
 * peer identify never completed with (it timed out: the registrar links a map
 * neighbour only on identify), and those its own record does not list; and
 * which of `peers` the maps lack (PeerId: how many maps)
 */
function diagnose (peers: string[]): { unidentified: Array<[string, string]>, unlisted: number, missing: Record<string, number>, sizes: Record<string, number> } {
  const unidentified: Array<[string, string]> = []
  let unlisted = 0
  const missing: Record<string, number> = {}
  const sizes: Record<string, number> = {}
  const all = peers.map(p => peerIdFromString(p))
  for (const node of nodes.values()) {
    const map = node.services.networkMap
    const listed = new Set((map?.get(node.peerId)?.neighbours ?? []).map(n => n.id.toString()))
    for (const c of node.getConnections()) {
      if (c.status !== 'open') { continue }
      // not the peer store's protocols: a timed-out identify leaves identify's own there, and streams
      // the peer opens to us add theirs
      if (identified.get(node)?.has(c.remotePeer.toString()) !== true) { unidentified.push([node.peerId.toString(), c.remotePeer.toString()]) }
      if (map != null && !listed.has(c.remotePeer.toString())) { unlisted++ }
    }
    if (map == null) { continue }
    sizes[node.peerId.toString()] = map.size
    for (const id of all) {
      if (map.get(id) == null) { missing[id.toString()] = (missing[id.toString()] ?? 0) + 1 }
    }
  }
  return { unidentified, unlisted, missing, sizes }
}

const EVENTS = ['node:add', 'node:update', 'node:remove', 'edge:add', 'edge:remove'] as const

/** The edge count `full()` waits for; the coordinator updates it when a link is lost meanwhile */
let fullTarget: { edges: number, recheck: () => void } | undefined

/**
 * Resolves with the time the last of our nodes came to hold `n` nodes and
 * `edges` edges (the time of the map event that completed it), or null at `deadline`
 * with the sizes and edge counts of the maps still short of it.
 * Checks are batched every 100 ms over the nodes whose map changed: edges() is O(E).
 */
async function full (n: number, edges: number, deadline: number): Promise<{ at: number | null, done: number, short?: { size: [number, number], edges: [number, number] } }> {
  let pending = new Map<number, Node>(nodes)
  const lastEvent = new Map<number, number>()
  const dirty = new Set<number>(pending.keys())
  const cleanups: Array<() => void> = []
  let latest = 0
  fullTarget = {
    edges,
    recheck: () => {
      pending = new Map(nodes)
      latest = 0
      for (const index of nodes.keys()) { dirty.add(index) }
    }
  }
  for (const [index, node] of pending) {
    const mark = (): void => { lastEvent.set(index, now()); dirty.add(index) }
    for (const event of EVENTS) {
      mapOf(node).addEventListener(event, mark)
      cleanups.push(() => { mapOf(node).removeEventListener(event, mark) })
    }
  }
  try {
    while (pending.size > 0 && now() < deadline) {
      for (const index of dirty) {
        const node = pending.get(index)
        if (node != null && mapOf(node).size === n && mapOf(node).edges().length === fullTarget.edges) {
          pending.delete(index)
          latest = Math.max(latest, lastEvent.get(index) ?? now())
        }
      }
      dirty.clear()
      if (pending.size > 0) { await new Promise(resolve => setTimeout(resolve, 100)) }
    }
  } finally {
    cleanups.forEach(c => { c() })
    fullTarget = undefined
  }
  if (pending.size === 0) {
    return { at: latest, done: nodes.size }
  }
  const sizes = [...pending.values()].map(x => mapOf(x).size)
  const counts = [...pending.values()].map(x => mapOf(x).edges().length)
  return {
    at: null,
    done: nodes.size - pending.size,
    short: { size: [Math.min(...sizes), Math.max(...sizes)], edges: [Math.min(...counts), Math.max(...counts)] }
  }
}

/** Convergence watch of one join or leave: per map node, the time `done` first held */
interface Watch {
  times: number[]
  pending: number
  cleanups: Array<() => void>
  finished: Promise<void>
}
let watch: Watch | undefined

function arm (kind: 'join' | 'leave', peer: string, joinLinks: number): number {
  const watched = [...nodes.values()].filter(n => n.peerId.toString() !== peer && n.services.networkMap != null)
  const id = peerIdFromString(peer)
  const w: Watch = { times: [], pending: watched.length, cleanups: [], finished: Promise.resolve() }
  w.finished = new Promise<void>(resolve => {
    if (w.pending === 0) { resolve() }
    for (const node of watched) {
      const map = mapOf(node)
      const done = (): boolean => kind === 'join'
        ? map.neighbours(id).length === joinLinks
        : map.get(id) == null
      let seen = false
      const check = (): void => {
        if (!seen && done()) {
          seen = true
          w.times.push(now())
          if (--w.pending === 0) { resolve() }
        }
      }
      for (const event of EVENTS) {
        map.addEventListener(event, check)
        w.cleanups.push(() => { map.removeEventListener(event, check) })
      }
    }
  })
  watch = w
  return watched.length
}

async function collect (deadline: number): Promise<{ times: number[], missed: number }> {
  const w = watch
  if (w == null) { throw new Error('no watch armed') }
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([w.finished, new Promise(resolve => { timer = setTimeout(resolve, Math.max(0, deadline - now())) })])
  clearTimeout(timer)
  w.cleanups.forEach(c => { c() })
  watch = undefined
  return { times: w.times, missed: w.pending }
}

/** Re-issues of our nodes' own records, counted by polling their sequence numbers once a second */
let reissues: { count: number, timer: ReturnType<typeof setInterval> } | undefined
function countReissues (): void {
  const last = new Map<number, bigint | undefined>()
  const poll = (): void => {
    for (const [index, node] of nodes) {
      const seq = node.services.networkMap?.get(node.peerId)?.seq
      if (last.has(index) && seq != null && seq !== last.get(index)) {
        if (reissues != null) { reissues.count++ }
      }
      last.set(index, seq)
    }
  }
  poll()
  reissues = { count: 0, timer: setInterval(poll, 1000) }
}

function counters (): Counters {
  const c: Counters = { bytesSent: 0, refreshBytesSent: 0, recordsIssued: 0, reissuesSkipped: 0, recordsRejected: 0, streamsRefused: 0, nodesMissing: 0 }
  for (const node of [...nodes.values(), ...newcomers.values()]) {
    const s = node.services.networkMap?.stats()
    if (s == null) { continue }
    c.bytesSent += s.bytesSent
    c.refreshBytesSent += s.refreshBytesSent
    c.recordsIssued += s.recordsIssued
    c.reissuesSkipped += s.reissuesSkipped
    c.recordsRejected += s.recordsRejected
    c.streamsRefused += s.streamsRefused
    c.nodesMissing = Math.max(c.nodesMissing, s.nodesMissing)
  }
  return c
}

type Command = { id: number, op: string } & Record<string, unknown>

async function handle (cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'heap':
      gc?.()
      gc?.()
      return process.memoryUsage().heapUsed
    case 'start':
      return start(cmd.options as StartOptions)
    case 'dial':
      return dial(cmd.links as DialLink[], cmd.deadline as number)
    case 'links':
      return links()
    case 'full':
      return full(cmd.n as number, cmd.edges as number, cmd.deadline as number)
    case 'full:edges':
      // a link was lost or added while waiting: wait for the new count, every map again
      if (fullTarget != null && fullTarget.edges !== cmd.edges) {
        fullTarget.edges = cmd.edges as number
        fullTarget.recheck()
      }
      return null
    case 'loop': {
      // p99 and max of the event-loop delay since the last call, in ms
      const result = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 }
      loop.reset()
      return result
    }
    case 'counters':
      return counters()
    case 'diagnose':
      return diagnose(cmd.peers as string[])
    case 'reissues:start':
      countReissues()
      return null
    case 'reissues:stop': {
      const count = reissues?.count ?? 0
      if (reissues != null) { clearInterval(reissues.timer) }
      reissues = undefined
      return count
    }
    case 'newcomer': {
      const node = await startNode(cmd.index as number, cmd.options as StartOptions)
      newcomers.set(cmd.index as number, node)
      return info(cmd.index as number, node)
    }
    case 'newcomer:full': {
      // the newcomer holds every node (ourselves included), or the deadline passed
      const node = newcomers.get(cmd.index as number)
      if (node == null) { throw new Error(`no newcomer ${cmd.index}`) }
      while (mapOf(node).size < (cmd.n as number) && now() < (cmd.deadline as number)) {
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      return mapOf(node).size
    }
    case 'arm':
      return arm(cmd.kind as 'join' | 'leave', cmd.peer as string, cmd.links as number)
    case 'act': {
      const node = newcomers.get(cmd.index as number)
      if (node == null) { throw new Error(`no newcomer ${cmd.index}`) }
      const t0 = now()
      if (cmd.action === 'dial') {
        const { failed, errors } = await dial((cmd.addrs as string[]).map(addr => ({ from: cmd.index as number, addr })), t0 + 60_000)
        return { t0, failed, errors }
      }
      if (cmd.action === 'stop') {
        await node.stop()
      } else {
        // abrupt loss: links gone without a goodbye
        node.getConnections().forEach(c => { c.abort(new Error('abrupt loss')) })
      }
      return { t0, failed: 0 }
    }
    case 'collect':
      return collect(cmd.deadline as number)
    case 'newcomer:stop': {
      await newcomers.get(cmd.index as number)?.stop()
      return null
    }
    case 'stop': {
      await Promise.allSettled([...nodes.values(), ...newcomers.values()].map(async n => n.stop()))
      nodes.clear()
      newcomers.clear()
      return null
    }
    default:
      throw new Error(`unknown command ${cmd.op}`)
  }
}

process.on('message', (cmd: Command) => {
  handle(cmd).then(
    result => { process.send?.({ id: cmd.id, result }) },
    (err: Error) => { process.send?.({ id: cmd.id, error: err.stack ?? String(err) }) }
  )
})
process.on('disconnect', () => { process.exit(0) })
process.send?.({ ready: true })
