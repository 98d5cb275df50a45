// `npm run bench -- --only transfer`: a Membrane transfer beside a raw libp2p stream of the same size on the same link
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { byteStream } from '@libp2p/utils'
import { startLine } from '../test/fixtures/line.js'
import { linkKind } from '../src/utils/connections.js'
import { metric } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Membrane } from '../src/index.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

const SINK = '/bench/transfer-sink/1.0.0'
const MB = 1e6
const MiB = 1024 * 1024
const second = 1000
/** Loopback moves tens of MB/s: a trial past this has stalled */
const TRIAL_TIMEOUT = 120 * second
const SETUP_TIMEOUT = 60 * second
/** The whole bench: after this it reports what it has measured */
const OVERALL_TIMEOUT = { quick: 4 * 60 * second, full: 12 * 60 * second }
/** Live memory is sampled this often during the (untimed) memory trial; each sample runs a full GC */
const SAMPLE_INTERVAL = 100

/** A full garbage collection, so samples measure live memory rather than garbage not yet collected */
const gc = ((): () => void => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

const progress = (line: string): void => { process.stderr.write(`transfer: ${line}\n`) }

/** The raw baseline: read the announced number of bytes, answer one byte */
async function handleSink (node: Libp2p): Promise<void> {
  await node.handle(SINK, async (stream) => {
    const signal = AbortSignal.timeout(TRIAL_TIMEOUT)
    const reader = byteStream(stream, { maxBufferSize: 64 * MiB })
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
  })
}

/** MB/s pushing `bytes` of fresh random 64 KiB chunks (as the transfer gets) through a raw stream */
async function rawStream (connection: Connection, bytes: number): Promise<number> {
  const signal = AbortSignal.timeout(TRIAL_TIMEOUT)
  const stream: Stream = await connection.newStream(SINK, { signal })
  const reader = byteStream(stream)
  try {
    const header = new Uint8Array(8)
    new DataView(header.buffer).setBigUint64(0, BigInt(bytes))
    const started = performance.now()
    stream.send(header)
    for (let sent = 0; sent < bytes; sent += 65536) {
      const chunk = crypto.getRandomValues(new Uint8Array(Math.min(65536, bytes - sent)))
      if (!stream.send(chunk)) {
        await stream.onDrain({ signal })
      }
    }
    await reader.read({ bytes: 1, signal })
    const seconds = (performance.now() - started) / 1000
    await stream.close({ signal }).catch(() => { stream.abort(new Error('bench: close')) })
    return bytes / MB / seconds
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

/** MB/s of a verified transfer of `bytes` from `a` to `c` */
async function transfer (a: Membrane, c: Membrane, bytes: number): Promise<number> {
  const signal = AbortSignal.timeout(TRIAL_TIMEOUT)
  const source = (async function * () {
    for (let sent = 0; sent < bytes; sent += 65536) {
      yield crypto.getRandomValues(new Uint8Array(Math.min(65536, bytes - sent)))
    }
  })()
  const started = performance.now()
  const result = await a.services.transfers.send(c.peerId, 'bench', source, { size: bytes, signal })
  const seconds = (performance.now() - started) / 1000
  if (result.bytes !== bytes) {
    throw new Error(`transferred ${result.bytes} of ${bytes} bytes`)
  }
  return bytes / MB / seconds
}

/** Run `fn` while sampling this process's live memory (after a full GC); returns the peak growth in MB */
async function sampled <T> (fn: () => Promise<T>): Promise<{ value: T, peakMB: number }> {
  const live = (): number => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
  const baseline = live()
  let peak = baseline
  const timer = setInterval(() => { peak = Math.max(peak, live()) }, SAMPLE_INTERVAL)
  try {
    const value = await fn()
    return { value, peakMB: (peak - baseline) / MB }
  } finally {
    clearInterval(timer)
  }
}

const median = (values: number[]): number | null => {
  if (values.length === 0) { return null }
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)]
}

interface LinkResult {
  raw: number[]
  transfer: number[]
  peakMB: number[]
  failures: string[]
  kind?: string
}

/** A–B–C; C two hops from A; `webrtc` links A–C by WebRTC, else by a relay circuit through B */
async function measureLink (webrtc: boolean, bytes: number, trials: number, overall: AbortSignal): Promise<LinkResult> {
  const out: LinkResult = { raw: [], transfer: [], peakMB: [], failures: [] }
  // every hop relays a whole trial's bytes on one circuit
  const member = { noWebRTC: !webrtc, options: { circuit: { relayLimit: { bytes: 4 * 1024 * MiB } } } }
  const nodes = await startLine(3, [member, member, member])
  const [a, , c] = nodes
  try {
    const setup = AbortSignal.any([overall, AbortSignal.timeout(SETUP_TIMEOUT)])
    while (a.services.networkMap.path(c.peerId) == null) {
      setup.throwIfAborted()
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    await handleSink(c)
    c.services.transfers.handle('bench', async (t) => {
      for await (const _chunk of t.source) { /* the application takes every chunk */ }
    })
    const { connection } = await a.services.circuit.connect(c.peerId, { webrtc, waitForDirect: true, signal: setup })
    out.kind = linkKind(connection)
    if (out.kind !== (webrtc ? 'webrtc' : 'circuit')) {
      throw new Error(`expected a ${webrtc ? 'webrtc' : 'circuit'} link, got ${out.kind}`)
    }
    for (let i = 0; i < trials && !overall.aborted; i++) {
      // alternate, so drift in machine load hits both alike
      try {
        out.raw.push(await rawStream(connection, bytes))
      } catch (err) {
        out.failures.push(`raw: ${(err as Error).message}`)
      }
      try {
        out.transfer.push(await transfer(a, c, bytes))
      } catch (err) {
        out.failures.push(`transfer: ${(err as Error).message}`)
      }
      progress(`${out.kind} trial ${i + 1}: raw ${out.raw.at(-1)?.toFixed(1)} MB/s, transfer ${out.transfer.at(-1)?.toFixed(1)} MB/s`)
    }
    // untimed: full GCs while it runs
    try {
      out.peakMB.push((await sampled(async () => transfer(a, c, bytes))).peakMB)
    } catch (err) {
      out.failures.push(`memory trial: ${(err as Error).message}`)
    }
    if (a.getConnections(c.peerId).some(conn => conn !== connection && conn.status === 'open')) {
      out.failures.push('a second connection opened during the run')
    }
    const sender = a.services.transfers.stats()
    const receiver = c.services.transfers.stats()
    Object.assign(out, { senderRetainedMB: sender.maxRetained / MB, receiverBufferedMB: receiver.maxBuffered / MB })
  } finally {
    await Promise.allSettled(nodes.map(async n => n.stop()))
  }
  return out
}

export async function transferBench (options: BenchOptions): Promise<Metric[]> {
  // the machine is shared: several alternating trials, medians reported
  const bytes = options.quick ? 16 * MiB : 100 * MiB
  const trials = options.quick ? 4 : 3
  const overall = AbortSignal.timeout(options.quick ? OVERALL_TIMEOUT.quick : OVERALL_TIMEOUT.full)
  const metrics: Metric[] = []
  for (const webrtc of [true, false]) {
    const name = webrtc ? 'webrtc' : 'circuit'
    let result: LinkResult & { senderRetainedMB?: number, receiverBufferedMB?: number }
    try {
      result = await measureLink(webrtc, bytes, trials, overall)
    } catch (err) {
      progress(`${name}: ${(err as Error).message}`)
      result = { raw: [], transfer: [], peakMB: [], failures: [(err as Error).message] }
    }
    const extra = {
      link: result.kind ?? name,
      bytes,
      trials,
      stock_is: 'a raw libp2p stream of the same size on the same connection',
      failures: result.failures
    }
    metrics.push(metric(`transfer.${name}.MBps`, 'MB/s', median(result.transfer), median(result.raw), result.transfer.length, extra))
    metrics.push(metric(`transfer.${name}.peak_memory`, 'MB', result.peakMB.length === 0 ? null : Math.max(...result.peakMB), null, result.peakMB.length, {
      bytes,
      what: 'peak growth of live heap + array buffers (sampled after full GCs) of the one process holding sender, relay and receiver, during one untimed transfer',
      sender_retained_max_MB: result.senderRetainedMB ?? null,
      receiver_buffered_max_MB: result.receiverBufferedMB ?? null
    }))
  }
  return metrics
}
