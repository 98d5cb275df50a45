/**
 * The route protocol handler on its own: real protobuf bytes over an
 * in-memory stream pair, no libp2p node.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pbStream, streamPair } from '@libp2p/utils'
import { fromString } from 'uint8arrays/from-string'
import { DefaultChannel } from '../src/channels/channel.js'
import * as C from '../src/channels/constants.js'
import { InterestRouter, signedBytes } from '../src/channels/interest-router.js'
import { InterestTable } from '../src/channels/interests.js'
import { Interest, RoutedMessage } from '../src/channels/pb/channels.js'
import { waitFor } from './fixtures/wait.js'
import { lengthPrefixed } from '../src/utils/length-prefix.js'
import type { ChannelOwner } from '../src/channels/channel.js'
import type { ChannelMessage } from '../src/channels/index.js'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'

interface Identity { key: PrivateKey, peer: PeerId }

async function identity (): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  return { key, peer: peerIdFromPrivateKey(key) }
}

/** A router for `self` with one open interest channel `pets`; streams it opens are handed to `opened` */
function router (self: Identity, options: { reachable?: PeerId[] } = {}): {
  router: InterestRouter
  table: InterestTable
  delivered: Array<ChannelMessage<unknown>>
  invalid: Array<{ peer: PeerId, err: Error }>
  opened: Array<{ peer: PeerId, stream: Stream }>
} {
  const log = defaultLogger().forComponent('test:channels-route')
  const owner: ChannelOwner = { publish: async () => ({ recipients: [] }), subscriptionsChanged: () => {}, close: () => {} }
  const pets = new DefaultChannel<unknown>(owner, 'pets', { routing: 'interest' })
  const delivered: Array<ChannelMessage<unknown>> = []
  pets.subscriptions.add({ handler: (msg) => { delivered.push(msg) } })
  const table = new InterestTable({ publish: async () => {}, log, interestTtl: C.INTEREST_TTL })
  const invalid: Array<{ peer: PeerId, err: Error }> = []
  const opened: Array<{ peer: PeerId, stream: Stream }> = []
  const reachable = options.reachable ?? []
  const r = new InterestRouter({
    peerId: self.peer,
    privateKey: self.key,
    interests: table,
    log,
    routeTimeout: 5000,
    channel: (name) => name === 'pets' ? pets : undefined,
    canReach: (peer) => reachable.some(p => p.equals(peer)),
    newStream: async (peer) => {
      const [outbound, inbound] = await streamPair()
      opened.push({ peer, stream: inbound })
      return outbound
    },
    neighbours: () => [],
    onInvalid: (peer, err) => { invalid.push({ peer, err }) }
  })
  r.start()
  return { router: r, table, delivered, invalid, opened }
}

/** A routed message on `pets` signed by `author` */
async function signed (author: Identity, value: unknown, seqno = 1n): Promise<RoutedMessage> {
  const unsigned: RoutedMessage = {
    channel: 'pets',
    data: fromString(JSON.stringify(value)) as Uint8Array<ArrayBuffer>,
    from: author.peer.toMultihash().bytes as Uint8Array<ArrayBuffer>,
    seqno,
    signature: new Uint8Array(0),
    hops: 0,
    targets: []
  }
  return { ...unsigned, signature: await author.key.sign(signedBytes(unsigned)) as Uint8Array<ArrayBuffer> }
}

/** Hand `r` an inbound stream from `sender` carrying exactly `frame` (length prefix included) */
async function sendFrame (r: InterestRouter, sender: PeerId, frame: Uint8Array): Promise<void> {
  const [outbound, inbound] = await streamPair()
  const handled = r.handle(inbound, sender)
  outbound.send(frame)
  await outbound.close().catch(() => {})
  await handled
}

function frameOf (message: RoutedMessage): Uint8Array {
  return lengthPrefixed(RoutedMessage.encode(message))
}

