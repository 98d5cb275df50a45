/**
 * `npm run bench -- --only webrtc-dial`: relay → `/p2p-circuit/webrtc` dials
 * on loopback, stock `@libp2p/webrtc` against the same nodes with Membrane's
 * Node WebRTC guards (`installNodeWebRTCGuards()` + the `liveLinks` service).
 *
 * The guards patch the RTCPeerConnection class process-wide, so each side runs
 * in child processes of its own (the stock ones never load Membrane), in
 * alternating blocks so that load drifts hit both alike. Each block: a relay
 * server R and peers P, Q (TCP to R, WebRTC between them); P dials
 * R/p2p-circuit/webrtc/p2p/Q, waits for identify, closes, and again (the
 * first dial of a block warms the process up and is not counted).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Connection, Libp2p } from '@libp2p/interface'

const WORKER_FLAG = '--webrtc-dial-worker'
const second = 1000
/** One dial's deadline: stock's stalled dials wait for it */
const DIAL_TIMEOUT = 10 * second
const IDENTIFY_TIMEOUT = 3 * second
const CLOSE_TIMEOUT = 5 * second
const START_TIMEOUT = 30 * second
/** One block (child process) may take this long at most */
const BLOCK_TIMEOUT = 8 * 60 * second
/** The whole bench */
const OVERALL_TIMEOUT = { quick: 5 * 60 * second, full: 30 * 60 * second }
const BLOCK = 25
/** `WEBRTC_DIAL_TRACE=1`: each dial's start and time on stderr, to line up with native logs */
const trace = process.env.WEBRTC_DIAL_TRACE === '1'

type Side = 'stock' | 'membrane'

/** What one block measured */
interface BlockResult {
  side: Side
  times: number[]
  /** ms from the dial's start to its failure */
  failureTimes: number[]
  errors: Record<string, number>
  uncaught: number
  /** Membrane side: the dial guard's counters */
  guard?: Record<string, number>
}

const progress = (line: string): void => { process.stderr.write(`webrtc-dial: ${line}\n`) }
const errorName = (err: unknown): string => err instanceof Error ? err.name : typeof err === 'object' && err != null ? `non-Error ${Object.prototype.toString.call(err)}` : 'non-Error'

