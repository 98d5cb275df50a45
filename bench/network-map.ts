import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { networkMap } from '../src/network-map/index.js'
import { metric, percentile } from './metric.js'
import { connectMesh } from './topology.js'
import type { BenchOptions, Metric } from './metric.js'
import type { NetworkMap } from '../src/network-map/index.js'
import type { Libp2p } from '@libp2p/interface'

type Node = Libp2p<{ networkMap: NetworkMap }>

const DEGREE = 4
/** A newcomer links to this many existing nodes */
const JOIN_LINKS = 2
/**
 * Short enough that one refresh cycle (TTL/2) fits the steady-state window;
 * bytes scale with 1/TTL. N=200 in one process saturates 2 cores with 20 s
 * refreshes (records expire in the backlog), so it uses 120 s.
 */
const RECORD_TTL: Record<number, number> = { 50: 20_000, 200: 120_000 }
const DEFAULT_TTL = 300_000
const EVENT_TIMEOUT = 30_000

let nextId = 0

async function startNode (recordTtl: number): Promise<Node> {
  return createLibp2p({
    addresses: { listen: [`/memory/netmap-bench-${process.pid}-${nextId++}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: 1000 },
    services: { identify: identify(), networkMap: networkMap({ recordTtl, unreachableTimeout: 5_000 }) }
  })
}

async function until (predicate: () => boolean, timeout: number): Promise<boolean> {
  const deadline = Date.now() + timeout
  while (!predicate()) {
    if (Date.now() > deadline) { return false }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return true
}

function edgeCount (nodes: Node[]): number {
  const ids = new Set(nodes.map(n => n.peerId.toString()))
  let count = 0
  for (const n of nodes) {
    count += n.getConnections().filter(c => ids.has(c.remotePeer.toString())).length
  }
  return count / 2
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
  await Promise.race([finished, new Promise(resolve => setTimeout(resolve, EVENT_TIMEOUT))])
  cleanups.forEach(c => { c() })
  return { samples, missed: nodes.length - samples.length }
}

interface Run { join: number[], leave: number[], missed: number, bytesPerNodeS: number, setupMs: number }

async function run (n: number, rounds: number): Promise<Run> {
  const setupStart = Date.now()
  const ttl = RECORD_TTL[n] ?? 60_000
  const nodes = await Promise.all(Array.from({ length: n }, async () => startNode(ttl)))
  const join: number[] = []
  const leave: number[] = []
  let missed = 0
  try {
    await connectMesh(nodes, DEGREE, 7, ma => ma.includes('/memory/'))
    const edges = edgeCount(nodes)
    if (!await until(() => nodes.every(x => x.services.networkMap.size === n && x.services.networkMap.edges().length === edges), 180_000)) {
      throw new Error(`map of ${n} nodes did not converge`)
    }
    const setupMs = Date.now() - setupStart

    // steady state: exactly one refresh cycle (TTL/2) so every node re-issues once
    const bytes = (): number => nodes.reduce((s, x) => s + x.services.networkMap.stats().bytesSent, 0)
    const before = bytes()
    const window = ttl / 2
    await new Promise(resolve => setTimeout(resolve, window))
    const bytesPerNodeS = (bytes() - before) / n / (window / 1000)

    for (let r = 0; r < rounds; r++) {
      const newcomer = await startNode(ttl)
      const targets = Array.from({ length: JOIN_LINKS }, (_, i) => nodes[(r * 13 + i * Math.floor(n / JOIN_LINKS)) % n])
      const joined = await watch(nodes, x => x.services.networkMap.neighbours(newcomer.peerId).length === JOIN_LINKS, async () => {
        await Promise.all(targets.map(async t => newcomer.dial(multiaddr(t.getMultiaddrs()[0].toString()))))
      })
      join.push(...joined.samples)
      missed += joined.missed
      await until(() => newcomer.services.networkMap.size === n + 1, EVENT_TIMEOUT)
      const left = await watch(nodes, x => x.services.networkMap.get(newcomer.peerId) == null, async () => {
        await newcomer.stop()
      })
      leave.push(...left.samples)
      missed += left.missed
    }
    return { join, leave, missed, bytesPerNodeS, setupMs }
  } finally {
    await Promise.allSettled(nodes.map(async x => x.stop()))
  }
}

/** Network map convergence (join, clean leave) and steady-state control traffic, in-process over the memory transport */
export async function networkMapBench (options: BenchOptions): Promise<Metric[]> {
  const sizes = options.quick ? [{ n: 50, rounds: 5 }] : [{ n: 50, rounds: 10 }, { n: 200, rounds: 5 }]
  const metrics: Metric[] = []
  for (const { n, rounds } of sizes) {
    const r = await run(n, rounds)
    const extra = { nodes: n, degree: DEGREE, join_links: JOIN_LINKS, transport: 'memory (in-process, noise + yamux)', rounds, missed: r.missed, setup_ms: r.setupMs }
    metrics.push(
      metric('map.converge.join.p50', 'ms', percentile(r.join, 50), null, n, { ...extra, samples: r.join.length }),
      metric('map.converge.join.p99', 'ms', percentile(r.join, 99), null, n, { ...extra, samples: r.join.length }),
      metric('map.converge.leave.p50', 'ms', percentile(r.leave, 50), null, n, { ...extra, samples: r.leave.length }),
      metric('map.converge.leave.p99', 'ms', percentile(r.leave, 99), null, n, { ...extra, samples: r.leave.length }),
      metric('map.bytes_per_node_s', 'B/s', r.bytesPerNodeS, null, n, {
        ...extra,
        record_ttl_ms: RECORD_TTL[n],
        // traffic is one re-issue per node per TTL/2, so it scales with 1/TTL
        at_default_ttl: Math.round(r.bytesPerNodeS * RECORD_TTL[n] / DEFAULT_TTL * 1000) / 1000,
        counted: 'map frame bytes sent (before yamux/noise)'
      })
    )
  }
  return metrics
}
