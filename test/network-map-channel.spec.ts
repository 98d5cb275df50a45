// The 2.0.0 wire (src/network-map/channel.ts) over in-memory stream pairs with
// real protobuf bytes and real signed records: the long-lived writer, the
// reader, the summary sync, and malformed input; then a stock libp2p peer
// that speaks only 1.0.0 against a real node
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { lpStream, streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { createLibp2p } from 'libp2p'
import { Channel, digestFrames, openingFrame, readChannel } from '../src/network-map/channel.js'
import { DEFAULT_MAX_RECORD_SIZE } from '../src/network-map/constants.js'
import { NETWORK_MAP_LEGACY_PROTOCOL, NETWORK_MAP_PROTOCOL } from '../src/network-map/index.js'
import { NetmapMessage, NetmapRecord } from '../src/network-map/pb/netmap.js'
import { storedRecord } from '../src/network-map/record-store.js'
import { SMALL_DIGEST, SUMMARY_BUCKETS, bucketOf, hashOf, inScope, summarise, versionHash } from '../src/network-map/summary.js'
import { decodeRecord, sealRecord, signerOf, verifySignature } from '../src/network-map/validate.js'
import { identities, identity, recordOf, signedRecord } from './fixtures/netmap-records.js'
import { startMapNode, tcpAddr } from './fixtures/netmap.js'
import { waitFor } from './fixtures/wait.js'
import type { ChannelContext, ChannelInit } from '../src/network-map/channel.js'
import type { StoredRecord } from '../src/network-map/record-store.js'
import type { Identity, RecordOptions } from './fixtures/netmap-records.js'
import type { Libp2p, Stream } from '@libp2p/interface'

type Bytes = Uint8Array<ArrayBuffer>

const log = defaultLogger().forComponent('membrane:test')

/** One side of a 2.0.0 conversation: held records, what it sent, and its own channel to the other side */
class Side {
  readonly held = new Map<string, StoredRecord>()
  readonly rejected: string[] = []
  readonly sent: NetmapMessage[] = []
  readonly stats = { bytesSent: 0, bytesReceived: 0 }
  spent = 0
  allowance = 0
  channel?: Channel

  constructor (readonly self: Identity, readonly budget = Infinity) {}

  async hold (who: Identity, options: RecordOptions = {}): Promise<void> {
    const record = recordOf(who.id, options)
    this.held.set(who.id.toString(), storedRecord(who.id, record, await sealRecord(record, who.key, DEFAULT_MAX_RECORD_SIZE), Date.now() + 60_000))
  }

  context (): ChannelContext {
    return {
      maxFrameSize: 64 * 1024,
      maxEntries: 1000,
      stats: this.stats,
      selfKey: this.self.id.toString(),
      summary: () => summarise(this.held.values()),
      digest: (scope) => [...this.held.values()].filter(r => inScope(scope, hashOf(r).bucket)).map(r => ({ peerId: hashOf(r).peerId as Bytes, seq: r.seq })),
      seqOf: (key) => this.held.get(key)?.seq,
      offer: (theirs, scope) => [...this.held.values()].filter(r => inScope(scope, hashOf(r).bucket) && (theirs.get(r.key) ?? -1n) < r.seq).map(r => r.envelope),
      give: (keys) => keys.flatMap(k => this.held.has(k) ? [this.held.get(k)!.envelope] : []),
      noteKnown: () => {},
      acceptDeltas: async (deltas) => { this.rejected.push(...deltas.map(() => 'UnexpectedDelta')) },
      accept: async (envelopes) => {
        for (const bytes of envelopes) {
          try {
            const decoded = decodeRecord(bytes, { maxRecordSize: DEFAULT_MAX_RECORD_SIZE, maxNeighbours: 256 })
            const signer = signerOf(decoded)
            await verifySignature(signer)
            const key = signer.subject.toString()
            if ((this.held.get(key)?.seq ?? -1n) < decoded.record.seq) {
              this.held.set(key, storedRecord(signer.subject, decoded.record, bytes.slice(), Date.now() + 60_000))
            }
          } catch (err) {
            this.rejected.push((err as Error).name)
          }
        }
      },
      spend: (count) => {
        this.spent += count
        if (this.spent > this.budget) {
          throw Object.assign(new Error('over budget'), { name: 'RecordRateLimitError' })
        }
      },
      grant: (count) => { this.allowance += count },
      consume: (count) => {
        const taken = Math.min(this.allowance, count)
        this.allowance -= taken
        return count - taken
      },
      reply: (frames) => {
        this.sent.push(...frames)
        this.channel?.write(frames).catch(() => {})
      }
    }
  }

  /** Open our channel to `other` over a fresh stream pair; `other` reads it until it ends */
  async connect (other: Side): Promise<{ reading: Promise<void>, close(): Promise<void> }> {
    const [outbound, inbound] = await streamPair()
    let opened = false
    this.channel = new Channel({
      open: async () => {
        assert.ok(!opened, 'one stream for the whole conversation')
        opened = true
        return outbound
      },
      maxFrameSize: 64 * 1024,
      writeTimeout: 10_000,
      idleTimeout: 60_000,
      maxQueuedBytes: 1024 * 1024,
      stats: this.stats,
      signal: new AbortController().signal,
      log
    })
    const reading = readChannel(lpStream(inbound, { maxDataLength: 64 * 1024 }), other.context(), AbortSignal.timeout(20_000))
    return {
      reading,
      close: async () => {
        await this.channel!.close()
        // a channel that never wrote never opened its stream: end the pair's end of it
        if (!opened) { await outbound.close() }
      }
    }
  }

  /** Send our opening frame, as the dialer of a new link */
  async open (): Promise<NetmapMessage> {
    const frame = openingFrame(this.context())
    this.sent.push(frame)
    await this.channel!.write([frame])
    return frame
  }
}

/** Two sides wired both ways */
async function pair (a: Side, b: Side): Promise<{ close(): Promise<void> }> {
  const ab = await a.connect(b)
  const ba = await b.connect(a)
  return {
    close: async () => {
      await ab.close()
      await ba.close()
      await Promise.all([ab.reading, ba.reading])
    }
  }
}

function keysOf (side: Side): string[] {
  return [...side.held.keys()].sort()
}

function seqsOf (side: Side): string {
  return [...side.held.entries()].map(([k, r]) => `${k}:${r.seq}`).sort().join(',')
}

/** Frames and raw bytes straight onto a reader */
async function readerOf (side: Side): Promise<{ write(bytes: Uint8Array): Promise<void>, end(): Promise<void>, reading: Promise<void> }> {
  const [outbound, inbound] = await streamPair()
  const lp = lpStream(outbound, { maxDataLength: 1024 * 1024 })
  const reading = readChannel(lpStream(inbound, { maxDataLength: 64 * 1024 }), side.context(), AbortSignal.timeout(10_000))
  reading.catch(() => {})
  return { write: async (bytes) => { await lp.write(bytes) }, end: async () => { await outbound.close() }, reading }
}

function frame (message: Partial<NetmapMessage> & Pick<NetmapMessage, 'type'>): Bytes {
  return NetmapMessage.encode({ digest: [], records: [], want: [], more: false, deltas: [], ...message })
}

describe('network map 2.0.0: summaries', () => {
  it('hash (peer id, seq), bucket by peer id, and XOR: the same set gives the same summary in any order', async () => {
    const ids = await identities(20)
    const a = new Side(ids[0])
    const b = new Side(ids[1])
    for (const id of ids) { await a.hold(id, { seq: 3n }) }
    for (const id of [...ids].reverse()) { await b.hold(id, { seq: 3n }) }
    const sa = summarise(a.held.values())
    assert.deepEqual(sa, summarise(b.held.values()))
    assert.equal(sa.count, 20)
    assert.equal(sa.buckets.length, SUMMARY_BUCKETS)
    assert.equal(sa.buckets.reduce((x, h) => x ^ h, 0n), sa.root)
    const peerId = ids[5].id.toMultihash().bytes
    assert.equal(bucketOf(peerId), peerId[peerId.byteLength - 1] % SUMMARY_BUCKETS)
    assert.notEqual(versionHash(peerId, 3n), versionHash(peerId, 4n))
    // one newer version changes the root and exactly its own bucket
    await b.hold(ids[5], { seq: 4n })
    const sb = summarise(b.held.values())
    assert.notEqual(sb.root, sa.root)
    assert.deepEqual(sb.buckets.flatMap((h, i) => h === sa.buckets[i] ? [] : [i]), [bucketOf(peerId)])
  })

  it('cuts a digest into SYNC frames of whole buckets, each naming its own scope', async () => {
    const ids = await identities(40)
    const side = new Side(ids[0])
    for (const id of ids) { await side.hold(id) }
    // room for about 4 entries per frame, or the largest bucket if the random ids put more in one (a bucket larger than a frame is cut by design)
    const perBucket = new Map<number, number>()
    for (const id of ids) { const b = bucketOf(id.id.toMultihash().bytes); perBucket.set(b, (perBucket.get(b) ?? 0) + 1) }
    const room = Math.max(4, ...perBucket.values())
    const frames = digestFrames({ ...side.context(), maxFrameSize: 1024 + room * 52 }, (1n << 64n) - 1n)
    assert.ok(frames.length > 1)
    let covered = 0n
    let entries = 0
    for (const f of frames) {
      assert.equal(f.type, NetmapMessage.Type.SYNC)
      assert.ok(f.scope != null && (covered & f.scope) === 0n, 'scopes do not overlap')
      covered |= f.scope
      for (const entry of f.digest) { assert.ok(inScope(f.scope, bucketOf(entry.peerId))) }
      entries += f.digest.length
    }
    assert.equal(covered, (1n << 64n) - 1n)
    assert.equal(entries, 40, 'every entry once')
  })
})

describe('network map 2.0.0: sync over a stream pair each way', () => {
  it('an in-sync pair exchanges one SUMMARY (a count and 8 bytes) and nothing else', async () => {
    const ids = await identities(SMALL_DIGEST + 36)
    const a = new Side(ids[0])
    const b = new Side(ids[1])
    for (const id of ids) {
      await a.hold(id, { seq: 2n })
    }
    for (const [key, r] of a.held) { b.held.set(key, r) }
    const wire = await pair(a, b)
    const opening = await a.open()
    assert.equal(opening.type, NetmapMessage.Type.SUMMARY)
    await wire.close()
    assert.deepEqual(b.sent, [], 'nothing in reply')
    assert.ok(a.stats.bytesSent < 20, `the summary is ${a.stats.bytesSent} bytes`)
    assert.equal(b.stats.bytesSent, 0)
    assert.deepEqual(a.rejected, [])
    assert.deepEqual(b.rejected, [])
  })

  it('a pair that differs in a few records lists only the differing buckets and ends holding the newest of every record', async () => {
    const ids = await identities(200)
    const a = new Side(ids[0])
    const b = new Side(ids[1])
    for (const id of ids.slice(0, 190)) { await a.hold(id) }
    for (const [key, r] of a.held) { b.held.set(key, r) }
    // b holds three newer versions and five nodes a lacks; a holds two newer versions
    for (const id of ids.slice(10, 13)) { await b.hold(id, { seq: 5n }) }
    for (const id of ids.slice(190, 195)) { await b.hold(id) }
    for (const id of ids.slice(20, 22)) { await a.hold(id, { seq: 6n }) }
    const wire = await pair(a, b)
    await a.open()
    await waitFor(() => seqsOf(a) === seqsOf(b) && a.held.size === 195, 'both hold the newest of every record')
    await wire.close()
    const sent = [...a.sent, ...b.sent]
    const digestEntries = sent.filter(f => f.type === NetmapMessage.Type.SYNC).reduce((s, f) => s + f.digest.length, 0)
    const differing = new Set([...ids.slice(10, 13), ...ids.slice(20, 22), ...ids.slice(190, 195)].map(i => bucketOf(i.id.toMultihash().bytes)))
    assert.equal(sent.filter(f => f.type === NetmapMessage.Type.SYNC).length, 1)
    assert.ok(digestEntries < 60, `${digestEntries} digest entries for ${differing.size} differing buckets, not all 195`)
    const records = sent.filter(f => f.type === NetmapMessage.Type.RECORDS).reduce((s, f) => s + f.records.length, 0)
    assert.equal(records, 10, 'each differing record crosses once')
    assert.equal(a.spent + b.spent, 0, 'records asked for do not spend the push budget')
    assert.deepEqual([...a.rejected, ...b.rejected], [])
  })

  it('a side holding few records sends its whole digest at once; the other answers with everything and asks for the rest', async () => {
    const ids = await identities(SMALL_DIGEST + 11)
    const newcomer = new Side(ids[0])
    const member = new Side(ids[1])
    await newcomer.hold(ids[0])
    for (const id of ids.slice(1)) { await member.hold(id) }
    const wire = await pair(newcomer, member)
    const opening = await newcomer.open()
    assert.equal(opening.type, NetmapMessage.Type.SYNC)
    assert.equal(opening.scope, undefined, 'the whole digest')
    await waitFor(() => newcomer.held.size === ids.length && member.held.size === ids.length, 'both hold everything')
    await wire.close()
    assert.deepEqual(keysOf(newcomer), keysOf(member))
    assert.equal(newcomer.spent + member.spent, 0)
  })

  it('a member that meets a newcomer answers its summary with its whole digest', async () => {
    const ids = await identities(SMALL_DIGEST + 11)
    const member = new Side(ids[0])
    const newcomer = new Side(ids[1])
    for (const id of ids.filter((_, i) => i !== 1)) { await member.hold(id) }
    await newcomer.hold(ids[1])
    const wire = await pair(member, newcomer)
    assert.equal((await member.open()).type, NetmapMessage.Type.SUMMARY)
    await waitFor(() => newcomer.held.size === ids.length && member.held.size === ids.length, 'both hold everything')
    await wire.close()
    assert.equal(newcomer.sent[0].type, NetmapMessage.Type.SYNC)
    assert.equal(newcomer.sent[0].digest.length, 1)
  })
})

describe('network map 2.0.0: the reader refuses malformed frames with typed errors', () => {
  const cases: Array<[string, () => Promise<Uint8Array>, string]> = [
    ['garbage bytes', async () => Uint8Array.from([0x1a, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]), 'MalformedFrameError'],
    ['a SUMMARY without a summary', async () => frame({ type: NetmapMessage.Type.SUMMARY }), 'MalformedFrameError'],
    ['a summary of 3 buckets', async () => frame({ type: NetmapMessage.Type.SUMMARY, summary: { count: 100, root: 1n, buckets: [1n, 2n, 3n] } }), 'MalformedFrameError'],
    ['a summary of 65 buckets', async () => frame({ type: NetmapMessage.Type.SUMMARY, summary: { count: 100, root: 1n, buckets: new Array(65).fill(1n) } }), 'MalformedFrameError'],
    ['a digest entry that is not a PeerId', async () => frame({ type: NetmapMessage.Type.SYNC, digest: [{ peerId: new Uint8Array(3000).fill(0xab), seq: 1n }] }), 'MalformedFrameError'],
    ['a digest entry outside its scope', async () => {
      const id = (await identity()).id.toMultihash().bytes
      return frame({ type: NetmapMessage.Type.SYNC, digest: [{ peerId: id, seq: 1n }], scope: 1n << BigInt((bucketOf(id) + 1) % SUMMARY_BUCKETS) })
    }, 'MalformedFrameError'],
    ['a want entry that is not a PeerId', async () => frame({ type: NetmapMessage.Type.RECORDS, want: [new Uint8Array(7)] }), 'MalformedFrameError'],
    ['an unknown frame type', async () => Uint8Array.from([0x08, 0x09]), 'MalformedFrameError'],
    ['a frame over maxFrameSize', async () => new Uint8Array(100 * 1024), 'FrameTooLargeError']
  ]
  for (const [what, bytes, error] of cases) {
    it(`${what}: ${error}`, async () => {
      const side = new Side(await identity())
      const reader = await readerOf(side)
      await reader.write(await bytes())
      await assert.rejects(reader.reading, { name: error })
    })
  }

  it('a stream that carries no frame for idleTimeout ends with ChannelIdleError (no offence), a frame pushes the deadline back', async () => {
    const side = new Side(await identity())
    const [outbound, inbound] = await streamPair()
    const lp = lpStream(outbound)
    const reading = readChannel(lpStream(inbound, { maxDataLength: 64 * 1024 }), side.context(), AbortSignal.timeout(10_000), 200)
    await lp.write(frame({ type: NetmapMessage.Type.SUMMARY, summary: { count: 0, root: 0n, buckets: [] } }))
    await assert.rejects(reading, { name: 'ChannelIdleError' })
    assert.deepEqual(side.sent, [], 'an empty summary matches an empty map')
  })

  it('a clean end between frames ends the reader without an error; pushes spend the budget, records asked for do not', async () => {
    const ids = await identities(4)
    const side = new Side(ids[0], 2)
    const reader = await readerOf(side)
    side.allowance = 1
    await reader.write(frame({ type: NetmapMessage.Type.RECORDS, records: [await signedRecord(ids[1])] as Bytes[] }))
    await reader.write(frame({ type: NetmapMessage.Type.PUSH, records: [await signedRecord(ids[2])] as Bytes[] }))
    await reader.end()
    await reader.reading
    assert.equal(side.spent, 1)
    assert.equal(side.held.size, 2)
    // over the budget
    const flooded = await readerOf(side)
    await flooded.write(frame({ type: NetmapMessage.Type.PUSH, records: [await signedRecord(ids[3]), await signedRecord(ids[3], { seq: 2n })] as Bytes[] }))
    await assert.rejects(flooded.reading, { name: 'RecordRateLimitError' })
  })
})

describe('network map 2.0.0: the writer', () => {
  /** A writer's init for these tests: generous limits, overridden where a test probes one */
  function channelInit (overrides: Partial<ChannelInit> & Pick<ChannelInit, 'open'>): ChannelInit {
    return {
      maxFrameSize: 64 * 1024,
      writeTimeout: 10_000,
      idleTimeout: 60_000,
      maxQueuedBytes: 1024 * 1024,
      stats: { bytesSent: 0 },
      signal: new AbortController().signal,
      log,
      ...overrides
    }
  }

  it('writes frames in order on one stream, and opens a new one on the next write after the stream failed', async () => {
    const pairs: Array<[Stream, Stream]> = [await streamPair(), await streamPair()]
    let opens = 0
    const channel = new Channel(channelInit({ open: async () => pairs[opens++][0] }))
    const first = lpStream(pairs[0][1])
    await Promise.all([1, 2, 3].map(async i => channel.write([{ type: NetmapMessage.Type.PUSH, digest: [], records: [Uint8Array.from([i])] as Bytes[], want: [], more: false, deltas: [] }])))
    for (const i of [1, 2, 3]) {
      assert.deepEqual(NetmapMessage.decode(await first.read()).records.map(r => r[0]), [i])
    }
    assert.equal(opens, 1)
    pairs[0][1].abort(new Error('the neighbour reset our stream'))
    await waitFor(() => pairs[0][0].status !== 'open', 'the reset reached the writer')
    await channel.write([{ type: NetmapMessage.Type.PUSH, digest: [], records: [Uint8Array.from([4])] as Bytes[], want: [], more: false, deltas: [] }])
    assert.equal(opens, 2)
    assert.deepEqual(NetmapMessage.decode(await lpStream(pairs[1][1]).read()).records.map(r => r[0]), [4])
    await channel.close()
  })

  it('closes its stream after idleTimeout without a write, and reopens with the resync frames first', async () => {
    const pairs: Array<[Stream, Stream]> = [await streamPair(), await streamPair()]
    let opens = 0
    const channel = new Channel(channelInit({
      open: async () => pairs[opens++][0],
      idleTimeout: 50,
      reopened: () => [{ type: NetmapMessage.Type.SUMMARY, digest: [], records: [], want: [], more: false, deltas: [], summary: { count: 7, root: 9n, buckets: [] } }]
    }))
    const push = (i: number): NetmapMessage => ({ type: NetmapMessage.Type.PUSH, digest: [], records: [Uint8Array.from([i])] as Bytes[], want: [], more: false, deltas: [] })
    await channel.write([push(1)])
    const first = lpStream(pairs[0][1])
    assert.deepEqual(NetmapMessage.decode(await first.read()).records.map(r => r[0]), [1])
    // the reader sees a clean end
    const reading = readChannel(first, new Side(await identity()).context(), AbortSignal.timeout(10_000))
    await reading
    await channel.write([push(2)])
    assert.equal(opens, 2)
    const second = lpStream(pairs[1][1])
    assert.equal(NetmapMessage.decode(await second.read()).summary?.count, 7, 'the resync first')
    assert.deepEqual(NetmapMessage.decode(await second.read()).records.map(r => r[0]), [2])
    channel.abort(new Error('done'))
  })

  it('refuses writes beyond maxQueuedBytes while the stream is not writable, and a write past its deadline rejects', async () => {
    let release: (s: Stream) => void = () => {}
    const [outbound] = await streamPair()
    const channel = new Channel(channelInit({
      open: async (signal) => new Promise<Stream>((resolve, reject) => {
        release = resolve
        signal.addEventListener('abort', () => { reject(signal.reason) })
      }),
      writeTimeout: 200,
      maxQueuedBytes: 2048
    }))
    const big = (n: number): NetmapMessage => ({ type: NetmapMessage.Type.PUSH, digest: [], records: [new Uint8Array(n)] as Bytes[], want: [], more: false, deltas: [] })
    const pending = channel.write([big(1500)])
    await assert.rejects(channel.write([big(1500)]), { name: 'ChannelFullError' })
    assert.ok(channel.queuedBytes > 1500)
    // the open never completed within the write deadline
    await assert.rejects(pending, { name: 'TimeoutError' })
    assert.equal(channel.queuedBytes, 0)
    release(outbound)
    channel.abort(new Error('done'))
  })
})

describe('network map: a peer that speaks only 1.0.0 keeps its 1.0.0 behaviour', () => {
  const nodes: Libp2p[] = []
  after(async () => { await Promise.allSettled(nodes.map(async n => n.stop())) })

  it('is synced with a full digest, gets pushes on 1.0.0 streams, and its records make a two-sided edge', async () => {
    const member = await startMapNode()
    nodes.push(member)
    const old = await identity()
    const oldNode = await createLibp2p({
      privateKey: old.key,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    nodes.push(oldNode)
    // the old peer's map: one 1.0.0 exchange per stream, as before 2.0.0
    const streams: Array<{ first: NetmapMessage.Type, digest: string[], records: Uint8Array[] }> = []
    await oldNode.handle(NETWORK_MAP_LEGACY_PROTOCOL, async (stream) => {
      const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
      const first = NetmapMessage.decode(await lp.read())
      const seen = { first: first.type, digest: first.digest.map(e => String(e.seq)), records: [...first.records] }
      streams.push(seen)
      if (first.type === NetmapMessage.Type.SYNC) {
        // answer: our own record, and nothing wanted
        const own = await sealRecord({ ...recordOf(old.id), seq: 1n, neighbours: [{ peerId: member.peerId.toMultihash().bytes, kind: NetmapRecord.LinkKind.DIRECT }] }, old.key, DEFAULT_MAX_RECORD_SIZE)
        await lp.write(frame({ type: NetmapMessage.Type.PUSH, records: [own] as Bytes[] }))
      }
      await stream.close()
    }, { runOnLimitedConnection: true })
    assert.ok(!oldNode.getProtocols().includes(NETWORK_MAP_PROTOCOL))
    const opened = member.services.networkMap.stats().streamsOpened
    await member.dial(multiaddr(tcpAddr(oldNode)))
    await waitFor(() => member.services.networkMap.edges().some(e => e.from.equals(old.id) || e.to.equals(old.id)), 'a two-sided edge to the 1.0.0 peer')
    await waitFor(() => streams.some(s => s.first === NetmapMessage.Type.PUSH && s.records.length > 0), 'a push on a 1.0.0 stream')
    assert.equal(streams[0].first, NetmapMessage.Type.SYNC, 'the member ran a 1.0.0 digest sync')
    // the member's own record reached the old peer whole on a 1.0.0 push (in the sync's digest only when its
    // record already listed the link: one listing no link is held back while the re-issue is due)
    assert.ok(streams.some(s => s.first === NetmapMessage.Type.PUSH && s.records.some(r => uint8ArrayEquals(decodeRecord(r, { maxRecordSize: DEFAULT_MAX_RECORD_SIZE, maxNeighbours: 64 }).record.peerId, member.peerId.toMultihash().bytes))))
    assert.ok(member.services.networkMap.stats().streamsOpened - opened >= 2, 'the 2.0.0 attempt and 1.0.0 streams are counted')
    assert.equal(member.services.networkMap.penalty(old.id), 0)
    assert.deepEqual(member.services.networkMap.neighbours(old.id).map(String), [member.peerId.toString()])
  })
})
