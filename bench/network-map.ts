import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { DEFAULT_RECORD_TTL, REFRESH_MAX, REFRESH_MIN } from '../src/network-map/constants.js'
import { networkMap } from '../src/network-map/index.js'
import { metric, percentile } from './metric.js'
import { randomGraph } from './graph.js'
import type { BenchOptions, Metric } from './metric.js'
import type { NetworkMap, NetworkMapStats } from '../src/network-map/index.js'
import type { Libp2p } from '@libp2p/interface'
import type { Histogram } from 'node:perf_hooks'

type Node = Libp2p<{ networkMap: NetworkMap }>

/** Record deltas on (the default), as measured in BENCHMARKS.md; `MEMBRANE_BENCH_NETMAP_DELTAS=0` measures without */
export const RECORD_DELTAS = process.env.MEMBRANE_BENCH_NETMAP_DELTAS !== '0'

/** Average degree of the random graph (ring plus random chords), as the harness */
const DEGREE = 5
/** A newcomer links to this many existing nodes */
const JOIN_LINKS = 2
/**
 * The record lifetime of the measured run. One process on 2 cores simulates
 * every node, so refresh traffic is measured at a shorter TTL and scaled: it is
 * one re-issue per node per refresh interval, inversely proportional to the TTL.
 */
const RECORD_TTL: Record<number, number> = { 50: 30_000, 100: 60_000, 200: 120_000 }
export const DEFAULT_TTL = DEFAULT_RECORD_TTL
/** The mean refresh interval, as a share of the TTL */
const REFRESH_SHARE = (REFRESH_MIN + REFRESH_MAX) / 2
/** 1 % of the nodes join and 1 % leave per minute */
const CHURN_PER_MIN = 0.01
const EVENT_TIMEOUT = 60_000
const TOPIC = 'netmap-bench'

let nextId = 0

