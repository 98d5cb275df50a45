// The network map at N nodes over several processes (issue 19.1): a coordinator
// and W worker processes (bench/network-map-worker.ts), each holding a block of
// the nodes. Nodes in one worker link over the memory transport, nodes in
// different workers over TCP loopback (Noise + yamux either way).
import { fork } from 'node:child_process'
import { availableParallelism, loadavg } from 'node:os'
import { metric, percentile } from './metric.js'
import { randomGraph } from './graph.js'
import { DEFAULT_RECORD_TTL, REFRESH_MAX, REFRESH_MIN } from '../src/network-map/constants.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Counters, DialLink, NodeInfo, StartOptions } from './network-map-worker.js'
import type { ChildProcess } from 'node:child_process'

/** Average degree of the random graph (ring plus seeded chords), as bench/network-map.ts */
const DEGREE = 5
/** A newcomer links to this many existing nodes */
const JOIN_LINKS = 2
const DEFAULT_TTL = DEFAULT_RECORD_TTL
/** The mean refresh, as a share of the TTL */
const REFRESH_MEAN = (REFRESH_MIN + REFRESH_MAX) / 2
/** 1 % of the nodes join and 1 % leave per minute */
const CHURN_PER_MIN = 0.01
/** Above this event-loop delay p99 (ms) a worker is the bottleneck, not the map */
const HONEST_LOOP_P99 = 100
const TOPIC = 'netmap-bench'

export interface MultiOptions {
  sizes: number[]
  /** Worker processes; each holds a block of N / workers nodes */
  workers: number
  /** Join and leave rounds per size: each round is one join + clean stop and one join + abrupt loss */
  rounds: number
  /** Record TTL of the map nodes, in ms */
  recordTtl?: number
  /** The steady-state window for refresh traffic, in ms; 0 skips it (bytes per node per second is then null) */
  windowMs?: number
  /** Deadline of the cold-start convergence, in ms */
  fullTimeout?: (n: number) => number
  /** Deadline of the cold start's dials, in ms (default 120 s + 0.6 s per node) */
  dialTimeout?: (n: number) => number
  /** Deadline of each join or leave, in ms */
  eventTimeout?: number
  log?: (line: string) => void
}

const now = (): number => performance.timeOrigin + performance.now()
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const mean = (values: number[]): number | null => values.length === 0 ? null : values.reduce((s, v) => s + v, 0) / values.length

/** Worker processes still running: killed if the coordinator exits first */
const live = new Set<ChildProcess>()
process.once('exit', () => { for (const child of live) { child.kill('SIGKILL') } })

/** One worker process and its command channel */
class Worker {
  private nextId = 0
  private readonly pending = new Map<number, { resolve(v: unknown): void, reject(e: Error): void }>()
  private constructor (readonly child: ChildProcess) {
    child.on('message', (msg: { id?: number, result?: unknown, error?: string }) => {
      if (msg.id == null) { return }
      const p = this.pending.get(msg.id)
      this.pending.delete(msg.id)
      if (msg.error != null) { p?.reject(new Error(msg.error)) } else { p?.resolve(msg.result) }
    })
    child.on('exit', code => {
      for (const p of this.pending.values()) { p.reject(new Error(`worker exited with ${code}`)) }
      this.pending.clear()
    })
  }

  static async spawn (): Promise<Worker> {
    const child = fork(new URL('./network-map-worker.js', import.meta.url), [], {
      execArgv: ['--expose-gc', '--max-old-space-size=8192'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    live.add(child)
    child.once('exit', () => { live.delete(child) })
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => { resolve() })
      child.once('exit', code => { reject(new Error(`worker exited with ${code} before it was ready`)) })
    })
    return new Worker(child)
  }

  async call<T> (op: string, args: Record<string, unknown> = {}, timeout = 600_000): Promise<T> {
    const id = this.nextId++
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      return await new Promise<T>((resolve, reject) => {
        this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
        timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`worker command ${op} timed out after ${timeout} ms`)) }, timeout)
        this.child.send({ id, op, ...args })
      })
    } finally {
      clearTimeout(timer)
    }
  }

  kill (): void {
    if (this.child.exitCode == null) { this.child.kill('SIGKILL') }
  }
}

