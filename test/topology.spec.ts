import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { mapProblems, meshProblems, startMesh, startMeshMember, untilBroadcastReachesAll } from './fixtures/mesh.js'
import { stopAll } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { Mesh, MeshMember } from './fixtures/mesh.js'

/**
 * 40 members started through one bootstrap peer, on TCP loopback (the
 * topology dials the TCP addresses the network map lists; see fixtures/mesh.ts).
 * Time bounds, generous for a loaded 2-core machine:
 * - settling after start: 120 s
 * - recovery after killing 30 % at once: 90 s for degrees, connectivity, map
 *   agreement and full broadcast delivery together
 */
const SIZE = 40
const MIN_PEERS = 3
const MAX_PEERS = 6
const TOPIC = 'topology-churn'
const SETTLE_BOUND = 120_000
const RECOVERY_BOUND = 90_000

describe(`topology: ${SIZE} members through one bootstrap peer`, () => {
  let mesh: Mesh
  let alive: MeshMember[]
  const extra: MeshMember[] = []

  before(async () => {
    mesh = await startMesh({ size: SIZE, minPeers: MIN_PEERS, maxPeers: MAX_PEERS, topic: TOPIC })
    alive = [...mesh.members]
  })

  after(async () => {
    await stopAll(...extra.map(m => m.node))
    await mesh?.stop()
  })

  it(`settles within ${SETTLE_BOUND / 1000} s: degrees in [${MIN_PEERS}, ${MAX_PEERS}], connected, bootstrap peer out of the mesh`, async () => {
    const nodes = alive.map(m => m.node)
    let last: string[] = []
    await waitFor(() => {
      last = meshProblems(nodes, mesh.bootstrap, MIN_PEERS, MAX_PEERS)
      return last.length === 0
    }, `the mesh settles (last problems: ${last.join('; ')})`, SETTLE_BOUND, 500).catch((err: Error) => {
      throw new Error(`${err.message}; problems: ${last.join('; ')}`)
    })
    // every member has closed its end; the bootstrap peer sees each close when its TCP end does
    await waitFor(() => mesh.bootstrap.getConnections().length === 0, 'the bootstrap peer holds no links', 20_000, 250)
    // the bootstrap peer had every member's link at first contact, so the policy did drop it
    const dropped = nodes.reduce((sum, n) => sum + n.services.topology.stats().bootstrapsDropped, 0)
    assert.ok(dropped >= SIZE / 2, `members dropped the bootstrap peer (${dropped} drops)`)
    // the maps follow the links within a record flood
    await waitFor(() => nodes.every(n => !n.services.networkMap.neighbours(n.peerId).some(p => p.equals(mesh.bootstrap.peerId))),
      'no member map lists a link to the bootstrap peer', 20_000, 250)
  })

  it(`heals within ${RECOVERY_BOUND / 1000} s after 30 % of the members vanish at once`, async () => {
    const victims = new Set<MeshMember>()
    while (victims.size < Math.round(SIZE * 0.3)) {
      victims.add(alive[Math.floor(Math.random() * alive.length)])
    }
    const started = Date.now()
    await Promise.all([...victims].map(async v => v.kill()))
    alive = alive.filter(m => !victims.has(m))
    const nodes = alive.map(m => m.node)
    const deadline = started + RECOVERY_BOUND

    let last: string[] = []
    await waitFor(() => {
      last = [...meshProblems(nodes, mesh.bootstrap, MIN_PEERS, MAX_PEERS), ...mapProblems(nodes)]
      return last.length === 0
    }, 'survivors reconnect and their maps agree', Math.max(1, deadline - Date.now()), 500).catch((err: Error) => {
      throw new Error(`${err.message}; problems: ${last.slice(0, 5).join('; ')}`)
    })
    const settled = Date.now() - started
    await untilBroadcastReachesAll(nodes, TOPIC, deadline).catch((err: Error) => {
      throw new Error(`${err.message}; degrees and maps recovered after ${settled} ms`)
    })
    const recovered = Date.now() - started
    assert.ok(recovered <= RECOVERY_BOUND, `recovered in ${recovered} ms`)
  })

  it('a member joining later is led to members and leaves the bootstrap peer again', async () => {
    const late = await startMeshMember(mesh.bootstrap, { minPeers: MIN_PEERS, maxPeers: MAX_PEERS, topic: TOPIC })
    extra.push(late)
    const nodes = [...alive.map(m => m.node), late.node]
    let last: string[] = []
    await waitFor(() => {
      last = meshProblems(nodes, mesh.bootstrap, MIN_PEERS, MAX_PEERS)
      return last.length === 0 && late.node.services.topology.neighbours().length >= MIN_PEERS
    }, 'the late member holds member links and no bootstrap link', 60_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}; problems: ${last.join('; ')}`)
    })
    await untilBroadcastReachesAll(nodes, TOPIC, Date.now() + 30_000)
  })
})
