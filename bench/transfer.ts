// `npm run bench -- --only transfer`: a Membrane transfer beside a raw stream of the same size on the same link
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { byteStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { createMembrane, meshCircuitTransport } from '../src/index.js'
import { linkKind } from '../src/utils/connections.js'
import { adjacencyGater } from '../test/fixtures/line.js'
import { tcpAddress } from '../test/fixtures/nodes.js'
import { metric } from './metric.js'
import { MEMORY_START, MEMORY_STOP, SINK } from './transfer-peer-protocol.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Membrane } from '../src/index.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

const MB = 1e6
const MiB = 1024 * 1024
const second = 1000
/** Loopback moves tens of MB/s: a trial past this has stalled */
const TRIAL_TIMEOUT = 120 * second
const SETUP_TIMEOUT = 60 * second
const EXIT_TIMEOUT = 10 * second
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
async function transfer (a: Membrane, c: PeerId, bytes: number): Promise<number> {
  const signal = AbortSignal.timeout(TRIAL_TIMEOUT)
  const source = (async function * () {
    for (let sent = 0; sent < bytes; sent += 65536) {
      yield crypto.getRandomValues(new Uint8Array(Math.min(65536, bytes - sent)))
    }
  })()
  const started = performance.now()
  const result = await a.services.transfers.send(c, 'bench', source, { size: bytes, signal })
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
  failures: string[]
  kind?: string
  senderPeakMB?: number
  receiverPeakMB?: number
  senderRetainedMB?: number
  receiverBufferedMB?: number
}

/** The receiver C in a child process (bench/transfer-peer.ts); resolves once it listens */
async function startReceiver (key: string, neighbour: PeerId, mode: string): Promise<{ id: PeerId, addr: string, stop(): Promise<void> }> {
  const child = spawn(process.execPath, [new URL('./transfer-peer.js', import.meta.url).pathname, key, neighbour.toString(), mode], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  const stop = async (): Promise<void> => {
    child.stdin.end()
    const timer = setTimeout(() => { child.kill('SIGKILL') }, EXIT_TIMEOUT)
    await exited
    clearTimeout(timer)
  }
  try {
    const lines = createInterface({ input: child.stdout })
    const first = await Promise.race([
      new Promise<string>(resolve => { lines.once('line', resolve) }),
      exited.then(() => { throw new Error('the receiver process exited before listening') }),
      new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error('the receiver process did not start')) }, SETUP_TIMEOUT))
    ])
    const { id, addr } = JSON.parse(first) as { id: string, addr: string }
    return { id: peerIdFromString(id), addr, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A–B in this process, C in a child; C two hops from A; `webrtc` links A–C by WebRTC, else by a relay circuit through B */
async function measureLink (webrtc: boolean, bytes: number, trials: number, overall: AbortSignal): Promise<LinkResult> {
  const out: LinkResult = { raw: [], transfer: [], failures: [] }
  const [keyA, keyB, keyC] = await Promise.all([0, 1, 2].map(async () => generateKeyPair('Ed25519')))
  const [idA, idB, idC] = [keyA, keyB, keyC].map(k => peerIdFromPrivateKey(k))
  // every hop relays a whole run's bytes on one circuit
  const circuit = { relayLimit: { bytes: 4 * 1024 * MiB } }
  const member = async (privateKey: typeof keyA, neighbours: PeerId[]): Promise<Membrane> => createMembrane({
    privateKey,
    listen: webrtc ? ['/ip4/127.0.0.1/tcp/0', '/webrtc'] : ['/ip4/127.0.0.1/tcp/0'],
    webrtc: { rtcConfiguration: { iceServers: [] } },
    // the fixed line A–B–C under measure: the topology manager would link A and C itself
    topology: { enabled: false },
    meshCircuits: circuit,
    libp2p: {
      connectionGater: adjacencyGater(() => neighbours),
      // a bulk transfer on two loaded cores delays pings past the monitor's timeout; this bench measures throughput
      connectionMonitor: { abortConnectionOnPingFailure: false },
      ...(webrtc ? {} : { transports: [tcp(), meshCircuitTransport(circuit)] })
    }
  })
  const receiver = await startReceiver(uint8ArrayToString(privateKeyToProtobuf(keyC), 'base16'), idB, webrtc ? 'webrtc' : 'circuit')
  const nodes: Membrane[] = []
  try {
    if (!receiver.id.equals(idC)) { throw new Error('the receiver has another identity') }
    const a = await member(keyA, [idB])
    nodes.push(a)
    const b = await member(keyB, [idA, idC])
    nodes.push(b)
    await a.dial(multiaddr(tcpAddress(b)))
    await b.dial(multiaddr(receiver.addr))
    const setup = AbortSignal.any([overall, AbortSignal.timeout(SETUP_TIMEOUT)])
    while (a.services.networkMap.path(idC) == null) {
      setup.throwIfAborted()
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    // the WebRTC case measures the upgraded link, not the circuit connect() hands back first
    const { connection } = await a.services.meshCircuits.connect(idC, { webrtc, waitForDirect: true, signal: setup })
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
        out.transfer.push(await transfer(a, idC, bytes))
      } catch (err) {
        out.failures.push(`transfer: ${(err as Error).message}`)
      }
      progress(`${out.kind} trial ${i + 1}: raw ${out.raw.at(-1)?.toFixed(1)} MB/s, transfer ${out.transfer.at(-1)?.toFixed(1)} MB/s`)
    }
    // untimed: full GCs on both ends while it runs
    try {
      await a.services.requests.request(idC, MEMORY_START, new Uint8Array(0))
      out.senderPeakMB = (await sampled(async () => transfer(a, idC, bytes))).peakMB
      const remote = JSON.parse(new TextDecoder().decode(await a.services.requests.request(idC, MEMORY_STOP, new Uint8Array(0)))) as { peakMB: number, bufferedMB: number }
      out.receiverPeakMB = remote.peakMB
      out.receiverBufferedMB = remote.bufferedMB
    } catch (err) {
      out.failures.push(`memory trial: ${(err as Error).message}`)
    }
    if (a.getConnections(idC).some(conn => conn !== connection && conn.status === 'open')) {
      out.failures.push('a second connection opened during the run')
    }
    out.senderRetainedMB = a.services.transfers.stats().maxRetained / MB
  } finally {
    await Promise.allSettled(nodes.map(async n => n.stop()))
    await receiver.stop()
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
    let result: LinkResult
    try {
      result = await measureLink(webrtc, bytes, trials, overall)
    } catch (err) {
      progress(`${name}: ${(err as Error).message}`)
      result = { raw: [], transfer: [], failures: [(err as Error).message] }
    }
    metrics.push(metric(`transfer.${name}.MBps`, 'MB/s', median(result.transfer), median(result.raw), result.transfer.length, {
      link: result.kind ?? name,
      bytes,
      trials,
      stock_is: 'a raw libp2p stream of the same size on the same connection',
      setup: 'sender A and relay B in this process, receiver C in a child process',
      failures: result.failures
    }))
    const what = 'peak growth of live heap + array buffers (sampled after full GCs) during one untimed transfer'
    metrics.push(metric(`transfer.${name}.peak_memory.sender`, 'MB', result.senderPeakMB ?? null, null, 1, { bytes, what: `${what}; the sender's process (with relay B)`, retained_max_MB: result.senderRetainedMB ?? null }))
    metrics.push(metric(`transfer.${name}.peak_memory.receiver`, 'MB', result.receiverPeakMB ?? null, null, 1, { bytes, what: `${what}; the receiver's own process`, buffered_max_MB: result.receiverBufferedMB ?? null }))
  }
  return metrics
}