/** A set of workers holding blocks of N nodes */
class Cluster {
  readonly infos = new Map<number, NodeInfo>()
  readonly owner = new Map<number, number>()
  private constructor (readonly workers: Worker[], readonly n: number, readonly log: (line: string) => void) {}

  static async spawn (workers: number, n: number, log: (line: string) => void): Promise<Cluster> {
    return new Cluster(await Promise.all(Array.from({ length: workers }, async () => Worker.spawn())), n, log)
  }

  async all<T> (op: string, args: Record<string, unknown> = {}, timeout?: number): Promise<T[]> {
    return Promise.all(this.workers.map(async w => w.call<T>(op, args, timeout)))
  }

  /** Heap used after GC, summed over the workers */
  async heap (): Promise<number> {
    return (await this.all<number>('heap')).reduce((s, v) => s + v, 0)
  }

  /** Event-loop delay since the last call: the worst p99 and every worker's, in ms */
  async loop (): Promise<{ p99: number, perWorker: number[], max: number }> {
    const all = await this.all<{ p99: number, max: number }>('loop')
    const perWorker = all.map(x => Math.round(x.p99))
    return { p99: Math.max(...perWorker), perWorker, max: Math.round(Math.max(...all.map(x => x.max))) }
  }

  async counters (): Promise<Counters> {
    const all = await this.all<Counters>('counters')
    return {
      bytesSent: all.reduce((s, c) => s + c.bytesSent, 0),
      refreshBytesSent: all.reduce((s, c) => s + c.refreshBytesSent, 0),
      recordsIssued: all.reduce((s, c) => s + c.recordsIssued, 0),
      reissuesSkipped: all.reduce((s, c) => s + c.reissuesSkipped, 0),
      recordsRejected: all.reduce((s, c) => s + c.recordsRejected, 0),
      streamsRefused: all.reduce((s, c) => s + c.streamsRefused, 0),
      nodesMissing: Math.max(...all.map(c => c.nodesMissing))
    }
  }

  async start (options: Omit<StartOptions, 'indices'>, timeout: number): Promise<void> {
    const w = this.workers.length
    const blocks = this.workers.map((_, k) => Array.from({ length: this.n }, (_, i) => i).filter(i => Math.floor(i * w / this.n) === k))
    const started = await Promise.all(this.workers.map(async (worker, k) => worker.call<NodeInfo[]>('start', { options: { ...options, indices: blocks[k] } }, timeout)))
    started.forEach((infos, k) => { infos.forEach(i => { this.infos.set(i.index, i); this.owner.set(i.index, k) }) })
  }

  /** The address `from` dials `to` on: memory within a worker, TCP between workers */
  addr (from: number, to: number): string {
    const info = this.infos.get(to)
    if (info == null) { throw new Error(`no node ${to}`) }
    return this.owner.get(from) === this.owner.get(to) ? info.memory : info.tcp
  }

  /** Dial every pair (the lower index dials); the number of links that failed */
  async connect (pairs: Array<[number, number]>, timeout: number): Promise<number> {
    const byWorker = this.workers.map(() => [] as DialLink[])
    for (const [a, b] of pairs) {
      byWorker[this.owner.get(a) ?? 0].push({ from: a, addr: this.addr(a, b) })
    }
    const deadline = now() + timeout
    const started = now()
    let done = false
    const dialled = Promise.all(this.workers.map(async (w, k) => w.call<{ failed: number, errors: string[] }>('dial', { links: byWorker[k], deadline }, timeout + 120_000))).finally(() => { done = true })
    // a long cold start (N = 1 000 on 2 cores) logs how far it got once a minute
    while (!done) {
      await Promise.race([dialled.catch(() => {}), sleep(60_000)])
      if (!done) { this.log(`dials: ${await this.edgeCount()} of ${pairs.length} links open after ${Math.round((now() - started) / 1000)} s`) }
    }
    const results = await dialled
    const errors = results.flatMap(r => r.errors)
    if (errors.length > 0) { this.log(`dial failures, e.g. ${errors.join('; ')}`) }
    return results.reduce((s, r) => s + r.failed, 0)
  }

