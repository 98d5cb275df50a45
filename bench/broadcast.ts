import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMembrane } from '../src/index.js'
import { metric, percentile } from './metric.js'
import { connectMesh } from './topology.js'
import type { BenchOptions, Metric } from './metric.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'

const TOPIC = 'bench'
const DEGREE = 4

interface Run { latencies: number[], delivery: number }

/** Publish `messages` messages from rotating publishers; measure delivery latency to every other node */
async function measure (nodes: Libp2p[], pubsubOf: (n: Libp2p) => GossipSub, publish: (n: Libp2p, data: Uint8Array) => Promise<void>, messages: number): Promise<Run> {
  const sentAt = new Map<number, number>()
  const latencies: number[] = []
  let delivered = 0
  for (const node of nodes) {
    pubsubOf(node).addEventListener('message', (evt) => {
      if (evt.detail.topic !== TOPIC) { return }
      const id = new DataView(evt.detail.data.buffer, evt.detail.data.byteOffset).getUint32(0)
      const t = sentAt.get(id)
      if (t != null) {
        latencies.push(performance.now() - t)
        delivered++
      }
    })
  }
  // let gossipsub heartbeats build the meshes
  const deadline = Date.now() + 20_000
  while (nodes.some(n => pubsubOf(n).getSubscribers(TOPIC).length < Math.min(2, DEGREE)) && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  await new Promise(resolve => setTimeout(resolve, 2000))
  for (let i = 0; i < messages; i++) {
    const data = new Uint8Array(256)
    new DataView(data.buffer).setUint32(0, i)
    sentAt.set(i, performance.now())
    await publish(nodes[i % nodes.length], data)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  const expected = messages * (nodes.length - 1)
  const wait = Date.now() + 5000
  while (delivered < expected && Date.now() < wait) {
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { latencies, delivery: delivered / expected }
}

async function membraneRun (n: number, messages: number): Promise<Run> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createMembrane({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    // the same fixed graph as the stock run: no topology manager rewiring it
    topology: { enabled: false },
    topics: [TOPIC]
  })))
  try {
    await connectMesh(nodes, DEGREE)
    return await measure(nodes, node => (node as typeof nodes[number]).services.pubsub,
      async (node, data) => { await (node as typeof nodes[number]).services.broadcast.publish(TOPIC, data) }, messages)
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

async function stockRun (n: number, messages: number): Promise<Run> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub() }
  })))
  for (const node of nodes) {
    node.services.pubsub.subscribe(TOPIC)
  }
  try {
    await connectMesh(nodes, DEGREE)
    return await measure(nodes, node => (node as typeof nodes[number]).services.pubsub,
      async (node, data) => { await (node as typeof nodes[number]).services.pubsub.publish(TOPIC, data) }, messages)
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

/** Broadcast latency and delivery, N=20 Node peers, Membrane preset beside stock libp2p + gossipsub */
export async function broadcastBench (options: BenchOptions): Promise<Metric[]> {
  const n = 20
  const messages = options.quick ? 50 : 200
  const membrane = await membraneRun(n, messages)
  const stock = await stockRun(n, messages)
  const extra = { nodes: n, degree: DEGREE, transport: 'tcp-loopback', samples: membrane.latencies.length }
  return [
    metric('broadcast.latency.p50', 'ms', percentile(membrane.latencies, 50), percentile(stock.latencies, 50), messages, extra),
    metric('broadcast.latency.p99', 'ms', percentile(membrane.latencies, 99), percentile(stock.latencies, 99), messages, extra),
    metric('broadcast.delivery', 'fraction', membrane.delivery, stock.delivery, messages, extra)
  ]
}
