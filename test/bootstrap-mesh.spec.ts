import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startBootstrap, startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'

const TOPIC = 'bootstrap-mesh'

/** Every member publishes once; resolves when every other member got each message */
async function allReachAll (members: Membrane[], label: string): Promise<void> {
  const inboxes = new Map<Membrane, Set<string>>()
  const unsubscribes = members.map((m) => {
    const inbox = new Set<string>()
    inboxes.set(m, inbox)
    return m.services.broadcast.subscribe(TOPIC, (msg) => { inbox.add(new TextDecoder().decode(msg.data)) })
  })
  try {
    const texts = members.map((m, i) => `${label} from ${i}`)
    // publish until delivered: the mesh may still be grafting after a failover
    await waitFor(async () => {
      for (const [i, m] of members.entries()) {
        const missing = members.some((other, j) => j !== i && !(inboxes.get(other)?.has(texts[i]) ?? false))
        if (missing) {
          await m.services.broadcast.publish(TOPIC, new TextEncoder().encode(texts[i]), { allowNoSubscribers: true })
        }
      }
      return members.every((m, i) => texts.every((t, j) => i === j || (inboxes.get(m)?.has(t) ?? false)))
    }, `${label}: every member receives every other member's broadcast`, 40_000, 1000)
  } finally {
    unsubscribes.forEach(u => { u() })
  }
}

describe('a mesh of three bootstrap peers', () => {
  let seed: BootstrapPeer
  let b2: BootstrapPeer
  let b3: BootstrapPeer
  const members: Membrane[] = []

  before(async () => {
    seed = await startBootstrap()
    // the other two are given only the seed
    b2 = await startBootstrap({ peers: [tcpAddress(seed)] })
    b3 = await startBootstrap({ peers: [tcpAddress(seed)] })
    await waitFor(() => b2.getConnections(b3.peerId).length > 0, 'b2 and b3 meshed through the seed', 20_000)
    for (let i = 0; i < 6; i++) {
      members.push(await startMember([seed, b2, b3][i % 3]))
    }
  })

  after(async () => {
    await stopAll(...members, b3, b2, seed)
  })

  it('bootstrap peers given one seed find each other and stay connected', async () => {
    assert.ok(b2.getConnections(b3.peerId).length > 0, 'b2 and b3 meshed through the seed')
    await waitFor(() => [seed, b2, b3].every(b => b.services.peerExchange.knownBootstraps().length === 2), 'each knows the other two', 10_000)
    for (const b of [seed, b2, b3]) {
      assert.equal(b.services.peerExchange.knownBootstraps().length, 2)
    }
  })

  it('hands members every bootstrap peer, and members on different bootstrap peers reach each other', async () => {
    await waitFor(() => members.every(m => m.services.peerExchange.knownBootstraps().length === 3), 'members know all three bootstrap peers', 20_000)
    await allReachAll(members, 'before')
  })

  it('members fail over when two bootstrap peers stop, still reach each other, and new members join through the survivor', async () => {
    await b2.stop()
    await b3.stop()
    await waitFor(() => members.every(m => m.getConnections(seed.peerId).length > 0), 'every member connected to the survivor', 40_000)
    await allReachAll(members, 'after')

    const late = await startMember(seed)
    members.push(late)
    await waitFor(() => late.getConnections(seed.peerId).length > 0, 'new member joined')
    await allReachAll(members, 'late')
  })
})