  /**
   * Log what may keep maps short: connections identify never completed on
   * (it timed out), connections a node's own record does not list, and
   * which nodes the maps lack (index: how many maps lack it), with the map size at each of those nodes
   */
  async diagnose (label: string): Promise<void> {
    const index = new Map([...this.infos.values()].map(i => [i.peerId, i.index]))
    const all = await this.all<{ unidentified: Array<[string, string]>, unlisted: number, missing: Record<string, number>, sizes: Record<string, number> }>('diagnose', { peers: [...index.keys()] })
    const pairs = all.flatMap(d => d.unidentified).map(([a, b]) => `${index.get(a)}->${index.get(b)}`)
    const missing: Record<string, number> = {}
    const sizes: Record<string, number> = {}
    for (const d of all) {
      for (const [id, count] of Object.entries(d.missing)) { missing[id] = (missing[id] ?? 0) + count }
      Object.assign(sizes, d.sizes)
    }
    const lacked = Object.entries(missing).sort((x, y) => y[1] - x[1]).slice(0, 20).map(([id, count]) => `${index.get(id)}: ${count} maps (its own map: ${sizes[id]} nodes)`)
    this.log(`diagnose ${label}: ${pairs.length} connections with no peer:identify (from->to: ${pairs.slice(0, 40).join(' ')}), ` +
      `${all.reduce((s, d) => s + d.unlisted, 0)} connections not in the node's own record; nodes the maps lack: ${lacked.length === 0 ? 'none' : lacked.join(', ')}`)
  }

  /** Open links among the N nodes, each pair once */
  async edgeCount (): Promise<number> {
    const ids = new Set([...this.infos.values()].map(i => i.peerId))
    const pairs = new Set<string>()
    for (const list of await this.all<Array<[string, string]>>('links')) {
      for (const [a, b] of list) {
        if (ids.has(b)) { pairs.add(a < b ? `${a}|${b}` : `${b}|${a}`) }
      }
    }
    return pairs.size
  }

  async close (): Promise<void> {
    await Promise.allSettled(this.workers.map(async w => w.call('stop', {}, 60_000)))
    this.workers.forEach(w => { w.kill() })
  }
}

/** The p-th percentile counting each missed sample as never converging: null when the missed ones reach it */
function percentileOrNull (samples: number[], missed: number, p: number): number | null {
  if (samples.length + missed === 0) { return null }
  const v = percentile([...samples, ...Array.from({ length: missed }, () => Infinity)], p)
  return Number.isFinite(v) ? v : null
}

interface Phase { p99: number, perWorker: number[], max: number }

function loopExtra (loop: Phase | undefined): Record<string, unknown> {
  if (loop == null) { return { event_loop_p99_ms: null } }
  const honest = loop.p99 <= HONEST_LOOP_P99
  return {
    event_loop_p99_ms: loop.p99,
    event_loop_p99_ms_per_worker: loop.perWorker,
    event_loop_max_ms: loop.max,
    honest,
    ...(honest ? {} : { note: `event-loop p99 ${loop.p99} ms > ${HONEST_LOOP_P99} ms: the simulator, not the map, sets this figure` })
  }
}

async function stockHeap (n: number, workers: number, pairs: Array<[number, number]>, log: (l: string) => void): Promise<{ perNode: number | null, loop?: Phase }> {
  const cluster = await Cluster.spawn(workers, n, log)
  try {
    const before = await cluster.heap()
    await cluster.loop()
    await cluster.start({ kind: 'stock', recordTtl: DEFAULT_TTL, maxNodes: 0, topic: TOPIC }, 120_000 + n * 200)
    const failed = await cluster.connect(pairs, 120_000 + n * 600)
    // let heartbeats and meshes form so both sides hold their steady state
    await sleep(3_000)
    const after = await cluster.heap()
    const loop = await cluster.loop()
    log(`stock N=${n}: ${failed} dials failed, ${((after - before) / n / 2 ** 20).toFixed(2)} MiB/node, loop p99 ${loop.p99} ms`)
    return { perNode: (after - before) / n, loop }
  } catch (err) {
    log(`stock N=${n} failed: ${(err as Error).message}`)
    return { perNode: null }
  } finally {
    await cluster.close()
  }
}