describe('route protocol handler (stream pair, real bytes)', () => {
  it('verifies, delivers and deduplicates a signed message', async () => {
    const [self, author, neighbour] = await Promise.all([identity(), identity(), identity()])
    const { router: r, delivered, invalid } = router(self)
    const message = await signed(author, { type: 4 })
    await sendFrame(r, neighbour.peer, frameOf(message))
    await sendFrame(r, neighbour.peer, frameOf(message))
    assert.equal(delivered.length, 1)
    assert.ok(delivered[0].from.equals(author.peer), 'author parsed from the verified bytes')
    assert.ok(delivered[0].receivedFrom.equals(neighbour.peer))
    assert.deepEqual(delivered[0].value, { type: 4 })
    assert.deepEqual(r.stats(), { published: 0, received: 1, forwarded: 0, rejected: 0, duplicates: 1, announcementsLearned: 0 })
    assert.deepEqual(invalid, [])
    r.stop()
  })

  it('rejects a forged signature and an author that is not a peer id, and reports the sender', async () => {
    const [self, author, neighbour] = await Promise.all([identity(), identity(), identity()])
    const { router: r, delivered, invalid } = router(self)
    const forged: RoutedMessage = { ...(await signed(author, { type: 4 })), data: fromString('{"type":5}') as Uint8Array<ArrayBuffer> }
    // the ~74 KB author of the fuzzer's reproduction, within the frame limit once the payload is dropped
    const huge = { ...(await signed(author, { type: 4 })), data: new Uint8Array(0), from: new Uint8Array(C.MAX_ROUTED_MESSAGE_SIZE - 1024).fill(0xab) }
    const sha256Author = { ...(await signed(author, { type: 4 })), from: Uint8Array.from([0x12, 0x20, ...new Uint8Array(32)]) }
    const badTarget = { ...(await signed(author, { type: 4 }, 2n)), targets: [new Uint8Array(200).fill(1)] }
    for (const message of [forged, huge, sha256Author, badTarget]) {
      await sendFrame(r, neighbour.peer, frameOf(message))
    }
    assert.equal(delivered.length, 0)
    assert.equal(r.stats().rejected, 4)
    assert.deepEqual(invalid.map(({ err }) => err.name), ['InvalidMessageError', 'InvalidMessageError', 'InvalidMessageError', 'InvalidMessageError'])
    assert.match(invalid[1].err.message, /author is \d+ bytes/)
    assert.ok(invalid.every(({ peer }) => peer.equals(neighbour.peer)), 'the neighbour that sent it is the one penalised')
    r.stop()
  })

  it('rejects garbage and an oversized length prefix without reading the body', async () => {
    const [self, neighbour] = await Promise.all([identity(), identity()])
    const { router: r, invalid } = router(self)
    await sendFrame(r, neighbour.peer, lengthPrefixed(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])))
    await sendFrame(r, neighbour.peer, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))
    assert.equal(r.stats().rejected, 2)
    assert.deepEqual(invalid.map(({ err }) => err.name), ['InvalidMessageError', 'InvalidDataLengthLengthError'])
    r.stop()
  })

  it('forwards only towards peers whose announced query matches, naming them as targets', async () => {
    const [self, author, wantsFour, wantsTwo, hop] = await Promise.all([identity(), identity(), identity(), identity(), identity()])
    const { router: r, table, opened } = router(self, { reachable: [hop.peer] })
    for (const [who, query] of [[wantsFour, { type: 4 }], [wantsTwo, { type: 2 }]] as const) {
      const data = Interest.encode({ seq: 1n, expires: BigInt(Date.now() + 60_000), channels: [{ channel: 'pets', queries: [JSON.stringify(query)] }] })
      const msg = { type: 'signed', from: who.peer, topic: C.INTEREST_TOPIC, data, sequenceNumber: 1n, signature: new Uint8Array(64), key: who.key.publicKey } as unknown as Message
      assert.equal(table.validator()(hop.peer, msg), 'accept')
      table.learn(msg as Message & { type: 'signed' }, hop.peer)
    }
    assert.equal(r.stats().announcementsLearned, 2)
    await sendFrame(r, author.peer, frameOf(await signed(author, { type: 4 })))
    await waitFor(() => opened.length === 1, 'one copy sent')
    assert.ok(opened[0].peer.equals(hop.peer))
    const onward = await pbStream(opened[0].stream, { maxDataLength: C.MAX_ROUTED_MESSAGE_SIZE }).pb(RoutedMessage).read()
    assert.equal(onward.hops, 1)
    assert.deepEqual(onward.targets, [wantsFour.peer.toMultihash().bytes])
    assert.deepEqual(r.stats().forwarded, 1)
    r.stop()
  })
})
