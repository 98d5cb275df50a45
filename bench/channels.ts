import { createMembrane } from '../src/index.js'
import { metric } from './metric.js'
import { connectMesh } from './topology.js'
import type { BenchOptions, Metric } from './metric.js'
import type { ChannelRouting, Membrane } from '../src/index.js'

const NODES = 50
const DEGREE = 4
/** Every tenth node is interested */
const INTERESTED = Array.from({ length: NODES / 10 }, (_, i) => i * 10 + 3)
const QUERY = { type: { $in: [1, 4, 5] }, age: { $gt: 4 } }
/** Messages go out at this spacing, and each phase ends with this drain window, so both phases last as long */
const SPACING = 20
const DRAIN = 2000

interface Pet { n: number, type: number, age: number, pad: string }

/**
 * Count bytes every node writes to its connections: the encrypted, muxed
 * stream on each connection (so gossipsub control traffic, heartbeats and
 * protocol negotiation all count). Sent bytes summed over all nodes equal the
 * bytes on the wire, minus TCP/IP headers.
 */
function countBytes (nodes: Membrane[]): () => number {
  let total = 0
  const wrapped = new WeakSet<object>()
  for (const node of nodes) {
    for (const connection of node.getConnections()) {
      const maConn = (connection as unknown as { maConn: { send(data: { byteLength: number }): boolean } }).maConn
      if (wrapped.has(maConn)) {
        continue
      }
      wrapped.add(maConn)
      const send = maConn.send.bind(maConn)
      maConn.send = (data) => {
        total += data.byteLength
        return send(data)
      }
    }
  }
  return () => total
}

async function until (predicate: () => boolean, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout
  while (!predicate() && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

interface Phase { copies: number, bytes: number, duration: number, delivered: number, expected: number }

/** Publish `values` from rotating non-interested nodes on a channel with `routing`; count bytes and matching deliveries */
async function phase (nodes: Membrane[], routing: ChannelRouting, values: Pet[], bytes: () => number): Promise<Phase & { setupBytes: number }> {
  const name = `bench-${routing}`
  const channels = nodes.map(node => node.services.channels.channel<Pet>(name, { routing }))
  let delivered = 0
  const setupStart = bytes()
  for (const i of INTERESTED) {
    channels[i].subscribe(QUERY, () => { delivered++ })
  }
  const publishers = nodes.map((_, i) => i).filter(i => !INTERESTED.includes(i))
  if (routing === 'interest') {
    await until(() => nodes.every(n => n.services.channels.interestedPeers(name).length >= INTERESTED.length - 1), 20_000)
  } else {
    const topic = channels[0].topic
    await until(() => nodes.every(n => n.services.pubsub.getSubscribers(topic).length >= 2), 20_000)
  }
  // gossipsub heartbeats (1 s) graft the meshes
  await new Promise(resolve => setTimeout(resolve, 3000))
  const setupBytes = bytes() - setupStart
  const start = bytes()
  const forwardedBefore = nodes.reduce((sum, n) => sum + n.services.channels.stats().forwarded, 0)
  const started = Date.now()
  for (const [i, value] of values.entries()) {
    await channels[publishers[i % publishers.length]].publish(value)
    await new Promise(resolve => setTimeout(resolve, SPACING))
  }
  await new Promise(resolve => setTimeout(resolve, DRAIN))
  const expected = values.filter(v => [1, 4, 5].includes(v.type) && v.age > 4).length * INTERESTED.length
  const copies = nodes.reduce((sum, n) => sum + n.services.channels.stats().forwarded, 0) - forwardedBefore
  return { copies, bytes: bytes() - start, duration: Date.now() - started, delivered, expected, setupBytes }
}

/**
 * Bytes on the wire for query subscriptions, N=50 with 10% interested peers:
 * interest routing beside plain topic broadcast (every member on the
 * gossipsub topic, matching at the receiver), on the same nodes in one run.
 */
export async function channelsBench (options: BenchOptions): Promise<Metric[]> {
  const messages = options.quick ? 40 : 200
  const nodes = await Promise.all(Array.from({ length: NODES }, async () => createMembrane({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    // the same fixed graph as the stock run: no topology manager rewiring it
    topology: { enabled: false },
    // 50 nodes share one loopback IP: lift the per-IP inbound rate limit that would reset the mesh dials
    libp2p: { connectionManager: { inboundConnectionThreshold: 1000, maxIncomingPendingConnections: 100 } }
  })))
  try {
    await connectMesh(nodes, DEGREE)
    const bytes = countBytes(nodes)
    let seed = 7
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    const values: Pet[] = Array.from({ length: messages }, (_, n) => ({
      n, type: [1, 2, 3, 4, 5, 6][Math.floor(random() * 6)], age: Math.floor(random() * 10), pad: 'x'.repeat(200)
    }))
    // interest first, so its window carries no heartbeats of the broadcast topic
    const interest = await phase(nodes, 'interest', values, bytes)
    // background (heartbeats, gossip on the interest topic) over a window as long as the interest phase
    const idleStart = bytes()
    await new Promise(resolve => setTimeout(resolve, interest.duration))
    const idle = bytes() - idleStart
    const broadcast = await phase(nodes, 'broadcast', values, bytes)
    const extra = {
      nodes: NODES,
      degree: DEGREE,
      interested: INTERESTED.length,
      matching: interest.expected / INTERESTED.length,
      routedCopies: interest.copies,
      transport: 'tcp-loopback',
      note: 'stock = the same channel as plain gossipsub topic broadcast; bytes = all encrypted bytes sent by all nodes during the publish window, background included'
    }
    return [
      metric('channels.bytes.interest_routed', 'bytes/message', interest.bytes / messages, broadcast.bytes / messages, messages, extra),
      metric('channels.bytes.broadcast', 'bytes/message', broadcast.bytes / messages, null, messages, extra),
      metric('channels.bytes.interest_routed_net', 'bytes/message', (interest.bytes - idle) / messages, (broadcast.bytes - idle) / messages, messages, { ...extra, note: 'as channels.bytes.interest_routed minus the idle background measured over an equal window' }),
      metric('channels.delivery.interest_routed', 'fraction', interest.delivered / interest.expected, broadcast.delivered / broadcast.expected, interest.expected, extra),
      metric('channels.bytes.announce_round', 'bytes', interest.setupBytes, null, INTERESTED.length, { ...extra, note: 'all bytes while the interested peers announce their queries and the network settles (3 s); repeated every 20 s refresh' })
    ]
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}
