import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_MAX_TOPICS_PER_IP, DEFAULT_MAX_TOPICS_PER_PEER } from '../src/bootstrap/topic-relay.js'
import { startBootstrap, startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { assertPingsAnswered, watchPings } from './fixtures/ping-watch.js'
import { startStockTcpNode } from './fixtures/stock.js'
import { waitFor } from './fixtures/wait.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

type GossipNode = Libp2p<{ pubsub: GossipSub, ping: Ping }>

/** A stock gossipsub node subscribed to `count` topics named after `prefix`: one RPC carries them all on connect */
async function subscriber (prefix: string, count: number): Promise<GossipNode> {
  const node = await startStockTcpNode({
    services: { identify: identify(), ping: ping(), pubsub: gossipsub() }
  }) as GossipNode
  for (let i = 0; i < count; i++) {
    node.services.pubsub.subscribe(`${prefix}-${i}`)
  }
  return node
}

describe('topic relay under a subscription flood', () => {
  let boot: BootstrapPeer
  let honest: Membrane
  let pinger: GossipNode
  const attackers: GossipNode[] = []

  before(async () => {
    // every subscriber dials from 127.0.0.1: lift libp2p's 5-per-second inbound limit per host
    boot = await startBootstrap({ libp2p: { connectionManager: { inboundConnectionThreshold: 10_000, maxConnections: 512 } } })
    honest = await startMember(boot)
    honest.services.pubsub.subscribe('honest')
    await waitFor(() => boot.services.topicRelay.topics().includes('honest'), 'the honest member\'s topic is relayed')
    pinger = await subscriber('pinger', 0)
    await pinger.dial(multiaddr(tcpAddress(boot)))
  })

  after(async () => { await stopAll(...attackers, pinger, honest, boot) })

  it('relays at most its bound for one identity, while honest pings answer', async () => {
    const pings = watchPings(pinger, boot.peerId)
    const attacker = await subscriber('flood', 600)
    attackers.push(attacker)
    await attacker.dial(multiaddr(tcpAddress(boot)))
    await waitFor(() => boot.services.topicRelay.stats().refused >= 600 - DEFAULT_MAX_TOPICS_PER_PEER, 'the flood is refused past the per-peer bound', 15_000)
    const answered = await pings.stop()
    const flood = boot.services.topicRelay.topics().filter(t => t.startsWith('flood-'))
    assert.equal(flood.length, DEFAULT_MAX_TOPICS_PER_PEER)
    assert.ok(boot.services.topicRelay.topics().includes('honest'))
    assertPingsAnswered(answered)
  })

  it('bounds the requests of many identities from one IP address', async () => {
    for (let i = 0; i < 9; i++) {
      const attacker = await subscriber(`sybil${i}`, DEFAULT_MAX_TOPICS_PER_PEER)
      attackers.push(attacker)
      const { requests, refused } = boot.services.topicRelay.stats()
      await attacker.dial(multiaddr(tcpAddress(boot)))
      // one identity at a time, each one's subscriptions taken or refused before the next
      await waitFor(() => boot.services.topicRelay.stats().requests + boot.services.topicRelay.stats().refused === requests + refused + DEFAULT_MAX_TOPICS_PER_PEER, `sybil ${i}'s subscriptions handled`, 15_000)
    }
    // 1 honest + 32 flood + 9 × 32 sybil requests, all from 127.0.0.1: past the per-IP bound
    await waitFor(() => boot.services.topicRelay.stats().requests === DEFAULT_MAX_TOPICS_PER_IP, 'requests reach the per-IP bound', 15_000)
    const before = boot.services.topicRelay.stats().refused
    const late = await subscriber('late', 4)
    attackers.push(late)
    await late.dial(multiaddr(tcpAddress(boot)))
    await waitFor(() => boot.services.topicRelay.stats().refused === before + 4, 'a later identity from the same IP is refused', 15_000)
    assert.equal(boot.services.topicRelay.stats().requests, DEFAULT_MAX_TOPICS_PER_IP)
  })

  it('leaves the topics once their members are gone', async () => {
    const relayed = boot.services.topicRelay.stats().topics
    await stopAll(...attackers)
    await waitFor(() => boot.services.topicRelay.topics().length === 1, 'only the honest topic is still relayed', 15_000)
    assert.deepEqual(boot.services.topicRelay.topics(), ['honest'])
    assert.equal(boot.services.topicRelay.stats().released, relayed - 1)
    const own = boot.services.pubsub.getTopics()
    assert.ok(!own.some(t => t.startsWith('flood-') || t.startsWith('sybil')), 'gossipsub left them too')
    // unsubscribing releases as well
    honest.services.pubsub.unsubscribe('honest')
    await waitFor(() => boot.services.topicRelay.topics().length === 0, 'the honest topic is released after unsubscribe')
  })
})
