import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { MAX_ROUTED_MESSAGE_SIZE } from '../src/channels/constants.js'
import { RoutedMessage } from '../src/channels/pb/channels.js'
import { CHANNEL_TOPIC_PREFIX, ROUTE_PROTOCOL } from '../src/index.js'
import { startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { assertPingsAnswered, watchPings } from './fixtures/ping-watch.js'
import { waitFor } from './fixtures/wait.js'
import type { Channel, ChannelCodec, ChannelMessage, ChannelRouting, Membrane } from '../src/index.js'

interface Pet { n: number, type: number, age: number }

const QUERY = { type: { $in: [1, 4, 5] }, age: { $gt: 4 } }
const matches = (p: Pet): boolean => [1, 4, 5].includes(p.type) && p.age > 4
const isPet = (v: Pet): boolean => v != null && Number.isInteger(v.n) && Number.isInteger(v.type) && typeof v.age === 'number'

/** Every combination of a few types and ages, numbered */
const PETS: Pet[] = [1, 2, 4, 5, 7].flatMap(type => [2, 4, 5, 9].map(age => ({ type, age }))).map((p, n) => ({ n, ...p }))

/** Gossipsub internals the stock GossipSub type does not expose */
function gossip (node: Membrane): { getMeshPeers(topic: string): string[], getScore(peer: string): number } {
  return node.services.pubsub as unknown as { getMeshPeers(topic: string): string[], getScore(peer: string): number }
}

async function startMembers (count: number): Promise<Membrane[]> {
  return Promise.all(Array.from({ length: count }, async () => startMember(undefined, { listen: ['/ip4/127.0.0.1/tcp/0'] })))
}

/** Dial `b` from `a` over TCP loopback */
async function link (a: Membrane, b: Membrane): Promise<void> {
  await a.dial(multiaddr(tcpAddress(b)))
}

function inbox <T> (channel: Channel<T>, query?: Record<string, unknown>): Array<ChannelMessage<T>> {
  const got: Array<ChannelMessage<T>> = []
  if (query == null) {
    channel.subscribe((msg) => { got.push(msg) })
  } else {
    channel.subscribe(query, (msg) => { got.push(msg) })
  }
  return got
}

for (const routing of ['broadcast', 'interest'] as ChannelRouting[]) {
  describe(`query subscriptions on a ${routing} channel`, () => {
    // publisher P and hub H; S subscribes with QUERY, O with { type: 2 }, N opens the channel without subscribing
    let nodes: Membrane[]
    let channels: Array<Channel<Pet>>
    const codec: ChannelCodec<Pet> = { routing, validate: isPet }

    before(async () => {
      nodes = await startMembers(5)
      const [P, H, S, O, N] = nodes
      await Promise.all([link(P, H), link(S, H), link(O, H), link(N, H)])
      channels = nodes.map(node => node.services.channels.channel('pets', codec))
      if (routing === 'broadcast') {
        await waitFor(() => [P, S, O, N].every(n => gossip(H).getMeshPeers(CHANNEL_TOPIC_PREFIX + 'pets').includes(n.peerId.toString())), 'hub meshes with everyone', 15_000)
        // the hub's mesh is its own state: each spoke meshes with the hub once it has read the hub's GRAFT
        await waitFor(() => [P, S, O, N].every(n => gossip(n).getMeshPeers(CHANNEL_TOPIC_PREFIX + 'pets').includes(H.peerId.toString())), 'everyone meshes with the hub', 15_000)
      }
    })

    after(async () => {
      await stopAll(...nodes)
    })

    it('delivers exactly the matching messages to each subscriber and none to others', async () => {
      const [P, H] = nodes
      const toS = inbox(channels[2], QUERY)
      const toO = inbox(channels[3], { type: 2 })
      if (routing === 'interest') {
        await waitFor(() => [H, P].every(n => n.services.channels.interestedPeers('pets').length === 2), 'interests announced', 15_000)
      }
      const before = nodes.map(n => n.services.channels.stats())
      for (const pet of PETS) {
        await channels[0].publish(pet)
      }
      const expectS = PETS.filter(matches).map(p => p.n)
      const expectO = PETS.filter(p => p.type === 2).map(p => p.n)
      const wanted = expectS.length + expectO.length
      if (routing === 'interest') {
        // P's copies are counted as it sends them, H's as it receives and forwards them: exact once H has them all
        assert.equal(nodes[0].services.channels.stats().forwarded - before[0].forwarded, wanted, 'P sends only wanted messages')
        await waitFor(() => H.services.channels.stats().received - before[1].received >= wanted, 'H receives every wanted message', 10_000)
      }
      await waitFor(() => toS.length >= expectS.length && toO.length >= expectO.length, 'subscribers receive their matches', 10_000)
      if (routing === 'broadcast') {
        // a sentinel published last: gossipsub keeps one ordered stream per neighbour, so anything wrongly delivered arrives before it
        await channels[0].publish({ n: 999, type: 2, age: 9 })
        await waitFor(() => toO.some(m => m.value.n === 999), 'the sentinel reaches O', 10_000)
        toO.pop()
      }
      assert.deepEqual(toS.map(m => m.value.n).sort((a, b) => a - b), expectS)
      assert.deepEqual(toO.map(m => m.value.n).sort((a, b) => a - b), expectO)
      for (const m of [...toS, ...toO]) {
        assert.ok(m.from.equals(P.peerId), 'author verified')
        assert.ok(m.receivedFrom.equals(H.peerId), 'forwarded by the hub')
        assert.equal(m.channel, 'pets')
      }
      if (routing === 'interest') {
        const stats = nodes.map(n => n.services.channels.stats())
        const delta = (i: number, k: 'received' | 'forwarded'): number => stats[i][k] - before[i][k]
        // interest routing: the non-subscriber N never sees a message, O sees only its own matches, the hub only what someone wants
        assert.equal(delta(1, 'received'), wanted, 'H receives only wanted messages')
        assert.equal(delta(1, 'forwarded'), wanted, 'H passes each on once, so nothing went to N')
        assert.equal(delta(3, 'received'), expectO.length, 'O receives only type 2')
        assert.equal(delta(2, 'received'), expectS.length, 'S receives only its matches')
        assert.equal(delta(4, 'received'), 0, 'N receives nothing')
      }
    })

    it('stops delivering after unsubscribe and refuses bad values on publish', async () => {
      const got: Array<ChannelMessage<Pet>> = []
      const late = { n: 1000, type: 9, age: 1 }
      const stop = channels[2].subscribe({ n: 1000 }, (msg) => { got.push(msg) })
      if (routing === 'interest') {
        // P sends a copy only once it has learnt S's new query; until then each publish goes nowhere
        await waitFor(async () => (await channels[0].publish(late)).recipients.length > 0, 'P learns S\'s new query', 10_000)
      } else {
        await channels[0].publish(late)
      }
      await waitFor(() => got.length === 1, 'the new query matches')
      stop()
      if (routing === 'interest') {
        await waitFor(async () => (await channels[0].publish(late)).recipients.length === 0, 'P learns S withdrew the query', 10_000)
      } else {
        await channels[0].publish(late)
        // a sentinel S still wants, published after it on the same ordered path
        const sentinel = inbox(channels[2], { n: 1001 })
        await channels[0].publish({ n: 1001, type: 9, age: 1 })
        await waitFor(() => sentinel.length === 1, 'the sentinel reaches S')
      }
      assert.equal(got.length, 1)

      await assert.rejects(channels[0].publish({ n: 'x' } as unknown as Pet), { name: 'InvalidMessageError' })
      await assert.rejects(channels[0].publish({ n: 1, type: 1, age: 1, pad: 'x'.repeat(70_000) } as unknown as Pet), { name: 'MessageTooLargeError' })
      assert.throws(() => channels[0].subscribe({ $where: 'true' }, () => {}), { name: 'InvalidQueryError' })
      assert.throws(() => channels[0].subscribe(JSON.parse('{"__proto__":{"a":1}}'), () => {}), { name: 'UnsafeKeyError' })
      assert.throws(() => nodes[0].services.channels.channel('', {}), { name: 'InvalidChannelError' })
      assert.throws(() => nodes[0].services.channels.channel('pets', { routing }), { name: 'InvalidChannelError' })
      assert.equal(nodes[0].services.channels.channel('pets', codec), channels[0])
    })
  })
}

describe('a broadcast channel drops invalid messages at the first hop (line A–B–C)', () => {
  let A: Membrane, B: Membrane, C: Membrane
  const topic = CHANNEL_TOPIC_PREFIX + 'line'
  const codec: ChannelCodec<Pet> = { validate: isPet, id: (p) => `pet-${p.n}` }
  const atC: string[] = []
  let delivered: Array<ChannelMessage<Pet>>

  before(async () => {
    [A, B, C] = await startMembers(3)
    await link(A, B)
    await link(B, C)
    for (const node of [A, B, C]) {
      node.services.channels.channel('line', codec)
    }
    delivered = inbox(C.services.channels.channel('line', codec))
    // C records every message gossipsub hands it on the topic, before the channel layer
    C.services.pubsub.addEventListener('gossipsub:message', (evt) => {
      if (evt.detail.msg.topic === topic) { atC.push(new TextDecoder().decode(evt.detail.msg.data).slice(0, 40)) }
    })
    await waitFor(() => gossip(B).getMeshPeers(topic).length === 2 && gossip(A).getMeshPeers(topic).length === 1, 'line mesh formed', 15_000)
  })

  after(async () => {
    await stopAll(A, B, C)
  })

  it('B rejects undecodable, refused, oversized and prototype-polluting payloads; C never sees them; A is scored down', async () => {
    const raw = async (payload: string | Uint8Array): Promise<void> => {
      await A.services.pubsub.publish(topic, typeof payload === 'string' ? new TextEncoder().encode(payload) : payload)
    }
    await raw('{not json')
    await raw('{"n":"not a number","type":1,"age":5}')
    await raw('{"n":1,"type":1,"age":5,"__proto__":{"polluted":true}}')
    await raw(new Uint8Array([0xff, 0xfe, 0xfd]))
    await raw(new TextEncoder().encode(JSON.stringify({ n: 2, type: 1, age: 5, pad: 'x'.repeat(70_000) })))
    await raw('{"n":3,"type":1,"age":5}')
    // the valid message is the last one A sent: B forwards in order on one stream, so whatever B let through is at C before it
    await waitFor(() => delivered.length === 1, 'the valid message arrives at C')
    assert.deepEqual(atC, ['{"n":3,"type":1,"age":5}'])
    assert.equal(delivered[0].value.n, 3)
    assert.equal(delivered[0].id, 'pet-3')
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    await waitFor(() => gossip(B).getScore(A.peerId.toString()) < 0, 'A\'s score at B drops below zero', 5000)
  })

  it('a second message with the same content id is not forwarded past B', async () => {
    // the previous test scored A down at B; B ignores a peer below the gossip threshold until its penalty decays
    await waitFor(() => gossip(B).getScore(A.peerId.toString()) > -1, 'A\'s score at B decays back', 30_000)
    const before = atC.length
    const line = A.services.channels.channel('line', codec)
    await line.publish({ n: 7, type: 1, age: 5 })
    await waitFor(() => delivered.some(m => m.value.n === 7), 'first copy delivered')
    // another author-side message (new seqno, so new gossipsub id) with the same app id and different content
    await A.services.pubsub.publish(topic, new TextEncoder().encode('{"n":7,"type":4,"age":9}'))
    await line.publish({ n: 8, type: 1, age: 5 })
    // n: 8 follows the duplicate on the same ordered path
    await waitFor(() => delivered.some(m => m.value.n === 8), 'a later message delivered')
    assert.deepEqual(atC.slice(before).map(s => JSON.parse(s).n), [7, 8])
    assert.deepEqual(delivered.filter(m => m.value.n === 7).map(m => m.value.type), [1])
  })
})

describe('an interest-routed channel drops invalid messages at the first hop (line A–B–C)', () => {
  let A: Membrane, B: Membrane, C: Membrane
  let delivered: Array<ChannelMessage<Pet>>
  /** A opens the channel without a validator, so its publishes bypass the others' rules */
  const LAX: ChannelCodec<unknown> = { routing: 'interest' }

  before(async () => {
    [A, B, C] = await startMembers(3)
    await link(A, B)
    await link(B, C)
    B.services.channels.channel('routed', { routing: 'interest', validate: isPet })
    delivered = inbox(C.services.channels.channel('routed', { routing: 'interest', validate: isPet }), QUERY)
    await waitFor(() => A.services.channels.interestedPeers('routed').length === 1, 'A learns C\'s interest through B', 15_000)
  })

  after(async () => {
    await stopAll(A, B, C)
  })

  it('B refuses what A\'s lax codec lets out, C receives only the valid message, A is scored down', async () => {
    const lax = A.services.channels.channel<unknown>('routed', LAX)
    await lax.publish({ n: 'bad', type: 1, age: 9 })
    await lax.publish({ n: 1, type: 4, age: 9, extra: { constructor: 1 } })
    await lax.publish({ n: 2, type: 4, age: 9 })
    // B decides on each message (reject, or pass on) as it receives it: once it rejected two and forwarded one, nothing else left it
    await waitFor(() => delivered.length === 1 && B.services.channels.stats().rejected === 2, 'valid message delivered, two rejected at B')
    assert.equal(delivered[0].value.n, 2)
    assert.equal(B.services.channels.stats().forwarded, 1, 'B passed on only the valid message')
    assert.equal(C.services.channels.stats().received, 1, 'C never received the invalid ones')
    await waitFor(() => gossip(B).getScore(A.peerId.toString()) < 0, 'A scored down at B', 5000)
  })

  it('survives garbage, oversized and unsigned frames on the route protocol', async () => {
    const before = B.services.channels.stats().rejected
    const deliveredBefore = delivered.length
    for (const frame of [
      crypto.getRandomValues(new Uint8Array(64)),
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]) // length prefix far above the limit
    ]) {
      const stream = await A.dialProtocol(B.peerId, ROUTE_PROTOCOL)
      stream.send(frame)
      await stream.close().catch(() => {})
    }
    await waitFor(() => B.services.channels.stats().rejected === before + 2, 'B rejects both frames')
    // and still routes: a valid message after the garbage is delivered
    await A.services.channels.channel<unknown>('routed', LAX).publish({ n: 3, type: 4, age: 9 })
    await waitFor(() => delivered.length === deliveredBefore + 1, 'a valid message after the garbage arrives')
    assert.equal(delivered.at(-1)?.value.n, 3)
  })
  it('rejects a ~70 KB author on 32 concurrent streams without parsing it, while honest pings answer', async () => {
    // a gossipsub peer, so the penalty shows in its score at B
    const [attacker] = await startMembers(1)
    try {
      const connection = await attacker.dial(multiaddr(tcpAddress(B)))
      await waitFor(() => B.services.pubsub.getPeers().some(p => p.equals(attacker.peerId)), 'B\'s gossipsub knows the attacker')
      const before = B.services.channels.stats().rejected
      const pings = watchPings(C, B.peerId)
      // issue 16's reproduction: `from` as large as the frame limit allows, on every stream the protocol admits at once
      const frame = RoutedMessage.encode({
        channel: 'routed',
        data: new Uint8Array(0),
        from: new Uint8Array(MAX_ROUTED_MESSAGE_SIZE - 512).fill(0xab),
        seqno: 1n,
        signature: new Uint8Array(64),
        hops: 0,
        targets: []
      })
      await Promise.all(Array.from({ length: 32 }, async () => {
        const stream = await connection.newStream(ROUTE_PROTOCOL)
        await lpStream(stream, { maxDataLength: MAX_ROUTED_MESSAGE_SIZE }).write(frame)
        await stream.close().catch(() => {})
      }))
      await waitFor(() => B.services.channels.stats().rejected === before + 32, 'B rejects all 32')
      assertPingsAnswered(await pings.stop())
      await waitFor(() => gossip(B).getScore(attacker.peerId.toString()) < 0, 'the attacker is scored down at B', 5000)
    } finally {
      await attacker.stop()
    }
  })
})
