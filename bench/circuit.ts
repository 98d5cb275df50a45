import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { createLibp2p } from 'libp2p'
import { startGraph } from '../test/fixtures/line.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Membrane } from '../src/index.js'
import type { Connection, Libp2p } from '@libp2p/interface'

const SINK = '/bench/sink/1.0.0'
const rtc = { rtcConfiguration: { iceServers: [] } }

async function until (predicate: () => boolean, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!predicate()) {
    if (Date.now() > deadline) { throw new Error('bench wait timed out') }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Receive `bytes` on SINK and answer one byte */
async function handleSink (node: Libp2p): Promise<void> {
  await node.handle(SINK, async (stream) => {
    const total = Number(new DataView((await first(stream)).buffer).getBigUint64(0))
    let got = 0
    for await (const chunk of stream) {
      got += chunk.byteLength
      if (got >= total) { break }
    }
    stream.send(Uint8Array.of(1))
    await stream.close()
  }, { runOnLimitedConnection: true })
}

async function first (stream: AsyncIterable<{ subarray(): Uint8Array }>): Promise<Uint8Array> {
  for await (const chunk of stream) {
    return chunk.subarray().slice(0, 8)
  }
  throw new Error('stream ended')
}

/** MB/s pushing `bytes` through `connection` to SINK (first 8 bytes carry the length) */
async function throughput (connection: Connection, bytes: number): Promise<number> {
  const stream = await connection.newStream(SINK, { runOnLimitedConnection: true })
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(bytes))
  const started = performance.now()
  stream.send(header)
  await new Promise(resolve => setTimeout(resolve, 5))
  const chunk = new Uint8Array(64 * 1024)
  for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal: AbortSignal.timeout(30_000) })
    }
  }
  await first(stream)
  const seconds = (performance.now() - started) / 1000
  await stream.close().catch(() => {})
  return bytes / 1e6 / seconds
}

async function closeAll (node: Libp2p, peer: Libp2p): Promise<void> {
  // let identify finish first: closing a WebRTC connection mid-negotiation makes
  // @libp2p/webrtc throw an uncaught TimeoutError later
  await new Promise(resolve => setTimeout(resolve, 300))
  await Promise.all(node.getConnections(peer.peerId).map(async c => c.close().catch(() => { c.abort(new Error('bench')) })))
  await until(() => node.getConnections(peer.peerId).length === 0 && peer.getConnections(node.peerId).length === 0)
}

/** Membrane: a line 0–1–…–5 plus a WebRTC-less member Z beside node 1 */
async function membraneRun (trials: number, bytes: number): Promise<{ times: number[][], upgraded: number, relay: number, tcp: number, fallbacks: number }> {
  const nodes = await startGraph([
    ...Array.from({ length: 6 }, () => ({ options: { circuit: { relayLimit: { bytes: 1024 * 1024 * 1024 }, forwardRate: 10_000 } } })),
    { noWebRTC: true, options: { circuit: { relayLimit: { bytes: 1024 * 1024 * 1024 }, forwardRate: 10_000 } } }
  ], [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [1, 6]])
  try {
    for (const n of nodes) { await handleSink(n) }
    const a = nodes[0]
    const times: number[][] = []
    let fallbacks = 0
    for (let hops = 1; hops <= 4; hops++) {
      const target = nodes[hops + 1] as Membrane
      const route = nodes.slice(1, hops + 1).map(n => n.peerId)
      const samples: number[] = []
      for (let i = 0; i < trials; i++) {
        const started = performance.now()
        const { kind } = await a.services.circuit.connect(target.peerId, { route })
        if (kind === 'webrtc') {
          samples.push(performance.now() - started)
        } else {
          fallbacks++
        }
        await closeAll(a, target)
      }
      times.push(samples)
    }
    const { connection } = await a.services.circuit.connect(nodes[2].peerId, { route: [nodes[1].peerId] })
    const upgraded = await throughput(connection, bytes)
    await closeAll(a, nodes[2])
    const relayed = await a.services.circuit.connect(nodes[6].peerId, { route: [nodes[1].peerId] })
    if (relayed.kind !== 'circuit') { throw new Error('expected a relay circuit') }
    const relay = await throughput(relayed.connection, bytes)
    const direct = a.getConnections(nodes[1].peerId).find(c => c.remoteAddr.toString().includes('/tcp/'))
    if (direct == null) { throw new Error('no TCP link') }
    const tcpLoopback = await throughput(direct, bytes)
    return { times, upgraded, relay, tcp: tcpLoopback, fallbacks }
  } finally {
    await Promise.all(nodes.map(async n => n.stop()))
  }
}

