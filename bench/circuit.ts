import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { byteStream } from '@libp2p/utils'
import { webRTC } from '@libp2p/webrtc'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { createLibp2p } from 'libp2p'
import { startGraph } from '../test/fixtures/line.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Membrane } from '../src/index.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const SINK = '/bench/sink/1.0.0'
const rtc = { rtcConfiguration: { iceServers: [] } }
const second = 1000

/**
 * Deadlines. connect() may spend 2 WebRTC attempts of 4 s and then up to 20 s
 * opening the relay fallback, so one trial gets 35 s; a stock dial has no
 * fallback and gets 20 s. Data moves at tens of MB/s on loopback, so 60 s per
 * transfer only trips on a stall.
 */
const CONNECT_TIMEOUT = 35 * second
const DIAL_TIMEOUT = 20 * second
const TRANSFER_TIMEOUT = 60 * second
const CLOSE_TIMEOUT = 5 * second
const START_TIMEOUT = 60 * second
const STOP_TIMEOUT = 10 * second
/** The whole bench: after this it reports what it has measured */
const OVERALL_TIMEOUT = { quick: 4 * 60 * second, full: 15 * 60 * second }

const progress = (line: string): void => { process.stderr.write(`circuit: ${line}\n`) }

class DeadlineError extends Error {
  static name = 'DeadlineError'
  name = 'DeadlineError'
}

/** A signal that fires after `ms` or when `parent` fires */
function deadline (parent: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([parent, AbortSignal.timeout(ms)])
}

/**
 * Settle with `promise` or reject when `signal` fires, whichever is first, so
 * an operation that ignores its signal cannot hold the bench
 */