export async function startNode (recordTtl: number, withGossip: boolean, withMap = true): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: [`/memory/netmap-bench-${process.pid}-${nextId++}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: 1000 },
    services: {
      identify: identify(),
      ...(withGossip ? { pubsub: gossipsub() } : {}),
      ...(withMap ? { networkMap: networkMap({ recordTtl, recordDeltas: RECORD_DELTAS }) } : {})
    }
  })
}

/**
 * The same random graph as bench/topology.ts's connectMesh (ring plus seeded
 * chords), dialled at most 16 at a time with retries: a loaded machine times
 * out hundreds of concurrent Noise handshakes
 */
export async function connectGraph (nodes: Libp2p[], degree: number, seed = 7): Promise<void> {
  const queue = randomGraph(nodes.length, degree, seed)
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let pair = queue.shift(); pair != null; pair = queue.shift()) {
      const [a, b] = pair
      for (let attempt = 1; ; attempt++) {
        try {
          await nodes[a].dial(multiaddr(nodes[b].getMultiaddrs()[0].toString()), { signal: AbortSignal.timeout(30_000) })
          break
        } catch (err) {
          if (attempt === 3) { throw err }
        }
      }
    }
  }))
}

async function until (predicate: () => boolean, timeout: number): Promise<boolean> {
  const deadline = Date.now() + timeout
  while (!predicate()) {
    if (Date.now() > deadline) { return false }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return true
}

function edgeCount (nodes: Libp2p[]): number {
  const ids = new Set(nodes.map(n => n.peerId.toString()))
  const pairs = new Set<string>()
  for (const n of nodes) {
    for (const c of n.getConnections()) {
      const other = c.remotePeer.toString()
      if (ids.has(other) && c.status === 'open') {
        const self = n.peerId.toString()
        pairs.add(self < other ? `${self}|${other}` : `${other}|${self}`)
      }
    }
  }
  return pairs.size
}

/** Per existing node, ms from `start` until `done(node)` first holds (checked on every map event) */
async function watch (nodes: Node[], done: (n: Node) => boolean, action: () => Promise<void>): Promise<{ samples: number[], missed: number }> {
  const samples: number[] = []
  const cleanups: Array<() => void> = []
  let start = 0
  let pending = nodes.length
  const finished = new Promise<void>(resolve => {
    for (const n of nodes) {
      let seen = false
      const check = (): void => {
        if (!seen && start > 0 && done(n)) {
          seen = true
          samples.push(performance.now() - start)
          if (--pending === 0) { resolve() }
        }
      }
      for (const event of ['edge:add', 'edge:remove', 'node:remove', 'node:add'] as const) {
        n.services.networkMap.addEventListener(event, check)
        cleanups.push(() => { n.services.networkMap.removeEventListener(event, check) })
      }
    }
  })
  start = performance.now()
  await action()
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([finished, new Promise(resolve => { timer = setTimeout(resolve, EVENT_TIMEOUT) })])
  clearTimeout(timer)
  cleanups.forEach(c => { c() })
  return { samples, missed: nodes.length - samples.length }
}

let gc: (() => void) | undefined
function collect (): void {
  if (gc == null) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
  gc()
}

async function heapPerNode (n: number, graph: (nodes: Libp2p[]) => Promise<void>, start: () => Promise<Libp2p>, settled: (nodes: Libp2p[]) => boolean): Promise<number> {
  collect()
  const before = process.memoryUsage().heapUsed
  const nodes = await Promise.all(Array.from({ length: n }, start))
  try {
    await graph(nodes)
    await until(() => settled(nodes), 180_000)
    // let heartbeats and meshes form so both sides hold their steady state
    await new Promise(resolve => setTimeout(resolve, 3_000))
    collect()
    return (process.memoryUsage().heapUsed - before) / n
  } finally {
    await Promise.allSettled(nodes.map(async x => x.stop()))
  }
}

/** Event-loop delay p99 (ms) of one phase */
function loopDelay (h: Histogram): number {
  const p99 = h.percentile(99) / 1e6
  h.reset()
  return Math.round(p99)
}

interface Run {
  fullS: number
  /** Own records issued and change-caused re-issues skipped, all nodes, by the time every map was full */
  issued: { records: number, skipped: number }
  join: number[]
  leave: number[]
  abrupt: number[]
  joinBytes: number[]
  leaveBytes: number[]
  missed: number
  refreshBytesPerNodeS: number
  /** The rest of the steady traffic: the links' periodic checks (at their default interval) and the syncs they start */
  otherBytesPerNodeS: number
  loop: Record<string, number>
  /** Over the whole run: versions sent as deltas, deltas whose base the receiver lacked, records accepted */
  deltas: { sent: number, unmatched: number, records: number }
}

async function run (n: number, rounds: number): Promise<Run> {
  const ttl = RECORD_TTL[n] ?? 120_000
  const nodes = await Promise.all(Array.from({ length: n }, async () => startNode(ttl, true))) as Node[]
  const h = monitorEventLoopDelay({ resolution: 20 })
  h.enable()
  const loop: Record<string, number> = {}
  const join: number[] = []
  const leave: number[] = []
  const abrupt: number[] = []
  const joinBytes: number[] = []
  const leaveBytes: number[] = []
  let missed = 0
  const sum = (extra: Libp2p[], of: (stats: NetworkMapStats) => number): number => [...nodes, ...extra].reduce((s, x) => s + of((x as Node).services.networkMap.stats()), 0)
  const bytes = (extra: Libp2p[] = []): number => sum(extra, stats => stats.bytesSent)
  // what a join or leave costs: every map byte sent but the refreshes pushed meanwhile, which come at their own rate
  const changeBytes = (extra: Libp2p[] = []): number => sum(extra, stats => stats.bytesSent - stats.refreshBytesSent)
  try {
    h.reset()
    await connectGraph(nodes, DEGREE)
    // map.full.s: from the last dial of a cold start until every map holds every node and edge
    const lastDial = performance.now()
    const edges = edgeCount(nodes)
    if (!await until(() => nodes.every(x => x.services.networkMap.size === n && x.services.networkMap.edges().length === edges), 300_000)) {
      throw new Error(`map of ${n} nodes did not converge`)
    }
    const fullS = (performance.now() - lastDial) / 1000
    const issued = { records: sum([], stats => stats.recordsIssued), skipped: sum([], stats => stats.reissuesSkipped) }
    loop.full = loopDelay(h)

    // steady state over one mean refresh interval: every node re-issues about once
    const before = bytes()
    const refreshBefore = sum([], stats => stats.refreshBytesSent)
    const window = ttl * REFRESH_SHARE
    await new Promise(resolve => setTimeout(resolve, window))
    const refreshBytesPerNodeS = (sum([], stats => stats.refreshBytesSent) - refreshBefore) / n / (window / 1000)
    const otherBytesPerNodeS = (bytes() - before) / n / (window / 1000) - refreshBytesPerNodeS
    loop.steady = loopDelay(h)

    for (let r = 0; r < rounds; r++) {
      const targets = Array.from({ length: JOIN_LINKS }, (_, i) => nodes[(r * 13 + i * Math.floor(n / JOIN_LINKS)) % n])
      for (const how of ['clean', 'abrupt'] as const) {
        const newcomer = await startNode(ttl, true) as Node
        const start = changeBytes([newcomer])
        const joined = await watch(nodes, x => x.services.networkMap.neighbours(newcomer.peerId).length === JOIN_LINKS, async () => {
          await Promise.all(targets.map(async t => newcomer.dial(multiaddr(t.getMultiaddrs()[0].toString()))))
        })
        join.push(...joined.samples)
        missed += joined.missed
        await until(() => newcomer.services.networkMap.size === n + 1, EVENT_TIMEOUT)
        // the newcomer's and its neighbours' re-issues have settled once every map agrees
        await new Promise(resolve => setTimeout(resolve, 500))
        joinBytes.push(changeBytes([newcomer]) - start)
        const leaving = changeBytes([newcomer])
        const left = await watch(nodes, x => x.services.networkMap.get(newcomer.peerId) == null, async () => {
          if (how === 'clean') {
            await newcomer.stop()
          } else {
            // abrupt loss: links gone without a goodbye, detected at once on the memory transport
            newcomer.getConnections().forEach(c => { c.abort(new Error('abrupt loss')) })
          }
        })
        ;(how === 'clean' ? leave : abrupt).push(...left.samples)
        missed += left.missed
        await new Promise(resolve => setTimeout(resolve, 500))
        leaveBytes.push(changeBytes(how === 'clean' ? [] : [newcomer]) - leaving)
        if (how === 'abrupt') {
          await newcomer.stop()
        }
      }
    }
    loop.churn = loopDelay(h)
    const deltas = { sent: sum([], stats => stats.deltasSent), unmatched: sum([], stats => stats.deltasUnmatched), records: sum([], stats => stats.recordsAccepted) }
    return { fullS, issued, join, leave, abrupt, joinBytes, leaveBytes, missed, refreshBytesPerNodeS, otherBytesPerNodeS, loop, deltas }
  } finally {
    h.disable()
    await Promise.allSettled(nodes.map(async x => x.stop()))
  }
}

const mean = (values: number[]): number => values.reduce((s, v) => s + v, 0) / Math.max(1, values.length)

/**
 * Network map at N nodes in one process over the memory transport: cold-start
 * convergence, join and leave convergence (clean and abrupt), bytes per join and
 * per node per second at the default TTL with 1 % churn per minute, and heap per
 * node beside stock libp2p + gossipsub nodes on the same graph. Event-loop delay
 * p99 is reported beside each figure: above ~100 ms the simulator, not the map,
 * is the bottleneck.
 */
export async function networkMapBench (options: BenchOptions): Promise<Metric[]> {
  // MEMBRANE_BENCH_NETMAP_N=100,300 picks other sizes (rounds as in the full run)
  const custom = process.env.MEMBRANE_BENCH_NETMAP_N?.split(',').map(Number).filter(n => n > 1)
  const sizes = custom != null && custom.length > 0
    ? custom.map(n => ({ n, rounds: options.quick ? 2 : 5 }))
    : options.quick ? [{ n: 200, rounds: 2 }] : [{ n: 100, rounds: 5 }, { n: 200, rounds: 5 }]
  const metrics: Metric[] = []
  for (const { n, rounds } of sizes) {
    const r = await run(n, rounds)
    const ttl = RECORD_TTL[n] ?? 120_000
    const extra = { nodes: n, degree: DEGREE, join_links: JOIN_LINKS, transport: 'memory (in-process, noise + yamux)', rounds, missed: r.missed, record_ttl_ms: ttl, record_deltas: RECORD_DELTAS }
    // refreshes scale with 1 / TTL; the link checks run at their default interval whatever the TTL
    // (the syncs they start also catch the short TTL's extra refreshes in flight: counted, not scaled)
    const refreshAtDefault = r.refreshBytesPerNodeS * ttl / DEFAULT_TTL
    // per node per second: refreshes at the default TTL, link checks, plus 1 %/min joins and leaves, each costing its bytes over all N nodes
    const churnPerNodeS = CHURN_PER_MIN * n / 60 * (mean(r.joinBytes) + mean(r.leaveBytes)) / n
    metrics.push(
      metric('map.full.s', 's', r.fullS, null, n, { ...extra, records_issued: r.issued.records, reissues_skipped: r.issued.skipped, event_loop_p99_ms: r.loop.full }),
      metric('map.converge.join.p50', 'ms', percentile(r.join, 50), null, n, { ...extra, samples: r.join.length, event_loop_p99_ms: r.loop.churn }),
      metric('map.converge.join.p99', 'ms', percentile(r.join, 99), null, n, { ...extra, samples: r.join.length, event_loop_p99_ms: r.loop.churn }),
      metric('map.converge.leave.p99', 'ms', percentile(r.leave, 99), null, n, { ...extra, how: 'clean stop (goodbye)', samples: r.leave.length, event_loop_p99_ms: r.loop.churn }),
      metric('map.converge.leave_abrupt.p99', 'ms', percentile(r.abrupt, 99), null, n, { ...extra, how: 'links aborted, no goodbye; detection is immediate on the memory transport', samples: r.abrupt.length, event_loop_p99_ms: r.loop.churn }),
      metric('map.bytes_per_join', 'B', mean(r.joinBytes), null, n, { ...extra, per_node: Math.round(mean(r.joinBytes) / n), leave_bytes: Math.round(mean(r.leaveBytes)),
        deltas_sent: r.deltas.sent, deltas_unmatched: r.deltas.unmatched, records_accepted: r.deltas.records, counted: 'map frame bytes all nodes sent from the first dial until every map agrees, + 0.5 s, but the refreshes pushed meanwhile (NetworkMapStats.refreshBytesSent)', event_loop_p99_ms: r.loop.churn }),
      metric('map.bytes_per_node_s', 'B/s', refreshAtDefault + r.otherBytesPerNodeS + churnPerNodeS, null, n, {
        ...extra,
        refresh_measured: Math.round(r.refreshBytesPerNodeS),
        refresh_at_default_ttl: Math.round(refreshAtDefault),
        link_checks: Math.round(r.otherBytesPerNodeS),
        churn_1pct_per_min: Math.round(churnPerNodeS),
        counted: 'map frame bytes sent (before yamux/noise); refresh records scale with 1/TTL, the rest of the steady window is counted as measured',
        event_loop_p99_ms: r.loop.steady
      })
    )
    const settledMap = (nodes: Libp2p[]): boolean => nodes.every(x => (x as Node).services.networkMap.size === nodes.length)
    const graph = async (nodes: Libp2p[]): Promise<void> => {
      await connectGraph(nodes, DEGREE)
      nodes.forEach(x => { (x.services as { pubsub: { subscribe(t: string): void } }).pubsub.subscribe(TOPIC) })
    }
    const withMap = await heapPerNode(n, graph, async () => startNode(DEFAULT_TTL, true), settledMap)
    const stock = await heapPerNode(n, graph, async () => startNode(DEFAULT_TTL, true, false), () => true)
    metrics.push(metric('memory.heap_per_node', 'MiB', withMap / 2 ** 20, stock / 2 ** 20, n, {
      ...extra,
      membrane_nodes: 'libp2p + identify + gossipsub + network map (full map converged)',
      stock_nodes: 'libp2p + identify + gossipsub, same graph and topic',
      counted: 'heapUsed after GC, minus before start, / N (one process)'
    }))
  }
  return metrics
}
