/**
 * A newcomer that links to two members at once downloads the map once
 * (issue 19.2): its first sync is a bootstrap, and its other link's sync
 * waits for that answer instead of asking for every record again. Real nodes
 * over the memory transport (Noise + yamux).
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { startMemoryMapNode } from './fixtures/netmap.js'
import { waitFor } from './fixtures/wait.js'
import type { MemoryMapNode } from './fixtures/netmap.js'

type Node = MemoryMapNode

const nodes: Node[] = []

async function startNode (): Promise<Node> {
  // 20 ms per buffer, as on a real network: the two links come up while the first answer is on its way
  const node = await startMemoryMapNode({}, { latency: 20 })
  nodes.push(node)
  return node
}

const complete = (node: Node, size: number): boolean => node.services.networkMap.size === size

describe('network map: a newcomer bootstraps once', () => {
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map(async n => n.stop()))
  })

  it('a newcomer\'s first version anyone sees lists its first link', async () => {
    // no added latency: the sync is over well within the re-issue's publishDelay
    const fast = async (): Promise<Node> => { const node = await startMemoryMapNode(); nodes.push(node); return node }
    const [a, b] = await Promise.all([fast(), fast()])
    await a.dial(b.getMultiaddrs()[0])
    await waitFor(() => complete(a, 2) && complete(b, 2) && a.services.networkMap.edges().length === 1, 'a-b in both maps')
    const newcomer = await fast()
    // how many neighbours its record listed when each member first added it
    const firstSeen = new Map<string, number>()
    for (const member of [a, b]) {
      member.services.networkMap.addEventListener('node:add', (evt) => {
        if (evt.detail.id.equals(newcomer.peerId)) { firstSeen.set(member.peerId.toString(), evt.detail.neighbours.length) }
      })
    }
    await newcomer.dial(a.getMultiaddrs()[0])
    await waitFor(() => [a, b].every(m => m.services.networkMap.edges().length === 2) && firstSeen.size === 2, 'both members hold the newcomer and its link')
    // its record of no links (issued at start) was not offered while the re-issue listing the link was due
    assert.deepEqual([...firstSeen.values()], [1, 1])
  })

  it('linking to two members at once costs about one download of the map, not two', async () => {
    // a ring of 16 members: every map holds 16 records
    const ring = await Promise.all(Array.from({ length: 16 }, async () => startNode()))
    await Promise.all(ring.map(async (node, i) => node.dial(ring[(i + 1) % ring.length].getMultiaddrs()[0])))
    await waitFor(() => ring.every(n => complete(n, 16) && n.services.networkMap.edges().length === 16), 'every ring map complete', 30_000)
    const [a, b] = [ring[0], ring[8]]

    // the reference: a newcomer with one link
    const single = await startNode()
    await single.dial(a.getMultiaddrs()[0])
    await waitFor(() => complete(single, 17) && ring.every(n => complete(n, 17)), 'the single-link newcomer is in every map')
    const once = single.services.networkMap.stats().bytesReceived

    // two links at once: the second sync waits for the first's answer
    const double = await startNode()
    await Promise.all([a, b].map(async to => double.dial(to.getMultiaddrs()[0])))
    await waitFor(() => complete(double, 18) && ring.every(n => complete(n, 18)), 'the two-link newcomer is in every map')
    const twice = double.services.networkMap.stats().bytesReceived
    assert.ok(twice < 1.5 * once, `two links received ${twice} B, one link ${once} B`)
    assert.ok(double.services.networkMap.edges().some(e => e.from.equals(double.peerId) || e.to.equals(double.peerId)))
  })
})