async function race<T> (promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  promise.catch(() => {})
  if (signal.aborted) {
    throw new DeadlineError(`${what}: deadline`)
  }
  let onAbort = (): void => {}
  const aborted = new Promise<never>((resolve, reject) => {
    onAbort = () => { reject(new DeadlineError(`${what}: deadline`)) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

async function until (predicate: () => boolean, signal: AbortSignal, what: string): Promise<void> {
  while (!predicate()) {
    if (signal.aborted) { throw new DeadlineError(`${what}: deadline`) }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** First arrival of each progress event type, ms after `begun`, into `into` */
function recordPhases (begun: number, into: Array<Record<string, number>>): (evt: { type: string }) => void {
  const phases: Record<string, number> = {}
  into.push(phases)
  return (evt) => { phases[evt.type] ??= performance.now() - begun }
}

/** `<prefix>.phase.<name>.p50` for every phase, in the order they end; stock's figure beside where it has the phase */
function phaseMetrics (prefix: string, membrane: Array<Record<string, number>>, stock: Array<Record<string, number>>): Metric[] {
  const at = (rs: Array<Record<string, number>>, name: string): number[] => rs.flatMap(r => r[name] ?? [])
  const names = [...new Set(membrane.flatMap(r => Object.keys(r)))]
  return names.map(name => ({ name, p50: percentile(at(membrane, name), 50) }))
    .sort((x, y) => x.p50 - y.p50)
    .map(({ name, p50 }) => metric(`${prefix}.phase.${name}.p50`, 'ms', p50, at(stock, name).length > 0 ? percentile(at(stock, name), 50) : null, at(membrane, name).length))
}

const errorName = (err: unknown): string => err instanceof Error ? err.name : 'Error'

/** Receive the length in the first 8 bytes, then that many bytes; answer one byte */
export async function handleSink (node: Libp2p): Promise<void> {
  await node.handle(SINK, async (stream) => {
    const signal = AbortSignal.timeout(TRANSFER_TIMEOUT)
    const reader = byteStream(stream, { maxBufferSize: 64 * 1024 * 1024 })
    try {
      const header = await reader.read({ bytes: 8, signal })
      const total = Number(new DataView(header.subarray().buffer, header.subarray().byteOffset).getBigUint64(0))
      let got = 0
      while (got < total) {
        const chunk = await reader.read({ signal })
        if (chunk == null) { throw new Error(`sink: stream ended at ${got}/${total} bytes`) }
        got += chunk.byteLength
      }
      stream.send(Uint8Array.of(1))
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }, { runOnLimitedConnection: true })
}

/** MB/s pushing `bytes` through `connection` to SINK until the one-byte answer */
export async function throughput (connection: Connection, bytes: number, parent: AbortSignal): Promise<number> {
  const signal = deadline(parent, TRANSFER_TIMEOUT)
  const stream: Stream = await race(connection.newStream(SINK, { runOnLimitedConnection: true, signal }), signal, 'newStream')
  const reader = byteStream(stream)
  try {
    const header = new Uint8Array(8)
    new DataView(header.buffer).setBigUint64(0, BigInt(bytes))
    const started = performance.now()
    stream.send(header)
    const chunk = new Uint8Array(64 * 1024)
    for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
      if (!stream.send(chunk.subarray(0, Math.min(chunk.byteLength, bytes - sent)))) {
        await race(stream.onDrain({ signal }), signal, 'drain')
      }
    }
    await race(reader.read({ bytes: 1, signal }), signal, 'answer')
    const seconds = (performance.now() - started) / 1000
    await race(stream.close({ signal }), signal, 'stream close').catch(() => { stream.abort(new Error('bench: close')) })
    return bytes / 1e6 / seconds
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

/** Close every connection between the two; true when both sides saw them go */
async function closeAll (node: Libp2p, peer: Libp2p, parent: AbortSignal): Promise<boolean> {
  // let identify finish first: closing a WebRTC connection mid-negotiation makes
  // @libp2p/webrtc throw an uncaught TimeoutError later
  await new Promise(resolve => setTimeout(resolve, 300))
  const signal = deadline(parent, CLOSE_TIMEOUT)
  const gone = (): boolean => node.getConnections(peer.peerId).length === 0 && peer.getConnections(node.peerId).length === 0
  try {
    await race(Promise.all(node.getConnections(peer.peerId).map(async c => c.close({ signal }).catch(() => { c.abort(new Error('bench: close')) }))), signal, 'close')
    await until(gone, signal, 'closed')
    return true
  } catch {
    for (const c of [...node.getConnections(peer.peerId), ...peer.getConnections(node.peerId)]) { c.abort(new Error('bench: close timed out')) }
    await until(gone, AbortSignal.timeout(CLOSE_TIMEOUT), 'aborted').catch(() => {})
    return false
  }
}

async function stopAll (nodes: Libp2p[]): Promise<void> {
  await Promise.allSettled(nodes.map(async n => race(Promise.resolve(n.stop()), AbortSignal.timeout(STOP_TIMEOUT), 'stop')))
}

/** What the runs measured so far; filled in place so a deadline keeps it */
interface Results {
  stock: { phases: Array<Record<string, number>>, times: number[], failures: number, errors: Record<string, number>, webrtc: number | null, relayV2: number | null, closeTimeouts: number, throughputFailures: string[] }
  membrane: { phases: Array<Array<Record<string, number>>>, times: number[][], usable: number[][], failures: number[], fallbacks: number[], errors: Record<string, number>, upgraded: number | null, relay: number | null, tcp: number | null, closeTimeouts: number, throughputFailures: string[] }
}

const count = (errors: Record<string, number>, err: unknown): void => { errors[errorName(err)] = (errors[errorName(err)] ?? 0) + 1 }

/** Stock libp2p: relay server R, peers P and Q; P dials R/p2p-circuit/webrtc/p2p/Q */
async function stockRun (trials: number, bytes: number, out: Results['stock'], overall: AbortSignal): Promise<void> {
  const started: Libp2p[] = []
  try {
    const start = deadline(overall, START_TIMEOUT)
    const relay = await race(createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), relay: circuitRelayServer() }
    }), start, 'stock start')
    started.push(relay)
    const peer = async (): Promise<Libp2p> => {
      const node = await race(createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'] },
        transports: [tcp(), webRTC(rtc), circuitRelayTransport()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionGater: { denyDialMultiaddr: () => false },
        services: { identify: identify() }
      }), start, 'stock start')
      started.push(node)
      return node
    }
    const p = await peer()
    const q = await peer()
    await handleSink(q)
    await race(q.dial(relay.getMultiaddrs()[0], { signal: start }), start, 'dial relay')
    await race(p.dial(relay.getMultiaddrs()[0], { signal: start }), start, 'dial relay')
    await until(() => q.getMultiaddrs().some(ma => WebRTC.exactMatch(ma)), start, 'reservation')
    const target = q.getMultiaddrs().find(ma => WebRTC.exactMatch(ma)) as Multiaddr
    for (let i = 0; i < trials && !overall.aborted; i++) {
      const signal = deadline(overall, DIAL_TIMEOUT)
      const begun = performance.now()
      const phases: Array<Record<string, number>> = []
      try {
        const conn = await race(p.dial(target, { signal, onProgress: recordPhases(begun, phases) }), signal, 'stock dial')
        if (!WebRTC.exactMatch(conn.remoteAddr)) { throw new Error(`stock dial gave ${conn.remoteAddr.toString()}`) }
        out.times.push(performance.now() - begun)
        out.phases.push(...phases)
      } catch (err) {
        out.failures++
        count(out.errors, err)
      }
      if (!await closeAll(p, q, overall)) { out.closeTimeouts++ }
    }
    progress(`stock: ${out.times.length}/${trials} ok, p50 ${percentile(out.times, 50).toFixed(0)} ms`)
    // the throughput link: a stock dial may fail, so try a few times
    for (let attempt = 0; attempt < 3 && out.webrtc == null && !overall.aborted; attempt++) {
      try {
        const signal = deadline(overall, DIAL_TIMEOUT)
        const conn = await race(p.dial(target, { signal }), signal, 'stock dial')
        out.webrtc = await throughput(conn, bytes, overall)
      } catch (err) {
        out.throughputFailures.push(errorName(err))
        await closeAll(p, q, overall)
      }
    }
    progress(`stock: webrtc ${out.webrtc?.toFixed(1) ?? '-'} MB/s`)
  } finally {
    await stopAll(started)
  }
  await stockRelayRun(bytes, out, overall)
}

/**
 * The fair reference for Membrane's relay fallback: one stock circuit relay
 * v2 hop over TCP loopback with its limits lifted (`applyDefaultLimit:
 * false`, so the relayed connection is unlimited), P → R → Q, the same
 * Noise + yamux end to end over it
 */
async function stockRelayRun (bytes: number, out: Results['stock'], overall: AbortSignal): Promise<void> {
  const started: Libp2p[] = []
  try {
    const start = deadline(overall, START_TIMEOUT)
    const base = (listen: string[]): Parameters<typeof createLibp2p>[0] => ({
      addresses: { listen },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false }
    })
    const node = async (relay: boolean): Promise<Libp2p> => {
      const n: Libp2p = await race(relay
        ? createLibp2p({ ...base(['/ip4/127.0.0.1/tcp/0']), services: { identify: identify(), relay: circuitRelayServer({ reservations: { applyDefaultLimit: false } }) } })
        : createLibp2p({ ...base(['/ip4/127.0.0.1/tcp/0', '/p2p-circuit']), services: { identify: identify() } }), start, 'stock relay start')
      started.push(n)
      return n
    }
    const relay = await node(true)
    const p = await node(false)
    const q = await node(false)
    await handleSink(q)
    await race(q.dial(relay.getMultiaddrs()[0], { signal: start }), start, 'dial relay')
    await until(() => q.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), start, 'reservation')
    const target = q.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit')) as Multiaddr
    const signal = deadline(overall, DIAL_TIMEOUT)
    const conn = await race(p.dial(target, { signal }), signal, 'stock relay dial')
    if (conn.limits != null) { throw new Error(`the stock relay hop is limited: ${JSON.stringify(conn.limits, (_k, v: unknown) => typeof v === 'bigint' ? String(v) : v)}`) }
    out.relayV2 = await throughput(conn, bytes, overall)
  } catch (err) {
    out.throughputFailures.push(`relay v2: ${errorName(err)}`)
  } finally {
    await stopAll(started)
  }
  progress(`stock: relay v2 hop ${out.relayV2?.toFixed(1) ?? '-'} MB/s`)
}

/** Membrane: a line 0–1–…–5 plus a WebRTC-less member 6 beside node 1 */
async function membraneRun (trials: number, bytes: number, out: Results['membrane'], overall: AbortSignal): Promise<void> {
  const circuit = { relayLimit: { bytes: 1024 * 1024 * 1024 }, forwardRate: 10_000 }
  const graph = startGraph([
    ...Array.from({ length: 6 }, () => ({ options: { meshCircuits: circuit } })),
    { noWebRTC: true, options: { meshCircuits: circuit } }
  ], [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [1, 6]])
  // a start that outlives its deadline still gets its nodes stopped
  graph.then(async nodes => { if (overall.aborted) { await stopAll(nodes) } }, () => {})
  const nodes = await race(graph, deadline(overall, START_TIMEOUT), 'membrane start')
  try {
    for (const n of nodes) { await handleSink(n) }
    const a = nodes[0]
    for (let hops = 1; hops <= 4 && !overall.aborted; hops++) {
      const target = nodes[hops + 1] as Membrane
      const route = nodes.slice(1, hops + 1).map(n => n.peerId)
      const samples: number[] = []
      const usable: number[] = []
      const phases: Array<Record<string, number>> = []
      out.phases.push(phases)
      out.times.push(samples)
      out.usable.push(usable)
      out.failures.push(0)
      out.fallbacks.push(0)
      for (let i = 0; i < trials && !overall.aborted; i++) {
        const signal = deadline(overall, CONNECT_TIMEOUT)
        const begun = performance.now()
        const trial: Array<Record<string, number>> = []
        try {
          // usable when the circuit's Noise handshake completes; direct when the upgrade behind it ends
          const result = await race(a.services.meshCircuits.connect(target.peerId, { route, signal, onProgress: recordPhases(begun, trial) }), signal, 'connect')
          usable.push(performance.now() - begun)
          const { kind, webrtcError } = await race(result.upgrade, signal, 'upgrade')
          if (kind === 'webrtc') {
            samples.push(performance.now() - begun)
            phases.push(...trial)
          } else {
            out.fallbacks[hops - 1]++
            count(out.errors, webrtcError ?? new Error(kind))
          }
        } catch (err) {
          out.failures[hops - 1]++
          count(out.errors, err)
        }
        if (!await closeAll(a, target, overall)) { out.closeTimeouts++ }
      }
      progress(`membrane ${hops} hop(s): ${samples.length}/${trials} webrtc, p50 ${percentile(samples, 50).toFixed(0)} ms`)
    }
    const measure = async (what: string, link: () => Promise<Connection>): Promise<number | null> => {
      if (overall.aborted) { return null }
      try {
        return await throughput(await link(), bytes, overall)
      } catch (err) {
        out.throughputFailures.push(`${what}: ${errorName(err)}`)
        return null
      }
    }
    const connect = async (peer: Libp2p, webrtc: boolean): Promise<Connection> => {
      const signal = deadline(overall, CONNECT_TIMEOUT)
      const result = await race(a.services.meshCircuits.connect(peer.peerId, { route: [nodes[1].peerId], webrtc, waitForDirect: true, signal }), signal, 'connect')
      if (result.kind !== (webrtc ? 'webrtc' : 'circuit')) { throw new Error(`got a ${result.kind} link`) }
      return result.connection
    }
    out.upgraded = await measure('upgraded', async () => connect(nodes[2], true))
    await closeAll(a, nodes[2], overall)
    out.relay = await measure('relay', async () => connect(nodes[6], false))
    out.tcp = await measure('tcp', async () => {
      const direct = a.getConnections(nodes[1].peerId).find(c => c.remoteAddr.toString().includes('/tcp/') && c.limits == null)
      if (direct == null) { throw new Error('no TCP link') }
      return direct
    })
    progress(`membrane: upgraded ${out.upgraded?.toFixed(1) ?? '-'}, relay ${out.relay?.toFixed(1) ?? '-'}, tcp ${out.tcp?.toFixed(1) ?? '-'} MB/s`)
  } finally {
    await stopAll(nodes)
  }
}

const orNull = (v: number): number | null => Number.isFinite(v) ? v : null

/**
 * Time to a direct WebRTC link through 1–4 mesh hops beside stock libp2p's
 * relay-server → /p2p-circuit/webrtc path, and throughput over the links.
 * Every wait has a deadline: a stuck trial counts as a failure, and after the
 * overall deadline the bench reports what it has.
 */
export async function circuitBench (options: BenchOptions): Promise<Metric[]> {
  const trials = options.quick ? 8 : 20
  const bytes = (options.quick ? 8 : 32) * 1024 * 1024
  const overallMs = options.quick ? OVERALL_TIMEOUT.quick : OVERALL_TIMEOUT.full
  const overall = AbortSignal.timeout(overallMs)
  const results: Results = {
    stock: { phases: [], times: [], failures: 0, errors: {}, webrtc: null, relayV2: null, closeTimeouts: 0, throughputFailures: [] },
    membrane: { phases: [], times: [], usable: [], failures: [], fallbacks: [], errors: {}, upgraded: null, relay: null, tcp: null, closeTimeouts: 0, throughputFailures: [] }
  }
  const aborted: string[] = []
  // stock @libp2p/webrtc can throw an uncaught TimeoutError from a stream
  // negotiation timer after its connection was closed; count it, do not die
  let uncaught = 0
  const onUncaught = (err: Error): void => {
    uncaught++
    progress(`uncaught ${err.name}: ${err.message.slice(0, 80)}`)
  }
  process.on('uncaughtException', onUncaught)
  try {
    // stock first: Membrane's runs leave nothing behind that stock would reuse
    for (const [name, run] of [
      ['stock', async () => stockRun(trials, bytes, results.stock, overall)],
      ['membrane', async () => membraneRun(trials, bytes, results.membrane, overall)]
    ] as const) {
      try {
        // the overall deadline also bounds a run stuck somewhere unguarded
        await race(run(), overall, name)
      } catch (err) {
        aborted.push(`${name}: ${errorName(err)}: ${err instanceof Error ? err.message.slice(0, 80) : ''}`)
        progress(`${name} run ended early: ${errorName(err)}`)
      }
    }
  } finally {
    process.off('uncaughtException', onUncaught)
  }
  const { stock, membrane } = results
  const out: Metric[] = []
  const extra = {
    trials_per_hop: trials,
    stock_ok: stock.times.length,
    stock_failures: stock.failures,
    stock_errors: stock.errors,
    membrane_errors: membrane.errors,
    close_timeouts: stock.closeTimeouts + membrane.closeTimeouts,
    uncaught_errors: uncaught,
    aborted,
    overall_deadline_s: overallMs / 1000,
    transport: 'webrtc (node-datachannel) over tcp-loopback signaling',
    stock_path: 'relay-server → /p2p-circuit/webrtc',
    note: 'n = successful WebRTC links; membrane times include connect()\'s own retries; the init-channel guard is process-wide, so stock dials have it too'
  }
  for (let i = 0; i < 4; i++) {
    const samples = membrane.times[i] ?? []
    const hop = { ...extra, failures: membrane.failures[i] ?? 0, fallbacks: membrane.fallbacks[i] ?? 0 }
    out.push(metric(`upgrade.hops${i + 1}.p50`, 'ms', orNull(percentile(samples, 50)), orNull(percentile(stock.times, 50)), samples.length, hop))
    out.push(metric(`upgrade.hops${i + 1}.p95`, 'ms', orNull(percentile(samples, 95)), orNull(percentile(stock.times, 95)), samples.length, hop))
    // connect() hands back the end-to-end encrypted circuit before the upgrade: the time to a usable link
    const usable = membrane.usable[i] ?? []
    out.push(metric(`usable.hops${i + 1}.p50`, 'ms', orNull(percentile(usable, 50)), orNull(percentile(stock.times, 50)), usable.length, { ...hop, membrane_is: 'connect() resolving with the circuit (Noise done)', stock_is: 'stock relay→WebRTC dial' }))
  }
  for (let i = 0; i < 4; i++) {
    out.push(...phaseMetrics(`upgrade.hops${i + 1}`, membrane.phases[i] ?? [], stock.phases))
  }
  const round = (v: number | null): number | null => v == null ? null : Math.round(v * 10) / 10
  out.push(metric('throughput.upgraded', 'MB/s', membrane.upgraded, stock.webrtc, bytes, {
    stock_is: 'stock WebRTC (relay → /p2p-circuit/webrtc link)', tcp_loopback: round(membrane.tcp), failures: membrane.throughputFailures, stock_failures: stock.throughputFailures, aborted
  }))
  out.push(metric('throughput.relay_fallback', 'MB/s', membrane.relay, stock.relayV2, bytes, {
    stock_is: 'one stock circuit relay v2 hop, limits lifted (TCP loopback links, Noise + yamux end to end)',
    membrane_is: '1-hop mesh relay circuit (TCP loopback links, Noise + yamux end to end)',
    tcp_loopback: round(membrane.tcp), stock_webrtc: round(stock.webrtc), hops: 1, failures: membrane.throughputFailures, stock_failures: stock.throughputFailures, aborted
  }))
  return out
}