/** Stock libp2p: relay server R, peers P and Q; P dials R/p2p-circuit/webrtc/p2p/Q */
async function stockRun (trials: number, bytes: number): Promise<{ times: number[], webrtc: number }> {
  const relay = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), relay: circuitRelayServer() }
  })
  const peer = async (): Promise<Libp2p> => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'] },
    transports: [tcp(), webRTC(rtc), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify() }
  })
  const p = await peer()
  const q = await peer()
  try {
    await handleSink(q)
    await q.dial(relay.getMultiaddrs()[0])
    await p.dial(relay.getMultiaddrs()[0])
    await until(() => q.getMultiaddrs().some(ma => WebRTC.exactMatch(ma)), 20_000)
    const target = q.getMultiaddrs().find(ma => WebRTC.exactMatch(ma)) ?? multiaddr()
    const times: number[] = []
    for (let i = 0; i < trials; i++) {
      const started = performance.now()
      const conn = await p.dial(target)
      times.push(performance.now() - started)
      if (!WebRTC.exactMatch(conn.remoteAddr)) { throw new Error(`stock dial gave ${conn.remoteAddr}`) }
      await closeAll(p, q)
    }
    const conn = await p.dial(target)
    const webrtcThroughput = await throughput(conn, bytes)
    return { times, webrtc: webrtcThroughput }
  } finally {
    await Promise.all([p.stop(), q.stop(), relay.stop()])
  }
}

/**
 * Time to a direct WebRTC link through 1–4 mesh hops beside stock libp2p's
 * relay-server → /p2p-circuit/webrtc path, and throughput over the links
 */
export async function circuitBench (options: BenchOptions): Promise<Metric[]> {
  const trials = options.quick ? 8 : 20
  const bytes = (options.quick ? 8 : 32) * 1024 * 1024
  // stock @libp2p/webrtc can throw an uncaught TimeoutError from a stream
  // negotiation timer after its connection was closed; count it, do not die
  let uncaught = 0
  const onUncaught = (err: Error): void => {
    uncaught++
    process.stderr.write(`circuit bench: uncaught ${err.name}: ${err.message}\n`)
  }
  process.on('uncaughtException', onUncaught)
  let stock: Awaited<ReturnType<typeof stockRun>>
  let membrane: Awaited<ReturnType<typeof membraneRun>>
  try {
    stock = await stockRun(trials, bytes)
    membrane = await membraneRun(trials, bytes)
  } finally {
    process.off('uncaughtException', onUncaught)
  }
  const out: Metric[] = []
  const extra = { uncaught_errors: uncaught, webrtc_fallbacks: membrane.fallbacks, trials, transport: 'webrtc (node-datachannel) over tcp-loopback signaling', stock_path: 'relay-server → /p2p-circuit/webrtc' }
  membrane.times.forEach((samples, i) => {
    out.push(metric(`upgrade.hops${i + 1}.p50`, 'ms', percentile(samples, 50), percentile(stock.times, 50), samples.length, extra))
    out.push(metric(`upgrade.hops${i + 1}.p95`, 'ms', percentile(samples, 95), percentile(stock.times, 95), samples.length, extra))
  })
  out.push(metric('throughput.upgraded', 'MB/s', membrane.upgraded, stock.webrtc, bytes, { stock_is: 'stock WebRTC', tcp_loopback: Math.round(membrane.tcp * 10) / 10 }))
  out.push(metric('throughput.relay_fallback', 'MB/s', membrane.relay, membrane.tcp, bytes, { stock_is: 'TCP loopback (Noise + yamux)', hops: 1 }))
  return out
}
