import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { DirectMessage } from '../src/direct-messages/pb/dm.js'
import { startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { Membrane, ReceivedDirectMessage } from '../src/index.js'

const text = (s: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(s)

describe('direct messages between two connected members', () => {
  let alice: Membrane
  let bob: Membrane
  let carol: Membrane
  const inbox: ReceivedDirectMessage[] = []

  before(async () => {
    alice = await startMember(undefined)
    bob = await startMember(undefined, { directMessages: { rateLimit: 5, rateBurst: 10 } })
    carol = await startMember(undefined)
    bob.services.directMessages.addEventListener('message', (evt) => { inbox.push(evt.detail) })
    await alice.dial(multiaddr(tcpAddress(bob)))
  })

  after(async () => { await stopAll(alice, bob, carol) })

  it('delivers once, acknowledged, with the sender authenticated by the connection', async () => {
    const result = await alice.services.directMessages.send(bob.peerId, text('hello bob'))
    assert.equal(result.id.length, 32)
    assert.ok(result.connection.remotePeer.equals(bob.peerId))
    // the receiver delivers before it acknowledges, and the sender stops at the first acknowledgement
    assert.deepEqual(bob.services.directMessages.stats(), { received: 1, delivered: 1, duplicates: 0, refused: 0, rateLimited: 0, malformed: 0, disconnected: 0 })
    assert.equal(inbox.length, 1)
    assert.equal(new TextDecoder().decode(inbox[0].data), 'hello bob')
    assert.ok(inbox[0].from.equals(alice.peerId))
    assert.equal(inbox[0].id, result.id)
  })

  it('reports a refusal by the receiver\'s handler as a typed error', async () => {
    const remove = bob.services.directMessages.handle((msg) => {
      if (new TextDecoder().decode(msg.data) === 'refuse me') { throw new Error('not welcome') }
    })
    try {
      await assert.rejects(alice.services.directMessages.send(bob.peerId, text('refuse me')), (err: Error) => {
        assert.equal(err.name, 'DirectMessageRefusedError')
        assert.match(err.message, /not welcome/)
        return true
      })
      await alice.services.directMessages.send(bob.peerId, text('but this is fine'))
    } finally {
      remove()
    }
    assert.ok(!inbox.some(m => new TextDecoder().decode(m.data) === 'refuse me'))
  })

  it('refuses oversize payloads before sending, and rate-limits a chatty sender', async () => {
    await assert.rejects(alice.services.directMessages.send(bob.peerId, new Uint8Array(64 * 1024 + 1)), { name: 'MessageTooLargeError' })
    const results = await Promise.allSettled(Array.from({ length: 30 }, async (_, i) => alice.services.directMessages.send(bob.peerId, text(`burst ${i}`))))
    const refused = results.filter(r => r.status === 'rejected')
    assert.ok(refused.length > 0, 'some of a 30-message burst is refused at 10 burst / 5 per s')
    for (const r of refused) {
      assert.equal((r as PromiseRejectedResult).reason.name, 'DirectMessageRefusedError')
    }
  })

  it('drops malformed frames sent as raw bytes without crashing, and keeps serving', async () => {
    // after the burst above, wait for the rate limiter to refill (10 points per 2 s window)
    await waitFor(async () => alice.services.directMessages.send(bob.peerId, text('refilled')).then(() => true, () => false), 'bob accepts again', 10_000, 250)
    const before = bob.services.directMessages.stats()
    const conn = alice.getConnections(bob.peerId)[0]
    for (const bytes of [crypto.getRandomValues(new Uint8Array(300)), DirectMessage.encode({ id: new Uint8Array(3), data: text('short id') })]) {
      const stream = await conn.newStream('/membrane/dm/1.0.0')
      const lp = lpStream(stream)
      await lp.write(bytes).catch(() => {})
      await lp.read({ signal: AbortSignal.timeout(5000) }).catch(() => {})
      stream.abort(new Error('done'))
    }
    // a frame claiming a huge length is cut off by the size limit
    const stream = await conn.newStream('/membrane/dm/1.0.0')
    stream.send(Uint8Array.from([0xff, 0xff, 0xff, 0x7f]))
    await waitFor(() => bob.services.directMessages.stats().malformed === before.malformed + 3, 'bob drops all three frames')
    await waitFor(() => stream.status !== 'open', 'bob aborted the stream')
    const after = bob.services.directMessages.stats()
    assert.equal(after.delivered, before.delivered, 'nothing malformed was delivered')
    assert.equal(after.rateLimited, before.rateLimited)
    await alice.services.directMessages.send(bob.peerId, text('still works'))
    assert.ok(!inbox.some(m => new TextDecoder().decode(m.data) === 'short id'))
  })

  it('fails with a typed error for a peer that left', async () => {
    await carol.dial(multiaddr(tcpAddress(bob)))
    const carolId = carol.peerId
    await carol.stop()
    await waitFor(() => bob.getConnections(carolId).length === 0, 'carol gone')
    await assert.rejects(bob.services.directMessages.send(carolId, text('are you there?')), { name: 'PeerUnreachableError' })
  })
})
