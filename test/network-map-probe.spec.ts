/**
 * A link identify never named (issue 19, N = 300 over worker processes):
 * libp2p runs identify once per connection with a 5 s deadline, and the
 * registrar links a topology's peer only when identify names its protocol. On
 * an event loop seconds behind, identify times out, so neither end listed the
 * link, and a node whose every identify failed held only itself while every
 * other map lacked it. Here identify never runs (`runOnConnectionOpen: false`),
 * which is what a timed-out identify leaves behind. Real nodes over the memory
 * transport (Noise + yamux).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { createLibp2p } from 'libp2p'
import { networkMap } from '../src/network-map/index.js'
import { waitFor } from './fixtures/wait.js'
import type { NetworkMap, NetworkMapInit } from '../src/network-map/index.js'
import type { Libp2p } from '@libp2p/interface'

type Node = Libp2p<{ networkMap: NetworkMap }>

let counter = 0
/** A node whose own identify never runs (`identified`: it does; either way it answers others' identify) */
async function startNode (init: NetworkMapInit, identified = false): Promise<Node> {
  return createLibp2p({
    addresses: { listen: [`/memory/netmap-probe-${process.pid}-${counter++}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify({ runOnConnectionOpen: identified }), networkMap: networkMap({ publishDelay: 50, ...init }) }
  })
}

const listed = (node: Node, of: Node): string[] => (node.services.networkMap.get(of.peerId)?.neighbours ?? []).map(n => n.id.toString())

describe('a link whose identify never completed', () => {
  let a: Node
  let b: Node

  before(async () => {
    // a never probes within the test: it learns of the link from b's probe stream alone
    a = await startNode({ linkProbeDelay: 3_600_000 })
    b = await startNode({ linkProbeDelay: 50 })
  })

  after(async () => {
    await Promise.allSettled([a, b].map(async n => n.stop()))
  })

  it('becomes a map link at both ends, and is unlinked when the connection closes', async () => {
    await a.dial(b.getMultiaddrs()[0])
    assert.deepEqual((await a.peerStore.get(b.peerId)).protocols, [], 'identify named no protocol')

    // b probes the connection; a links b when b's stream arrives; each then lists the other
    await waitFor(() => [a, b].every(n => n.services.networkMap.size === 2 && n.services.networkMap.edges().length === 1),
      'both maps hold both nodes and the two-ended edge', 20_000)
    assert.deepEqual(listed(a, a), [b.peerId.toString()])
    assert.deepEqual(listed(b, b), [a.peerId.toString()])

    // no registrar onDisconnect for a peer identify never named: the map unlinks it on the last connection's close
    await a.hangUp(b.peerId)
    await waitFor(() => listed(a, a).length === 0 && listed(b, b).length === 0, 'both records list no neighbour after the close', 20_000)
  })
})

describe('a node whose own identify of its neighbour timed out', () => {
  let x: Node
  let y: Node

  before(async () => {
    // x never probes within the test: only y's stream (y's identify of x worked) can tell x of the link
    x = await startNode({ linkProbeDelay: 3_600_000 })
    y = await startNode({}, true)
  })

  after(async () => {
    await Promise.allSettled([x, y].map(async n => n.stop()))
  })

  it('links the neighbour whose stream arrives, so its map is not just itself and the edge is two-ended', async () => {
    // the bench's empty map: y links x and floods to it, x never links y, so x's record lists no one,
    // no two-ended edge reaches x, and x's map holds only x while y's map drops x as unreachable
    await y.dial(x.getMultiaddrs()[0])
    await waitFor(() => [x, y].every(n => n.services.networkMap.size === 2 && n.services.networkMap.edges().length === 1),
      'both maps hold both nodes and the two-ended edge', 20_000)
    assert.deepEqual(listed(x, x), [y.peerId.toString()])
    assert.deepEqual(listed(y, y), [x.peerId.toString()])
  })
})