async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  promise.catch(() => {})
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: deadline`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

async function until (predicate: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > end) { throw new Error(`${what}: deadline`) }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** One block of `dials` dials, in this (child) process */
async function worker (side: Side, dials: number): Promise<BlockResult> {
  const out: BlockResult = { side, times: [], failureTimes: [], errors: {}, uncaught: 0 }
  // stock @libp2p/webrtc can throw from a stream after its connection closed
  process.on('uncaughtException', () => { out.uncaught++ })
  process.on('unhandledRejection', () => { out.uncaught++ })
  const { noise } = await import('@chainsafe/libp2p-noise')
  const { yamux } = await import('@chainsafe/libp2p-yamux')
  const { circuitRelayServer, circuitRelayTransport } = await import('@libp2p/circuit-relay-v2')
  const { identify } = await import('@libp2p/identify')
  const { tcp } = await import('@libp2p/tcp')
  const { webRTC } = await import('@libp2p/webrtc')
  const { WebRTC } = await import('@multiformats/multiaddr-matcher')
  const { createLibp2p } = await import('libp2p')
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let extra: Record<string, any> = {}
  let guardStats = (): Record<string, number> | undefined => undefined
  if (side === 'membrane') {
    const { installNodeWebRTCGuards } = await import('../src/presets/node.js')
    const { liveLinks } = await import('../src/webrtc/live-links.js')
    const { dialGuardStats } = await import('../src/webrtc/dial-guard.js')
    installNodeWebRTCGuards()
    extra = { liveLinks: liveLinks() }
    guardStats = () => ({ ...dialGuardStats() })
  }
  const nodes: Libp2p[] = []
  try {
    const relay = await withTimeout(createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), relay: circuitRelayServer() }
    }), START_TIMEOUT, 'start')
    nodes.push(relay)
    const peer = async (): Promise<Libp2p> => {
      const node = await withTimeout(createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'] },
        transports: [tcp(), webRTC({ rtcConfiguration: { iceServers: [] } }), circuitRelayTransport()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionGater: { denyDialMultiaddr: () => false },
        services: { identify: identify(), ...extra }
      }), START_TIMEOUT, 'start')
      nodes.push(node)
      return node
    }
    const p = await peer()
    const q = await peer()
    await withTimeout(q.dial(relay.getMultiaddrs()[0]), START_TIMEOUT, 'dial relay')
    await withTimeout(p.dial(relay.getMultiaddrs()[0]), START_TIMEOUT, 'dial relay')
    await until(() => q.getMultiaddrs().some(ma => WebRTC.exactMatch(ma)), START_TIMEOUT, 'reservation')
    const target = q.getMultiaddrs().find(ma => WebRTC.exactMatch(ma))
    if (target == null) { throw new Error('no /p2p-circuit/webrtc address') }
    const webrtcTo = (node: Libp2p, other: Libp2p): Connection[] => node.getConnections(other.peerId).filter(c => WebRTC.exactMatch(c.remoteAddr))

    let identified = 0
    p.addEventListener('peer:identify', (evt) => {
      if (evt.detail.peerId.equals(q.peerId) && WebRTC.exactMatch(evt.detail.connection.remoteAddr)) { identified++ }
    })

    // dial -1 warms the process up (first certificate, thread pool, JIT) and is not counted:
    // each block is a fresh process, and its first dial costs 300–500 ms on either side
    for (let i = -1; i < dials; i++) {
      const seen = identified
      if (trace) { process.stderr.write(`dial ${i} start\n`) }
      const begun = performance.now()
      try {
        const connection = await withTimeout(p.dial(target, { signal: AbortSignal.timeout(DIAL_TIMEOUT) }), DIAL_TIMEOUT + second, 'dial')
        if (!WebRTC.exactMatch(connection.remoteAddr)) { throw new Error(`dial gave ${connection.remoteAddr.toString()}`) }
        if (i >= 0) { out.times.push(performance.now() - begun) }
        if (trace) { process.stderr.write(`dial ${i} ok ${Math.round(performance.now() - begun)} ms\n`) }
      } catch (err) {
        if (i >= 0) {
          out.failureTimes.push(performance.now() - begun)
          out.errors[errorName(err)] = (out.errors[errorName(err)] ?? 0) + 1
        }
      }
      // identify over the new link first: closing it mid-negotiation makes stock @libp2p/webrtc throw later
      await until(() => identified > seen || webrtcTo(p, q).length === 0, IDENTIFY_TIMEOUT, 'identify').catch(() => {})
      await Promise.allSettled(webrtcTo(p, q).map(async c => c.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT) }).catch(() => { c.abort(new Error('bench: close')) })))
      await until(() => webrtcTo(p, q).length === 0 && webrtcTo(q, p).length === 0, CLOSE_TIMEOUT, 'closed').catch(() => {
        for (const c of [...webrtcTo(p, q), ...webrtcTo(q, p)]) { c.abort(new Error('bench: close timed out')) }
      })
    }
  } finally {
    await Promise.allSettled(nodes.map(async n => withTimeout(Promise.resolve(n.stop()), 10 * second, 'stop')))
  }
  out.guard = guardStats()
  return out
}

/** Run one block in a child process; null when it died or overran */
async function block (side: Side, dials: number, signal: AbortSignal): Promise<BlockResult | null> {
  return new Promise(resolve => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), WORKER_FLAG, side, String(dials)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    const kill = (): void => { child.kill('SIGKILL') }
    const timer = setTimeout(kill, BLOCK_TIMEOUT)
    signal.addEventListener('abort', kill, { once: true })
    child.on('exit', () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', kill)
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as BlockResult)
      } catch {
        resolve(null)
      }
    })
  })
}

const round = (v: number): number => Math.round(v)

/** Dial counts per time bucket, so both clusters show */
function histogram (times: number[]): Record<string, number> {
  const edges = [50, 100, 150, 200, 300, 500, 900, 1500]
  const out: Record<string, number> = {}
  let lower = 0
  for (const edge of [...edges, Infinity]) {
    const key = edge === Infinity ? `>=${lower}` : `${lower}-${edge}`
    out[key] = times.filter(t => t >= lower && t < edge).length
    lower = edge
  }
  return out
}

export async function webrtcDialBench (options: BenchOptions): Promise<Metric[]> {
  const dials = options.quick ? 50 : 200
  const overall = AbortSignal.timeout(options.quick ? OVERALL_TIMEOUT.quick : OVERALL_TIMEOUT.full)
  const results: Record<Side, BlockResult> = {
    stock: { side: 'stock', times: [], failureTimes: [], errors: {}, uncaught: 0 },
    membrane: { side: 'membrane', times: [], failureTimes: [], errors: {}, uncaught: 0 }
  }
  const attempted: Record<Side, number> = { stock: 0, membrane: 0 }
  const lostBlocks: Record<Side, number> = { stock: 0, membrane: 0 }
  for (let done = 0; done < dials && !overall.aborted; done += BLOCK) {
    const n = Math.min(BLOCK, dials - done)
    for (const side of ['stock', 'membrane'] as const) {
      const r = await block(side, n, overall)
      attempted[side] += n
      if (r == null) {
        lostBlocks[side]++
        continue
      }
      const into = results[side]
      into.times.push(...r.times)
      into.failureTimes.push(...r.failureTimes)
      into.uncaught += r.uncaught
      for (const [k, v] of Object.entries(r.errors)) { into.errors[k] = (into.errors[k] ?? 0) + v }
      if (r.guard != null) {
        into.guard ??= {}
        for (const [k, v] of Object.entries(r.guard)) { into.guard[k] = (into.guard[k] ?? 0) + v }
      }
      progress(`${side}: ${into.times.length}/${attempted[side]} ok, p50 ${round(percentile(into.times, 50))} ms, p95 ${round(percentile(into.times, 95))} ms`)
    }
  }

  const m = results.membrane
  const s = results.stock
  const stall = (t: number[]): number => t.filter(v => v >= 900 && v < 1500).length
  const dist = (r: BlockResult, side: Side): Record<string, unknown> => ({
    ok: r.times.length,
    attempted: attempted[side],
    failures: attempted[side] - r.times.length,
    max: r.times.length > 0 ? round(Math.max(...r.times)) : null,
    // dials in the ≈ 1 s cluster (the DTLS replay stall)
    stalled_1s: stall(r.times),
    p90: r.times.length > 0 ? round(percentile(r.times, 90)) : null,
    p99: r.times.length > 0 ? round(percentile(r.times, 99)) : null,
    histogram_ms: histogram(r.times),
    errors: r.errors,
    failure_ms_max: r.failureTimes.length > 0 ? round(Math.max(...r.failureTimes)) : null,
    uncaught: r.uncaught,
    lost_blocks: lostBlocks[side],
    ...(r.guard != null ? { guard: r.guard } : {})
  })
  const extra = {
    dials_per_side: dials,
    quick: options.quick,
    path: 'relay-server → /p2p-circuit/webrtc (node-datachannel), TCP loopback signaling',
    dial_timeout_ms: DIAL_TIMEOUT,
    membrane_is: 'the same stock nodes with installNodeWebRTCGuards() and the liveLinks service',
    aborted: overall.aborted
  }
  const success = (r: BlockResult, side: Side): number | null => attempted[side] > 0 ? r.times.length / attempted[side] : null
  return [
    metric('webrtc.dial.success', 'fraction', success(m, 'membrane'), success(s, 'stock'), dials, { ...extra, membrane_detail: dist(m, 'membrane'), stock_detail: dist(s, 'stock') }),
    metric('webrtc.dial.p50', 'ms', percentile(m.times, 50), percentile(s.times, 50), dials, extra),
    metric('webrtc.dial.p95', 'ms', percentile(m.times, 95), percentile(s.times, 95), dials, {
      ...extra,
      membrane_p95_over_p50: m.times.length > 0 ? Math.round(percentile(m.times, 95) / percentile(m.times, 50) * 100) / 100 : null,
      membrane_max: dist(m, 'membrane').max,
      stock_max: dist(s, 'stock').max
    })
  ]
}

if (process.argv[2] === WORKER_FLAG) {
  const side = process.argv[3] === 'membrane' ? 'membrane' : 'stock'
  const result = await worker(side, Number(process.argv[4]))
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}