async function runOne (n: number, options: MultiOptions, log: (l: string) => void): Promise<Metric[]> {
  const workers = Math.min(options.workers, n)
  const ttl = options.recordTtl ?? DEFAULT_TTL
  // every node re-issues about once in 0.65 TTL; at the default TTL that is 20 minutes, and 2 minutes show the link checks
  const windowMs = options.windowMs ?? Math.min(ttl * REFRESH_MAX, 120_000)
  const eventTimeout = options.eventTimeout ?? 60_000
  const fullTimeout = options.fullTimeout?.(n) ?? 120_000 + n * 480
  // held records: every node, the newcomers and their goodbyes; peers raise the cap together
  const maxNodes = Math.max(1000, n + 2 * options.rounds + 100)
  const pairs = randomGraph(n, DEGREE)
  const load = [loadavg()[0]]

  const stock = await stockHeap(n, workers, pairs, log)
  load.push(loadavg()[0])

  const cluster = await Cluster.spawn(workers, n, log)
  const loops: Record<string, Phase> = {}
  let fullS: number | null = null
  let fullShort = ''
  let edges = 0
  let failedDials = 0
  let refreshPerReissue: number | null = null
  let otherPerNodeS: number | null = null
  let reissues = 0
  let heapPerNode: number | null = null
  const join: number[] = []
  const leave: number[] = []
  const abrupt: number[] = []
  const missed = { join: 0, leave: 0, abrupt: 0 }
  const joinBytes: number[] = []
  const leaveBytes: number[] = []
  /** Bytes per record version a clean leave flooded (its goodbye and its neighbours' re-issues): what a refresh floods too */
  const perVersion: number[] = []
  let counters: Counters | undefined
  try {
    const before = await cluster.heap()
    await cluster.start({ kind: 'membrane', recordTtl: ttl, maxNodes, topic: TOPIC }, 120_000 + n * 200)
    await cluster.loop()
    failedDials = await cluster.connect(pairs, options.dialTimeout?.(n) ?? 120_000 + n * 600)
    // map.full.s: from the last dial of a cold start until every map holds every node and edge
    const lastDial = now()
    edges = await cluster.edgeCount()
    await cluster.diagnose('right after the dials').catch(err => { log(`diagnose failed: ${(err as Error).message}`) })
    log(`membrane N=${n}: dialled (${failedDials} failed, ${edges} edges), waiting for full maps (deadline ${fullTimeout / 1000} s)`)
    type Full = { at: number | null, done: number, short?: { size: [number, number], edges: [number, number] } }
    let waiting = true
    const fullPromise = cluster.all<Full>('full', { n, edges, deadline: now() + fullTimeout }, fullTimeout + 60_000).finally(() => { waiting = false })
    // a link lost (or redialled) meanwhile changes what "every edge" means: follow the true graph
    while (waiting) {
      await Promise.race([fullPromise.catch(() => {}), sleep(5_000)])
      if (!waiting) { break }
      const current = await cluster.edgeCount()
      if (current !== edges) {
        log(`membrane N=${n}: the graph now has ${current} edges (was ${edges})`)
        edges = current
        await cluster.all('full:edges', { edges })
      }
    }
    const full = await fullPromise
    await cluster.diagnose('at the full-maps deadline or when every map was full').catch(err => { log(`diagnose failed: ${(err as Error).message}`) })
    if (full.every(f => f.at != null)) {
      fullS = Math.max(0, Math.max(...full.map(f => f.at ?? 0)) - lastDial) / 1000
    }
    loops.full = await cluster.loop()
    const short = full.filter(f => f.short != null).map(f => `sizes ${f.short?.size.join('–')}, edges ${f.short?.edges.join('–')}`)
    fullShort = short.join('; ')
    log(`membrane N=${n}: map.full.s ${fullS} (${full.map(f => f.done).join('+')} maps complete${short.length > 0 ? `; short maps: ${fullShort} of ${n} nodes, ${edges} edges` : ''}), loop p99 ${loops.full.p99} ms`)

    // refresh traffic: bytes per re-issue over a steady window, with no churn
    if (windowMs > 0) {
      const c0 = await cluster.counters()
      await cluster.all('reissues:start')
      await sleep(windowMs)
      reissues = (await cluster.all<number>('reissues:stop')).reduce((s, v) => s + v, 0)
      const c1 = await cluster.counters()
      // the refresh records and their frames; the rest of the window is the links' periodic checks
      // (at their default interval) and what they start
      const refreshBytes = c1.refreshBytesSent - c0.refreshBytesSent
      refreshPerReissue = reissues > 0 ? refreshBytes / reissues : null
      otherPerNodeS = (c1.bytesSent - c0.bytesSent - refreshBytes) / n / (windowMs / 1000)
      loops.steady = await cluster.loop()
      log(`membrane N=${n}: ${reissues} re-issues in ${windowMs / 1000} s, ${refreshPerReissue?.toFixed(0)} B each, loop p99 ${loops.steady.p99} ms`)
    }
    heapPerNode = (await cluster.heap() - before) / n
    // what a join or leave costs: every map byte sent meanwhile but the refreshes pushed (records that
    // changed nothing but seq, expiry and RTTs), which come at their own rate whatever the churn
    // and the records issued by then, from the same poll of the workers
    const changeBytes = async (): Promise<{ bytes: number, issued: number }> => { const c = await cluster.counters(); return { bytes: c.bytesSent - c.refreshBytesSent, issued: c.recordsIssued } }

    await cluster.loop()
    for (let r = 0; r < options.rounds; r++) {
      const targets = Array.from({ length: JOIN_LINKS }, (_, i) => (r * 13 + i * Math.floor(n / JOIN_LINKS)) % n)
      for (const how of ['clean', 'abrupt'] as const) {
        const index = n + 2 * r + (how === 'clean' ? 0 : 1)
        const hostIndex = (2 * r + (how === 'clean' ? 0 : 1)) % cluster.workers.length
        const host = cluster.workers[hostIndex]
        const info = await host.call<NodeInfo>('newcomer', { index, options: { kind: 'membrane', recordTtl: ttl, maxNodes, topic: TOPIC, indices: [] } })
        cluster.infos.set(index, info)
        cluster.owner.set(index, hostIndex)
        const b0 = await changeBytes()
        await cluster.all('arm', { kind: 'join', peer: info.peerId, links: JOIN_LINKS })
        const dialled = await host.call<{ t0: number, failed: number, errors: string[] }>('act', { index, action: 'dial', addrs: targets.map(t => cluster.addr(index, t)) })
        if (dialled.failed > 0) { log(`newcomer ${index}: ${dialled.failed} dials failed: ${dialled.errors.join('; ')}`) }
        const joined = await cluster.all<{ times: number[], missed: number }>('collect', { deadline: dialled.t0 + eventTimeout }, eventTimeout + 30_000)
        join.push(...joined.flatMap(j => j.times.map(t => t - dialled.t0)))
        const joinMissed = joined.reduce((s, j) => s + j.missed, 0)
        missed.join += joinMissed
        await host.call('newcomer:full', { index, n: n + 1, deadline: now() + eventTimeout }, eventTimeout + 30_000)
        // the newcomer's and its neighbours' re-issues have settled once every map agrees
        await sleep(500)
        const b1 = await changeBytes()
        if (joinMissed === 0 && dialled.failed === 0) {
          joinBytes.push(b1.bytes - b0.bytes)
        }

        await cluster.all('arm', { kind: 'leave', peer: info.peerId, links: JOIN_LINKS })
        const left = await host.call<{ t0: number }>('act', { index, action: how === 'clean' ? 'stop' : 'abort' })
        const gone = await cluster.all<{ times: number[], missed: number }>('collect', { deadline: left.t0 + eventTimeout }, eventTimeout + 30_000)
        ;(how === 'clean' ? leave : abrupt).push(...gone.flatMap(j => j.times.map(t => t - left.t0)))
        const leaveMissed = gone.reduce((s, j) => s + j.missed, 0)
        missed[how === 'clean' ? 'leave' : 'abrupt'] += leaveMissed
        await sleep(500)
        const b3 = await changeBytes()
        if (leaveMissed === 0) {
          leaveBytes.push(b3.bytes - b1.bytes)
          if (how === 'clean' && b3.issued > b1.issued) { perVersion.push((b3.bytes - b1.bytes) / (b3.issued - b1.issued)) }
        }
        if (how === 'abrupt') { await host.call('newcomer:stop', { index }) }
        log(`membrane N=${n} round ${r} ${how}: join p99 ${percentileOrNull(joined.flatMap(j => j.times.map(t => t - dialled.t0)), joinMissed, 99)?.toFixed(0)} ms (${joinMissed} missed), leave p99 ${percentileOrNull(gone.flatMap(j => j.times.map(t => t - left.t0)), leaveMissed, 99)?.toFixed(0)} ms (${leaveMissed} missed)`)
      }
    }
    loops.churn = await cluster.loop()
    counters = await cluster.counters()
  } catch (err) {
    log(`membrane N=${n} stopped early: ${(err as Error).stack}`)
  } finally {
    await cluster.close()
  }
  load.push(loadavg()[0])

  const extra = {
    harness: 'multi-process',
    nodes: n,
    workers,
    degree: DEGREE,
    edges,
    failed_dials: failedDials,
    join_links: JOIN_LINKS,
    transport: 'memory within a worker, TCP loopback between workers (noise + yamux)',
    rounds: options.rounds,
    record_ttl_ms: ttl,
    max_nodes: maxNodes,
    records_rejected: counters?.recordsRejected,
    records_issued: counters?.recordsIssued,
    reissues_skipped: counters?.reissuesSkipped,
    streams_refused: counters?.streamsRefused,
    load_average_1m: load.map(l => Math.round(l * 10) / 10)
  }
  // refreshes seen in the steady window give the bytes per re-issue; with none (a TTL too long for the
  // window) a clean leave's bytes per version it flooded stand in: a refresh floods one version the same way
  const perReissue = refreshPerReissue ?? mean(perVersion)
  const refreshAtDefault = perReissue == null ? null : perReissue / (REFRESH_MEAN * DEFAULT_TTL / 1000)
  const perJoin = mean(joinBytes)
  const perLeave = mean(leaveBytes)
  // 1 % of the nodes join and 1 % leave per minute, each costing its bytes over all N nodes
  const churnPerNodeS = perJoin == null || perLeave == null ? null : CHURN_PER_MIN / 60 * (perJoin + perLeave)
  const withLoop = (phase: string, more: Record<string, unknown> = {}): Record<string, unknown> => ({ ...extra, ...more, ...loopExtra(loops[phase]) })
  return [
    metric('map.full.s', 's', fullS, null, n, withLoop('full', { deadline_s: fullTimeout / 1000, ...(fullS == null ? { at_deadline: fullShort } : {}) })),
    metric('map.converge.join.p50', 'ms', percentileOrNull(join, missed.join, 50), null, n, withLoop('churn', { samples: join.length, missed: missed.join })),
    metric('map.converge.join.p99', 'ms', percentileOrNull(join, missed.join, 99), null, n, withLoop('churn', { samples: join.length, missed: missed.join })),
    metric('map.converge.leave.p99', 'ms', percentileOrNull(leave, missed.leave, 99), null, n, withLoop('churn', { how: 'clean stop (goodbye)', samples: leave.length, missed: missed.leave })),
    metric('map.converge.leave_abrupt.p99', 'ms', percentileOrNull(abrupt, missed.abrupt, 99), null, n, withLoop('churn', { how: 'links aborted, no goodbye; the transport reports the loss at once', samples: abrupt.length, missed: missed.abrupt })),
    metric('map.bytes_per_join', 'B', perJoin, null, n, withLoop('churn', {
      per_node: perJoin == null ? null : Math.round(perJoin / n),
      leave_bytes: perLeave == null ? null : Math.round(perLeave),
      joins_counted: joinBytes.length,
      counted: 'map frame bytes all nodes sent from the first dial until every map agrees, + 0.5 s, but the refreshes pushed meanwhile (NetworkMapStats.refreshBytesSent)'
    })),
    metric('map.bytes_per_node_s', 'B/s', refreshAtDefault == null || churnPerNodeS == null || otherPerNodeS == null ? null : refreshAtDefault + otherPerNodeS + churnPerNodeS, null, n, withLoop('steady', {
      refresh_bytes_per_reissue: refreshPerReissue == null ? null : Math.round(refreshPerReissue),
      bytes_per_version_of_a_clean_leave: perVersion.length === 0 ? null : Math.round(mean(perVersion)!),
      reissues_in_window: reissues,
      window_s: windowMs / 1000,
      refresh_at_default_ttl: refreshAtDefault == null ? null : Math.round(refreshAtDefault),
      link_checks: otherPerNodeS == null ? null : Math.round(otherPerNodeS),
      churn_1pct_per_min: churnPerNodeS == null ? null : Math.round(churnPerNodeS),
      counted: 'map frame bytes sent (before yamux/noise); a node re-issues once per 0.475 TTL on average'
    })),
    metric('memory.heap_per_node', 'MiB', heapPerNode == null ? null : heapPerNode / 2 ** 20, stock.perNode == null ? null : stock.perNode / 2 ** 20, n, {
      ...extra,
      membrane_nodes: 'libp2p + identify + gossipsub + network map, after the steady window',
      stock_nodes: 'libp2p + identify + gossipsub, same graph, topic and workers, separate processes',
      counted: 'heapUsed after GC, minus before start, summed over the workers, / N',
      ...loopExtra(loops.steady ?? loops.full),
      stock_event_loop_p99_ms: stock.loop?.p99
    })
  ]
}

