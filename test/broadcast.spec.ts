import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { RPC } from '@libp2p/gossipsub/message'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { concat } from 'uint8arrays/concat'
import { fromString } from 'uint8arrays/from-string'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { startBootstrap, startMember, stopAll, waitConnected } from './fixtures/nodes.js'
import { startStockTcpNode } from './fixtures/stock.js'
import { observationWindow, waitFor } from './fixtures/wait.js'
import type { BroadcastMessage, Membrane } from '../src/index.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Libp2p } from '@libp2p/interface'

const TOPIC = 'test-chat'
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const untext = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('broadcast through a bootstrap peer', () => {
  let boot: BootstrapPeer
  let members: Membrane[]
  const received = new Map<string, BroadcastMessage[]>()

  before(async () => {
    boot = await startBootstrap()
    members = await Promise.all([0, 1, 2].map(async () => startMember(boot)))
    for (const m of members) {
      const inbox: BroadcastMessage[] = []
      received.set(m.peerId.toString(), inbox)
      m.services.broadcast.subscribe(TOPIC, (msg) => { inbox.push(msg) })
    }
    await Promise.all(members.map(async m => waitConnected(m, [boot])))
    // the bootstrap peer has joined the topic with every member in its mesh: it forwards only to its
    // mesh, and it grafts a member whose subscription it learnt after joining only at its next heartbeat
    await waitFor(() => {
      const mesh = (boot.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(TOPIC)
      return members.every(m => mesh.includes(m.peerId.toString()))
    }, 'every member is in the bootstrap peer\'s topic mesh', 15_000)
    // and each member has learnt the bootstrap peer's subscription (the bootstrap peer's mesh is its own
    // state: its SUBSCRIBE and GRAFT may still be on the way, or unread by a loaded member)
    await Promise.all(members.map(async m => m.services.broadcast.waitForSubscribers(TOPIC, { signal: AbortSignal.timeout(15_000) })))
  })

  after(async () => {
    await stopAll(...members, boot)
  })

  it('delivers each member\'s broadcast to every other member, once, with a verified sender', async () => {
    for (const [i, m] of members.entries()) {
      await m.services.broadcast.publish(TOPIC, text(`hello from ${i}`))
    }
    for (const [i, m] of members.entries()) {
      const inbox = received.get(m.peerId.toString()) ?? []
      await waitFor(() => inbox.length >= 2, `member ${i} receives 2 messages`, 10_000)
    }
    // duplicates would arrive within this window after the originals
    await observationWindow(500)
    for (const [i, m] of members.entries()) {
      const inbox = received.get(m.peerId.toString()) ?? []
      const texts = inbox.map(msg => untext(msg.data)).sort()
      const expected = [0, 1, 2].filter(j => j !== i).map(j => `hello from ${j}`)
      assert.deepEqual(texts, expected)
      for (const msg of inbox) {
        const j = Number(untext(msg.data).split(' ').pop())
        assert.ok(msg.from.equals(members[j].peerId), 'sender is the author')
        assert.ok(msg.receivedFrom.equals(boot.peerId), 'forwarded by the bootstrap peer')
        assert.equal(typeof msg.id, 'string')
        assert.equal(msg.topic, TOPIC)
      }
    }
  })

  it('does not deliver messages on a topic the member has not subscribed to', async () => {
    const other: BroadcastMessage[] = []
    members[1].services.broadcast.addEventListener('message', (evt) => {
      if (evt.detail.topic === 'elsewhere') { other.push(evt.detail) }
    })
    members[2].services.broadcast.subscribe('elsewhere')
    await waitFor(() => members[0].services.broadcast.subscribers(TOPIC).length > 0, 'ready')
    // member 0 joins too so it has a route to publish on
    members[0].services.broadcast.subscribe('elsewhere')
    await waitFor(() => members[0].services.broadcast.subscribers('elsewhere').length > 0, 'elsewhere routed', 10_000)
    const got2: BroadcastMessage[] = []
    members[2].services.broadcast.subscribe('elsewhere', (msg) => { got2.push(msg) })
    await members[0].services.broadcast.publish('elsewhere', text('not for member 1'))
    await waitFor(() => got2.length === 1, 'subscribed member 2 gets it')
    // member 1 would have received it by now: it is one hop from the bootstrap peer, as member 2 is
    await observationWindow(500)
    assert.equal(other.length, 0)
    assert.ok(!(received.get(members[1].peerId.toString()) ?? []).some(m => untext(m.data) === 'not for member 1'))
  })

  it('rejects oversize messages and bad topics with typed errors', async () => {
    const b = members[0].services.broadcast
    await assert.rejects(b.publish(TOPIC, new Uint8Array(64 * 1024 + 1)), { name: 'MessageTooLargeError' })
    await assert.rejects(b.publish('', text('x')), { name: 'InvalidTopicError' })
    await assert.rejects(b.publish('x'.repeat(257), text('x')), { name: 'InvalidTopicError' })
    assert.throws(() => b.subscribe(''), { name: 'InvalidTopicError' })
    await assert.rejects(b.publish('nobody-listens-here', text('x')), { name: 'NoSubscribersError' })
    assert.deepEqual((await b.publish('nobody-listens-here', text('x'), { allowNoSubscribers: true })).recipients, [])
  })
})

describe('broadcast rejects forged messages sent as raw gossipsub RPCs', () => {
  let boot: BootstrapPeer
  let victim: Membrane
  let attacker: Libp2p

  before(async () => {
    boot = await startBootstrap()
    victim = await startMember(boot)
    attacker = await startStockTcpNode()
  })

  after(async () => {
    await stopAll(victim, attacker, boot)
  })

  async function signedMessage (data: Uint8Array, seqno: bigint): Promise<RPC.Message> {
    const seq = new Uint8Array(8)
    new DataView(seq.buffer).setBigUint64(0, seqno)
    const unsigned: RPC.Message = { from: attacker.peerId.toMultihash().bytes, data, seqno: seq, topic: TOPIC }
    const signature = await (attacker as unknown as { components: { privateKey: { sign(b: Uint8Array): Promise<Uint8Array> } } }).components.privateKey.sign(concat([fromString('libp2p-pubsub:'), RPC.Message.encode(unsigned)]))
    return { ...unsigned, signature, key: publicKeyToProtobuf(attacker.peerId.publicKey!) }
  }

  it('delivers a correctly signed raw message but drops tampered and unsigned ones, scoring the sender down', async () => {
    const inbox: BroadcastMessage[] = []
    victim.services.broadcast.subscribe(TOPIC, (msg) => { inbox.push(msg) })
    const victimAddr = victim.getMultiaddrs().map(String).find(a => a.includes('/tcp/') && !a.includes('p2p-circuit'))
    assert.ok(victimAddr != null)
    const stream = await attacker.dialProtocol(multiaddr(victimAddr), '/meshsub/1.1.0')
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
    const signal = AbortSignal.timeout(10_000)
    await lp.write(RPC.encode({ subscriptions: [{ subscribe: true, topic: TOPIC }], messages: [] }), { signal })

    // control: a genuine signature from the attacker's own key is accepted
    await lp.write(RPC.encode({ subscriptions: [], messages: [await signedMessage(text('genuine'), 1n)] }), { signal })
    await waitFor(() => inbox.some(m => untext(m.data) === 'genuine'), 'genuine raw message delivered')

    const tampered = await signedMessage(text('original'), 2n)
    tampered.data = text('tampered')
    const forgedAuthor = await signedMessage(text('claims another author'), 3n)
    forgedAuthor.from = victim.peerId.toMultihash().bytes
    const unsigned: RPC.Message = { data: text('unsigned'), topic: TOPIC }
    const badSignature = await signedMessage(text('random signature'), 4n)
    badSignature.signature = crypto.getRandomValues(new Uint8Array(64))

    await lp.write(RPC.encode({ subscriptions: [], messages: [tampered, forgedAuthor, unsigned, badSignature] }), { signal })
    // a genuine message behind the forged ones: once it is delivered, the batch before it was handled
    await lp.write(RPC.encode({ subscriptions: [], messages: [await signedMessage(text('genuine again'), 5n)] }), { signal })
    await waitFor(() => inbox.some(m => untext(m.data) === 'genuine again'), 'second genuine raw message delivered')
    const score = (): number => (victim.services.pubsub as unknown as { getScore(p: string): number }).getScore(attacker.peerId.toString())
    await waitFor(() => score() < 0, 'the attacker\'s gossipsub score drops below zero')
    assert.deepEqual(inbox.map(m => untext(m.data)), ['genuine', 'genuine again'])

    // a garbage RPC frame must not take the victim down: it still answers its bootstrap peer
    await lp.write(crypto.getRandomValues(new Uint8Array(200)), { signal })
    await boot.services.ping.ping(victim.peerId, { signal: AbortSignal.timeout(10_000) })
  })
})

describe('broadcast.meshPeers', () => {
  it('is empty until gossipsub grafts a subscriber of the topic, then lists only subscribers', async () => {
    const boot = await startBootstrap()
    const a = await startMember(boot)
    const b = await startMember(boot)
    try {
      assert.deepEqual(a.services.broadcast.meshPeers('mesh-peers'), [])
      a.services.broadcast.subscribe('mesh-peers')
      b.services.broadcast.subscribe('mesh-peers')
      await waitFor(() => a.services.broadcast.meshPeers('mesh-peers').length > 0, 'a grafted a peer for the topic', 30_000)
      const subscribers = a.services.broadcast.subscribers('mesh-peers')
      assert.ok(a.services.broadcast.meshPeers('mesh-peers').every(p => subscribers.some(s => s.equals(p))))
      assert.deepEqual(a.services.broadcast.meshPeers('another-topic'), [])
    } finally {
      await stopAll(b, a, boot)
    }
  })
})

describe('broadcast.waitForSubscribers', () => {
  it('resolves once a subscriber is connected, so a publish right after createMembrane finds one', async () => {
    const boot = await startBootstrap()
    const listener = await startMember(boot)
    const sender = await startMember(boot)
    try {
      const inbox: BroadcastMessage[] = []
      listener.services.broadcast.subscribe('first-publish', (msg) => { inbox.push(msg) })
      const subscribers = await sender.services.broadcast.waitForSubscribers('first-publish', { signal: AbortSignal.timeout(30_000) })
      assert.ok(subscribers.length > 0)
      assert.ok(subscribers.every(p => sender.services.broadcast.subscribers('first-publish').some(s => s.equals(p))))
      const first = await sender.services.broadcast.publish('first-publish', text('first'))
      assert.ok(first.recipients.length > 0)
      // delivery, with a publish a second (at most 30): a first message sent right after the first GRAFT is
      // sometimes never forwarded by the bootstrap peer (seen under load; not yet understood)
      for (let i = 0; i < 30 && inbox.length === 0; i++) {
        await sender.services.broadcast.publish('first-publish', text(`again ${i}`))
        await waitFor(() => inbox.length > 0, 'a publish delivered', 1_000).catch(() => {})
      }
      assert.ok(inbox.length > 0, 'a message reached the subscriber')
    } finally {
      await stopAll(sender, listener, boot)
    }
  })

  it('rejects when its signal aborts, and when the node stops', async () => {
    const lonely = await startMember(undefined)
    try {
      const controller = new AbortController()
      const aborted = lonely.services.broadcast.waitForSubscribers('nobody-here', { signal: controller.signal })
      controller.abort(new Error('gave up waiting'))
      await assert.rejects(aborted, /gave up waiting/)
      const stopped = lonely.services.broadcast.waitForSubscribers('nobody-here')
      await lonely.stop()
      await assert.rejects(stopped, { name: 'NotStartedError' })
    } finally {
      await stopAll(lonely)
    }
  })
})
