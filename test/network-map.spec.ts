import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { startBootstrap, startMember, stopAll, waitConnected } from './fixtures/nodes.js'
import { link, startMapNode, tcpAddr } from './fixtures/netmap.js'
import { waitFor } from './fixtures/wait.js'
import type { MapNode } from './fixtures/netmap.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { ChildProcess } from 'node:child_process'

const N = 12
const CONVERGE = 30_000

function pairKey (a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`
}

/** The true connection graph among `members` (open connections) */
function trueEdges (nodes: Libp2p[], members: Set<string>): Set<string> {
  const edges = new Set<string>()
  for (const node of nodes) {
    for (const c of node.getConnections()) {
      const remote = c.remotePeer.toString()
      if (c.status === 'open' && members.has(remote)) {
        edges.add(pairKey(node.peerId.toString(), remote))
      }
    }
  }
  return edges
}

function mapEdges (node: MapNode): Set<string> {
  return new Set(node.services.networkMap.edges().map(e => pairKey(e.from.toString(), e.to.toString())))
}

function mapNodes (node: MapNode): Set<string> {
  return new Set(node.services.networkMap.nodes().map(n => n.id.toString()))
}

function sameSet (a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every(x => b.has(x))
}

/** Every node's map equals the true graph over `members` (ids) */
function converged (nodes: MapNode[], members: Set<string>, extra: Libp2p[] = []): boolean {
  const truth = trueEdges([...nodes, ...extra], members)
  return nodes.every(n => sameSet(mapNodes(n), members) && sameSet(mapEdges(n), truth))
}

function describeDiff (nodes: MapNode[], members: Set<string>, extra: Libp2p[] = []): string {
  const truth = trueEdges([...nodes, ...extra], members)
  const bad = nodes.filter(n => !sameSet(mapNodes(n), members) || !sameSet(mapEdges(n), truth))
  return `${bad.length} nodes differ from truth (${members.size} nodes, ${truth.size} edges); first has ${bad[0] == null ? '-' : `${mapNodes(bad[0]).size} nodes, ${mapEdges(bad[0]).size} edges`}`
}

/** Shortest hop distance over `edges` by BFS */
function bfsDistance (edges: Set<string>, from: string, to: string, exclude = new Set<string>()): number | undefined {
  const adj = new Map<string, string[]>()
  for (const e of edges) {
    const [a, b] = e.split('|')
    adj.set(a, [...(adj.get(a) ?? []), b])
    adj.set(b, [...(adj.get(b) ?? []), a])
  }
  const dist = new Map([[from, 0]])
  const queue = [from]
  while (queue.length > 0) {
    const cur = queue.shift()!
    if (cur === to) { return dist.get(cur) }
    for (const next of adj.get(cur) ?? []) {
      if (!dist.has(next) && !exclude.has(next)) {
        dist.set(next, dist.get(cur)! + 1)
        queue.push(next)
      }
    }
  }
  return undefined
}

/** Ring plus fixed chords: connected, not a star, every node degree 2–4 */
function topology (n: number): Array<[number, number]> {
  const pairs: Array<[number, number]> = []
  for (let i = 0; i < n; i++) {
    pairs.push([i, (i + 1) % n])
  }
  for (let i = 0; i < n; i += 3) {
    pairs.push([i, (i + Math.floor(n / 2) - 1) % n])
  }
  return pairs
}

describe(`network map over ${N} TCP peers in a ring with chords`, () => {
  let nodes: MapNode[]
  let members: Set<string>
  let child: ChildProcess | undefined

  before(async () => {
    nodes = await Promise.all(Array.from({ length: N }, async () => startMapNode()))
    members = new Set(nodes.map(n => n.peerId.toString()))
    await Promise.all(topology(N).map(async ([a, b]) => link(nodes[a], nodes[b])))
  })

  after(async () => {
    child?.kill('SIGKILL')
    await stopAll(...nodes)
  })

  it('every map equals the true connection graph', async () => {
    await waitFor(() => converged(nodes, members), 'maps converge', CONVERGE, 100).catch(err => {
      throw new Error(`${err.message}: ${describeDiff(nodes, members)}`)
    })
    const truth = trueEdges(nodes, members)
    assert.ok(truth.size >= N + 3, 'a ring with chords, not a tree')
    // no star: no node touches more than a third of the edges
    for (const node of nodes) {
      assert.ok([...truth].filter(e => e.includes(node.peerId.toString())).length <= truth.size / 3)
    }
    const sample = nodes[5].services.networkMap.get(nodes[0].peerId)
    assert.ok(sample != null)
    assert.ok(sample.seq > 0n)
    assert.ok(sample.expires > Date.now())
    assert.ok(sample.multiaddrs.some(ma => ma.toString().includes('/tcp/')), 'dialable addresses are published')
    assert.ok(sample.neighbours.every(n => n.kind === 'direct'))
    assert.equal(nodes[5].services.networkMap.size, N)
    assert.deepEqual(
      new Set(nodes[5].services.networkMap.neighbours(nodes[0].peerId).map(String)),
      new Set(nodes[0].getConnections().map(c => c.remotePeer.toString()))
    )
  })

  it('path() returns shortest paths over existing edges, honours exclude, and undefined when unreachable', async () => {
    await waitFor(() => converged(nodes, members), 'maps converge', CONVERGE, 100)
    const truth = trueEdges(nodes, members)
    const map = nodes[0].services.networkMap
    for (const target of nodes) {
      const path = map.path(target.peerId)
      assert.ok(path != null)
      assert.ok(path[0].equals(nodes[0].peerId), 'starts at self')
      assert.ok(path[path.length - 1].equals(target.peerId), 'ends at the target')
      for (let i = 1; i < path.length; i++) {
        assert.ok(truth.has(pairKey(path[i - 1].toString(), path[i].toString())), 'every hop is a real link')
      }
      assert.equal(path.length - 1, bfsDistance(truth, nodes[0].peerId.toString(), target.peerId.toString()), 'shortest')
    }
    // excluding the first hop of a path forces a detour (or none)
    const far = nodes[N / 2]
    const direct = map.path(far.peerId)!
    const excluded = direct[1]
    const detour = map.path(far.peerId, { exclude: [excluded] })
    const expected = bfsDistance(truth, nodes[0].peerId.toString(), far.peerId.toString(), new Set([excluded.toString()]))
    assert.equal(detour == null ? undefined : detour.length - 1, expected)
    assert.ok(detour?.every(p => !p.equals(excluded)) ?? true)
    // excluding every neighbour of self cuts it off
    const cut = map.path(far.peerId, { exclude: map.neighbours(nodes[0].peerId) })
    assert.equal(cut, undefined)
    // an unknown peer is unreachable
    const stranger = await startMapNode()
    try {
      assert.equal(map.path(stranger.peerId), undefined)
    } finally {
      await stranger.stop()
    }
    assert.equal(map.path(nodes[0].peerId)?.length, 1)
  })

  it('a new link appears in every map', async () => {
    const truthBefore = trueEdges(nodes, members)
    const pair = [1, 7] as const
    assert.ok(!truthBefore.has(pairKey(nodes[pair[0]].peerId.toString(), nodes[pair[1]].peerId.toString())), 'not linked yet')
    const added: string[] = []
    nodes[4].services.networkMap.addEventListener('edge:add', (evt) => { added.push(pairKey(evt.detail.from.toString(), evt.detail.to.toString())) })
    await link(nodes[pair[0]], nodes[pair[1]])
    await waitFor(() => converged(nodes, members), 'new link reflected', CONVERGE, 100).catch(err => {
      throw new Error(`${err.message}: ${describeDiff(nodes, members)}`)
    })
    assert.ok(added.includes(pairKey(nodes[pair[0]].peerId.toString(), nodes[pair[1]].peerId.toString())), 'edge:add emitted')
  })

  it('a dropped link disappears from every map', async () => {
    const a = nodes[1]
    const b = nodes[7]
    const removed: string[] = []
    nodes[10].services.networkMap.addEventListener('edge:remove', (evt) => { removed.push(pairKey(evt.detail.from.toString(), evt.detail.to.toString())) })
    await a.hangUp(b.peerId)
    await waitFor(() => !trueEdges(nodes, members).has(pairKey(a.peerId.toString(), b.peerId.toString())), 'hung up')
    await waitFor(() => converged(nodes, members), 'dropped link reflected', CONVERGE, 100).catch(err => {
      throw new Error(`${err.message}: ${describeDiff(nodes, members)}`)
    })
    assert.ok(removed.includes(pairKey(a.peerId.toString(), b.peerId.toString())), 'edge:remove emitted')
  })

  it('a node leaving cleanly drops out of every map', async () => {
    const leaving = nodes[3]
    const removals: number[] = []
    for (const node of nodes) {
      node.services.networkMap.addEventListener('node:remove', (evt) => {
        if (evt.detail.id.equals(leaving.peerId)) { removals.push(Date.now()) }
      })
    }
    await leaving.stop()
    nodes = nodes.filter(n => n !== leaving)
    members.delete(leaving.peerId.toString())
    await waitFor(() => converged(nodes, members), 'departure reflected', CONVERGE, 100).catch(err => {
      throw new Error(`${err.message}: ${describeDiff(nodes, members)}`)
    })
    assert.equal(removals.length, nodes.length, 'node:remove once per remaining node')
  })

  it('a node that crashes (SIGKILL, no goodbye) drops out of every map', async () => {
    const script = fileURLToPath(new URL('./fixtures/netmap-peer.js', import.meta.url))
    child = spawn(process.execPath, [script, tcpAddr(nodes[0]), tcpAddr(nodes[5])], { stdio: ['ignore', 'pipe', 'inherit'] })
    const [line] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
    const info = JSON.parse(line) as { peerId: string, addr: string }
    const crashId = peerIdFromString(info.peerId)
    // it joins: the map grows by one node and its two links
    await waitFor(() => nodes.every(n => n.services.networkMap.neighbours(crashId).length === 2), 'crash-to-be node joined', CONVERGE, 100)
    const withChild = new Set([...members, info.peerId])
    await waitFor(() => converged(nodes, withChild), 'joined map converges', CONVERGE, 100)

    child.kill('SIGKILL')
    await once(child, 'exit')
    child = undefined
    await waitFor(() => converged(nodes, members), 'crash reflected', CONVERGE, 100).catch(err => {
      throw new Error(`${err.message}: ${describeDiff(nodes, members)}`)
    })
    assert.ok(nodes.every(n => n.services.networkMap.get(crashId) == null))
  })
})

describe('a goodbye alone takes a leaving node out of every map', () => {
  // unreachability and expiry are a minute or more away: within the wait below only the goodbye can remove the node
  const SLOW = { recordTtl: 120_000, unreachableTimeout: 60_000 }
  let chain: MapNode[]

  before(async () => {
    chain = await Promise.all([0, 1, 2].map(async () => startMapNode(SLOW)))
    await link(chain[0], chain[1])
    await link(chain[1], chain[2])
    await waitFor(() => chain.every(n => n.services.networkMap.size === 3 && n.services.networkMap.edges().length === 2), 'chain converged', CONVERGE, 100)
  })

  after(async () => {
    await stopAll(...chain)
  })

  it('the far end of a chain drops a node two hops away once it stops', async () => {
    const leaving = chain[2]
    await leaving.stop()
    await waitFor(() => chain.slice(0, 2).every(n => n.services.networkMap.get(leaving.peerId) == null), 'goodbye reached both', 10_000, 50)
    assert.equal(chain[0].services.networkMap.size, 2)
    assert.deepEqual(chain[0].services.networkMap.edges().map(e => [e.from, e.to].map(String).sort()), [[chain[0].peerId, chain[1].peerId].map(String).sort()])
  })
})

describe('a node whose last link is lost leaves every map without the join grace', () => {
  // the join grace is a minute: only the lost-link rule can drop the node within the wait below
  const SLOW = { recordTtl: 120_000, unreachableTimeout: 60_000 }
  let chain: MapNode[]

  before(async () => {
    chain = await Promise.all([0, 1, 2].map(async () => startMapNode(SLOW)))
    await link(chain[0], chain[1])
    await link(chain[1], chain[2])
    await waitFor(() => chain.every(n => n.services.networkMap.size === 3 && n.services.networkMap.edges().length === 2), 'chain converged', CONVERGE, 100)
  })

  after(async () => {
    await stopAll(...chain)
  })

  it('cutting the only link of a running node (no goodbye) drops it from the other maps', async () => {
    const [a, b, c] = chain
    await b.hangUp(c.peerId)
    await waitFor(() => [a, b].every(n => n.services.networkMap.get(c.peerId) == null), 'lost node dropped', 10_000, 50)
    assert.deepEqual(a.services.networkMap.findPath(c.peerId), { found: false, reason: 'unreachable' })
    assert.equal(a.services.networkMap.path(c.peerId), undefined)
    // and c, cut off, keeps only itself
    await waitFor(() => c.services.networkMap.size === 1, 'the cut-off node drops the others', 10_000, 50)
  })
})

describe('network map in createMembrane and the bootstrap peer', () => {
  let boot: BootstrapPeer
  let members: Membrane[]

  before(async () => {
    boot = await startBootstrap({ networkMap: { recordTtl: 8_000, unreachableTimeout: 2_000 } })
    members = await Promise.all([0, 1].map(async (i) => startMember(boot, { networkMap: { alias: `member-${i}`, recordTtl: 8_000, unreachableTimeout: 2_000 } })))
    await Promise.all(members.map(async m => waitConnected(m, [boot])))
  })

  after(async () => {
    await stopAll(...members, boot)
  })

  it('members see the bootstrap peer with its roles and each other through it', async () => {
    const ids = [boot, ...members].map(n => n.peerId)
    await waitFor(() => members.every(m => m.services.networkMap.size === 3 && m.services.networkMap.neighbours(boot.peerId).length === 2), 'maps converge', CONVERGE, 100)
    const entry = members[0].services.networkMap.get(boot.peerId)
    assert.deepEqual(entry?.roles, ['bootstrap', 'relay'])
    assert.equal(members[1].services.networkMap.get(members[0].peerId)?.alias, 'member-0')
    const path = members[0].services.networkMap.path(members[1].peerId)
    assert.deepEqual(path?.map(String), [ids[1], ids[0], ids[2]].map(String))
    assert.equal(boot.services.networkMap.edges().length, 2)
  })

  it('a relay v2 link is a neighbour of kind relay', async () => {
    const relayAddr = members[1].getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit'))
    if (relayAddr == null) {
      await waitFor(() => members[1].getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), 'relay reservation', 15_000)
    }
    const addr = members[1].getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit') && !ma.toString().includes('/webrtc'))!
    await members[0].dial(multiaddr(addr.toString()))
    const relayed = (id: PeerId): boolean => members.every(m => m.services.networkMap.edges().some(e =>
      e.kind === 'relay' && (e.from.equals(id) || e.to.equals(id)) && (e.from.equals(members[0].peerId) || e.to.equals(members[0].peerId))))
    await waitFor(() => relayed(members[1].peerId), 'relayed edge in both maps', CONVERGE, 100)
  })
})