/** Run every size in turn; each phase has a deadline and a figure it cannot measure in time is null */
export async function runNetworkMapMulti (options: MultiOptions): Promise<Metric[]> {
  const log = options.log ?? ((line: string) => { process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`) })
  const metrics: Metric[] = []
  for (const n of options.sizes) {
    const these = await runOne(n, options, log)
    // on stderr at once too: a later size that overruns the session still leaves these
    these.forEach(m => { log(`N=${n} ${JSON.stringify(m)}`) })
    metrics.push(...these)
  }
  return metrics
}

/**
 * Network map at N = 100, 300 and 1000 (`--quick`: 200) over worker processes,
 * beside stock libp2p + gossipsub nodes for heap. `MEMBRANE_BENCH_NETMAP_N`
 * picks other sizes, `MEMBRANE_BENCH_NETMAP_WORKERS` the worker count (default:
 * one per core), `MEMBRANE_BENCH_NETMAP_WINDOW_S` the steady window (default
 * 0.65 TTL, so that every node re-issues about once, at most 2 minutes), `MEMBRANE_BENCH_NETMAP_ROUNDS`
 * the join/leave rounds (default 3, `--quick` 2), `MEMBRANE_BENCH_NETMAP_DIAL_S` the deadline of
 * the cold start's dials (default 120 s + 0.6 s per node: 720 s at N = 1 000; links not dialled by
 * then count as failed and the run goes on with the graph it has), `MEMBRANE_BENCH_NETMAP_FULL_S` the
 * deadline of the full maps after the last dial (default 120 s + 0.48 s per node).
 */
export async function networkMapMultiBench (options: BenchOptions): Promise<Metric[]> {
  const custom = process.env.MEMBRANE_BENCH_NETMAP_N?.split(',').map(Number).filter(n => n > 1)
  const sizes = custom != null && custom.length > 0 ? custom : options.quick ? [200] : [100, 300, 1000]
  const window = process.env.MEMBRANE_BENCH_NETMAP_WINDOW_S
  const dial = process.env.MEMBRANE_BENCH_NETMAP_DIAL_S
  const full = process.env.MEMBRANE_BENCH_NETMAP_FULL_S
  return runNetworkMapMulti({
    sizes,
    workers: Number(process.env.MEMBRANE_BENCH_NETMAP_WORKERS ?? availableParallelism()),
    rounds: Number(process.env.MEMBRANE_BENCH_NETMAP_ROUNDS ?? (options.quick ? 2 : 3)),
    // --quick: a 60 s TTL so the window is 39 s; the bytes per re-issue do not depend on the TTL
    // the full run: the default TTL, as users run it (a 5 min TTL refreshed every node during the 1 000-node
    // wiring, and those floods kept it from finishing); refresh bytes then come from the clean leaves
    recordTtl: options.quick ? 60_000 : DEFAULT_TTL,
    windowMs: window == null ? undefined : Number(window) * 1000,
    dialTimeout: dial == null ? undefined : () => Number(dial) * 1000,
    fullTimeout: full == null ? undefined : () => Number(full) * 1000
  })
}
