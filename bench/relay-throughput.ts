// Relay throughput on its own: one mesh circuit hop beside one stock circuit relay v2 hop, bare nodes
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { meshCircuits, meshCircuitTransport } from '../src/circuit/index.js'
import { startGraph } from '../test/fixtures/line.js'
import { handleSink, throughput } from './circuit.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Connection, Libp2p } from '@libp2p/interface'

const second = 1000
const STEP_TIMEOUT = 60 * second

const base = (listen: string[]): Parameters<typeof createLibp2p>[0] => ({
  addresses: { listen },
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false }
})

/** P → R → Q over stock circuit relay v2, the relay's default limits lifted (an unlimited relayed connection) */
async function stockHop (nodes: Libp2p[]): Promise<{ link: Connection, sink: Libp2p }> {
  const relay = await createLibp2p({ ...base(['/ip4/127.0.0.1/tcp/0']), transports: [tcp()], services: { identify: identify(), relay: circuitRelayServer({ reservations: { applyDefaultLimit: false } }) } })
  const p = await createLibp2p({ ...base(['/ip4/127.0.0.1/tcp/0']), transports: [tcp(), circuitRelayTransport()], services: { identify: identify() } })
  const q = await createLibp2p({ ...base(['/ip4/127.0.0.1/tcp/0', '/p2p-circuit']), transports: [tcp(), circuitRelayTransport()], services: { identify: identify() } })
  nodes.push(relay, p, q)
  await q.dial(relay.getMultiaddrs()[0], { signal: AbortSignal.timeout(STEP_TIMEOUT) })
  const deadline = Date.now() + STEP_TIMEOUT
  while (!q.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))) {
    if (Date.now() > deadline) { throw new Error('no relay reservation') }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  const link = await p.dial(q.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit')) ?? q.getMultiaddrs()[0], { signal: AbortSignal.timeout(STEP_TIMEOUT) })
  if (link.limits != null) { throw new Error('the stock relayed connection is limited') }
  return { link, sink: q }
}

/** A → H → B over a mesh relay circuit, budget 1 GiB */
async function meshHop (nodes: Libp2p[]): Promise<{ link: Connection, sink: Libp2p }> {
  const circuit = { relayLimit: { bytes: 1024 * 1024 * 1024 }, forwardRate: 10_000 }
  const make = async (): Promise<Libp2p<{ meshCircuits: ReturnType<ReturnType<typeof meshCircuits>> }>> => createLibp2p({
    ...base(['/ip4/127.0.0.1/tcp/0']),
    transports: [tcp(), meshCircuitTransport(circuit)],
    services: { identify: identify(), meshCircuits: meshCircuits(circuit) }
  })
  const [a, h, b] = [await make(), await make(), await make()]
  nodes.push(a, h, b)
  await a.dial(h.getMultiaddrs()[0], { signal: AbortSignal.timeout(STEP_TIMEOUT) })
  await b.dial(h.getMultiaddrs()[0], { signal: AbortSignal.timeout(STEP_TIMEOUT) })
  const link = await a.services.meshCircuits.openCircuit(b.peerId, { route: [h.peerId], mode: 'relay', signal: AbortSignal.timeout(STEP_TIMEOUT) })
  return { link, sink: b }
}

/** The same mesh relay circuit between three full Membrane nodes (map, gossipsub, requests…), the target without WebRTC */
async function membraneHop (nodes: Libp2p[]): Promise<{ link: Connection, sink: Libp2p }> {
  const circuit = { relayLimit: { bytes: 1024 * 1024 * 1024 }, forwardRate: 10_000 }
  const members = await startGraph([{ options: { meshCircuits: circuit } }, { options: { meshCircuits: circuit } }, { noWebRTC: true, options: { meshCircuits: circuit } }], [[0, 1], [1, 2]])
  nodes.push(...members)
  const result = await members[0].services.meshCircuits.connect(members[2].peerId, { route: [members[1].peerId], webrtc: false, signal: AbortSignal.timeout(STEP_TIMEOUT) })
  if (result.kind !== 'circuit') { throw new Error(`got a ${result.kind} link`) }
  return { link: result.connection, sink: members[2] }
}

async function once (hop: (nodes: Libp2p[]) => Promise<{ link: Connection, sink: Libp2p }>, bytes: number): Promise<number> {
  const nodes: Libp2p[] = []
  try {
    const { link, sink } = await hop(nodes)
    await handleSink(sink)
    return await throughput(link, bytes, AbortSignal.timeout(STEP_TIMEOUT))
  } finally {
    await Promise.allSettled(nodes.map(async n => n.stop()))
  }
}

/**
 * `throughput.relay_hop`: MB/s through one relaying peer, Membrane's mesh
 * relay circuit (the relay fallback) beside a stock circuit relay v2 hop with
 * its limits lifted, both on TCP loopback with Noise + yamux end to end over
 * the hop, bare nodes (no map, gossip or topology beside them), in
 * alternating rounds in one process. Reports the medians, and beside them
 * (`membrane_nodes`) the same circuit between three full Membrane nodes.
 */
export async function relayThroughputBench ({ quick }: BenchOptions): Promise<Metric[]> {
  const rounds = quick ? 3 : 5
  const bytes = (quick ? 16 : 32) * 1024 * 1024
  const mesh: number[] = []
  const stock: number[] = []
  const members: number[] = []
  const failures: string[] = []
  for (let i = 0; i < rounds; i++) {
    for (const [list, hop, name] of [[stock, stockHop, 'stock'], [mesh, meshHop, 'mesh'], [members, membraneHop, 'membrane nodes']] as const) {
      try {
        list.push(await once(hop, bytes))
      } catch (err) {
        failures.push(`${name}: ${(err as Error).name}: ${(err as Error).message.slice(0, 80)}`)
      }
    }
    process.stderr.write(`relay: round ${i + 1}: stock ${stock.at(-1)?.toFixed(1)} mesh ${mesh.at(-1)?.toFixed(1)} membrane nodes ${members.at(-1)?.toFixed(1)} MB/s\n`)
  }
  return [metric('throughput.relay_hop', 'MB/s', percentile(mesh, 50), percentile(stock, 50), rounds, {
    bytes, membrane_is: 'one mesh relay circuit hop', stock_is: 'one stock circuit relay v2 hop, limits lifted', membrane_rounds: mesh.map(v => Math.round(v * 10) / 10), stock_rounds: stock.map(v => Math.round(v * 10) / 10), failures,
    membrane_nodes: percentile(members, 50), membrane_nodes_is: 'the same circuit between full Membrane nodes (createMembrane)', membrane_nodes_rounds: members.map(v => Math.round(v * 10) / 10)
  })]
}
