/**
 * Per-stream deadlines leave nothing on the service's shutdown signal (issue
 * 16.4, memory under attack). Node's `AbortSignal.any()` registers each of its
 * sources in a `FinalizationRegistry` whose cell lives until the source is
 * collected; with a service's shutdown signal as a source, every stream served
 * left a cell behind (src/utils/timeout-signal.ts). Here the direct message,
 * ICE servers, circuit (target refusal and hop) and request handlers are sent
 * real protobuf bytes over real stream pairs, the network map's channel writer
 * writes real frames to one, and the `FinalizationRegistry` cells in a heap
 * snapshot are counted before and after.
 */
import assert from 'node:assert/strict'
import { getHeapSnapshot } from 'node:v8'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream, pbStream, RateLimiter, streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_RELAY_LIMIT, DEFAULT_SIGNALING_LIMIT } from '../src/circuit/constants.js'
import { handleCircuitStream } from '../src/circuit/inbound.js'
import { CircuitRequest, CircuitResponse } from '../src/circuit/pb/circuit.js'
import { CircuitSlots } from '../src/circuit/slots.js'
import { DefaultDirectMessages } from '../src/direct-messages/direct-messages.js'
import { DirectMessage } from '../src/direct-messages/pb/dm.js'
import { Channel } from '../src/network-map/channel.js'
import { NetmapMessage } from '../src/network-map/pb/netmap.js'
import { Request } from '../src/requests/pb/requests.js'
import { DefaultRequests } from '../src/requests/requests.js'
import { DefaultIceServers } from '../src/turn/ice-servers.js'
import { IceRequest } from '../src/turn/pb/ice.js'
import { deadlineSignal, operationDeadline } from '../src/utils/timeout-signal.js'
import { lengthPrefixed } from '../src/utils/length-prefix.js'
import { capturingRegistrar, collectGarbage, inboundFrom, serveStreams } from './fixtures/handler.js'
import { waitFor } from './fixtures/wait.js'
import type { CircuitNode } from '../src/circuit/context.js'
import type { RequestsComponents } from '../src/requests/index.js'
import type { Connection, PeerId, StreamHandler, Upgrader } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

/** The `FinalizationRegistry` cells (`system / WeakCell`) in a heap snapshot taken after full GCs */
async function weakCells (): Promise<number> {
  await collectGarbage()
  const chunks: string[] = []
  for await (const chunk of getHeapSnapshot()) {
    chunks.push(String(chunk))
  }
  const snapshot = JSON.parse(chunks.join('')) as { snapshot: { meta: { node_fields: string[] } }, nodes: number[], strings: string[] }
  const fields = snapshot.snapshot.meta.node_fields.length
  const nameField = snapshot.snapshot.meta.node_fields.indexOf('name')
  const cell = snapshot.strings.indexOf('system / WeakCell')
  let count = 0
  for (let i = nameField; i < snapshot.nodes.length; i += fields) {
    if (snapshot.nodes[i] === cell) {
      count++
    }
  }
  return count
}

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

/**
 * The `FinalizationRegistry` cells `serve(count)` leaves behind: counted after a
 * warm-up (lazily created registries and caches) and after `streams` more streams
 */
async function cellsLeftBy (serve: (count: number) => Promise<void>, streams: number): Promise<{ before: number, after: number }> {
  await serve(20)
  const before = await weakCells()
  await serve(streams)
  const after = await weakCells()
  return { before, after }
}

/** A circuit node whose only link, to `next`, answers every forwarded request with NO_ROUTE */
function circuitNode (self: PeerId, next: PeerId, shutdown: AbortSignal, forwarded: { count: number }): CircuitNode {
  const link = {
    remotePeer: next,
    remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/4002/p2p/${next}`),
    status: 'open',
    limits: undefined,
    timeline: { open: Date.now() },
    streams: [],
    newStream: async () => {
      const [near, far] = await streamPair({ delay: 0 })
      void (async () => {
        const messages = pbStream(far)
        await messages.read(CircuitRequest, { signal: AbortSignal.timeout(5000) })
        forwarded.count++
        await messages.write({ status: CircuitResponse.Status.NO_ROUTE, reason: 'no route', from: next.toMultihash().bytes }, CircuitResponse)
        await far.close()
      })().catch(err => { far.abort(err) })
      return near
    }
  } as unknown as Connection
  return {
    peerId: self,
    connectionManager: { getConnections: (peer?: PeerId) => peer == null || peer.equals(next) ? [link] : [] } as unknown as ConnectionManager,
    upgrader: { upgradeInbound: async () => {}, upgradeOutbound: async () => { throw new Error('not used') } } as unknown as Upgrader,
    log: defaultLogger().forComponent('test:circuit'),
    slots: new CircuitSlots({ maxCircuits: 64, maxCircuitsPerPeer: 64, maxRelayCircuits: 64 }),
    rateLimiter: new RateLimiter({ points: 1_000_000, duration: 60 }),
    maxHops: 3,
    signalingLimit: DEFAULT_SIGNALING_LIMIT,
    relayLimit: DEFAULT_RELAY_LIMIT,
    requestTimeout: 60_000,
    responseTimeout: 60_000,
    shutdown,
    path: () => undefined
  }
}

describe('per-stream deadlines on a long-lived signal', () => {
  it('deadlineSignal aborts with a TimeoutError, or with the parent\'s reason', async () => {
    const parent = new AbortController()
    const timed = deadlineSignal(10, parent.signal)
    await waitFor(() => timed.signal.aborted, 'the deadline passed')
    assert.equal((timed.signal.reason as DOMException).name, 'TimeoutError')
    const held = deadlineSignal(60_000, parent.signal)
    parent.abort(new Error('shutdown'))
    assert.equal(held.signal.aborted, true)
    assert.equal((held.signal.reason as Error).message, 'shutdown')
    assert.equal(deadlineSignal(10, parent.signal).signal.aborted, true, 'born aborted under an aborted parent')
    assert.equal(timed.timedOut, true, 'timedOut after the timer')
    assert.equal(held.timedOut, false, 'not timedOut when the parent aborted')
    const cleared = deadlineSignal(10, new AbortController().signal)
    cleared.clear()
    const later = deadlineSignal(20, new AbortController().signal)
    await waitFor(() => later.signal.aborted, 'a later deadline passed')
    assert.equal(cleared.signal.aborted, false, 'a cleared deadline never aborts')
  })

  it('operationDeadline is the caller\'s signal with the parent when given one, else a deadlineSignal', async () => {
    const parent = new AbortController()
    const own = operationDeadline(10, parent.signal)
    await waitFor(() => own.signal.aborted, 'the deadline passed')
    assert.equal(own.timedOut, true)
    const caller = new AbortController()
    const given = operationDeadline(10, parent.signal, caller.signal)
    const untouched = operationDeadline(60_000, parent.signal, new AbortController().signal)
    caller.abort(new Error('caller'))
    assert.equal((given.signal.reason as Error).message, 'caller')
    assert.equal(given.timedOut, false, 'a caller\'s abort is not our timeout')
    assert.equal(untouched.signal.aborted, false, 'no timer of ours beside a caller\'s signal')
    parent.abort(new Error('shutdown'))
    assert.equal((untouched.signal.reason as Error).message, 'shutdown')
  })

  it('the direct message handler leaves no FinalizationRegistry cell per stream it served', async (t) => {
    const { registrar, handler } = capturingRegistrar()
    const service = new DefaultDirectMessages({ logger: defaultLogger(), registrar } as unknown as ConstructorParameters<typeof DefaultDirectMessages>[0])
    await service.start()
    const connection = inboundFrom(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    const serve = async (count: number): Promise<void> => serveStreams(handler(), connection, count, (i) =>
      lengthPrefixed(DirectMessage.encode({ id: crypto.getRandomValues(new Uint8Array(16)), data: new Uint8Array([i & 0xff]) })))
    await serve(20) // warm up: lazily created registries and caches
    const before = await weakCells()
    const streams = 600
    await serve(streams)
    const after = await weakCells()
    t.diagnostic(`FinalizationRegistry cells ${before} → ${after} over ${streams} streams`)
    assert.ok(service.stats().received >= streams + 20, `every stream reached the handler (${JSON.stringify(service.stats())})`)
    assert.ok(after - before < streams / 10, `${after - before} FinalizationRegistry cells left by ${streams} streams (${before} → ${after})`)
    await service.stop()
  })

  it('the ICE servers handler leaves no FinalizationRegistry cell per stream it served', async (t) => {
    const { registrar, handler } = capturingRegistrar()
    const service = new DefaultIceServers({ logger: defaultLogger(), registrar, peerId: await newPeer() } as unknown as ConstructorParameters<typeof DefaultIceServers>[0], {
      serve: { stunPort: () => 3478, maxRequestsPerPeer: 5 },
      requestTimeout: 60_000
    })
    await service.start()
    const connection = inboundFrom(await newPeer())
    const streams = 600
    const { before, after } = await cellsLeftBy(async (count) => serveStreams(handler(), connection, count, () => lengthPrefixed(IceRequest.encode({ counter: 0n }))), streams)
    t.diagnostic(`FinalizationRegistry cells ${before} → ${after} over ${streams} streams`)
    const stats = service.stats()
    assert.equal(stats.served + stats.refused, streams + 20, `every stream reached the handler (${JSON.stringify(stats)})`)
    assert.ok(after - before < streams / 10, `${after - before} FinalizationRegistry cells left by ${streams} streams (${before} → ${after})`)
    await service.stop()
  })

  it('the circuit handler, as a target refusing and as a hop forwarding, leaves no FinalizationRegistry cell per stream', async (t) => {
    const [self, sender, next, elsewhere] = await Promise.all([newPeer(), newPeer(), newPeer(), newPeer()])
    const shutdown = new AbortController()
    const forwarded = { count: 0 }
    const node = circuitNode(self, next, shutdown.signal, forwarded)
    const handler: StreamHandler = async (stream, connection) => handleCircuitStream(node, stream, connection, { forwardRate: 1_000_000 })
    const connection = inboundFrom(sender)
    const path = [sender.toMultihash().bytes]
    const frame = (i: number): Uint8Array => lengthPrefixed(CircuitRequest.encode({
      // even: to `next`, forwarded (the hop's response deadline too); odd: to a peer with no route, refused here
      target: (i % 2 === 0 ? next : elsewhere).toMultihash().bytes,
      route: [],
      path,
      hops: 0,
      maxHops: 3,
      mode: CircuitRequest.Mode.SIGNALING
    }))
    const streams = 600
    const { before, after } = await cellsLeftBy(async (count) => serveStreams(handler, connection, count, frame), streams)
    t.diagnostic(`FinalizationRegistry cells ${before} → ${after} over ${streams} streams (${forwarded.count} forwarded)`)
    assert.ok(forwarded.count >= streams / 2, `the hop forwarded every other request (${forwarded.count})`)
    assert.ok(after - before < streams / 10, `${after - before} FinalizationRegistry cells left by ${streams} streams (${before} → ${after})`)
    shutdown.abort()
  })

  it('the request handler leaves no FinalizationRegistry cell per stream it served', async (t) => {
    const service = new DefaultRequests({ logger: defaultLogger() } as unknown as RequestsComponents)
    service.handle('echo', data => data)
    const from = await newPeer()
    const handler: StreamHandler = async (stream) => service.serve(stream, from)
    const streams = 600
    const frame = (i: number): Uint8Array => lengthPrefixed(Request.encode({ name: i % 3 === 0 ? 'nobody' : 'echo', data: new Uint8Array([i & 0xff]), maxResponseSize: 0 }))
    const { before, after } = await cellsLeftBy(async (count) => serveStreams(handler, inboundFrom(from), count, frame), streams)
    t.diagnostic(`FinalizationRegistry cells ${before} → ${after} over ${streams} streams`)
    const stats = service.stats()
    assert.ok(stats.requestsServed >= (streams * 2) / 3, `the echo requests were served (${JSON.stringify(stats)})`)
    assert.ok(after - before < streams / 10, `${after - before} FinalizationRegistry cells left by ${streams} streams (${before} → ${after})`)
  })

  it('the network map\'s channel writer leaves no FinalizationRegistry cell per write', async (t) => {
    const shutdown = new AbortController()
    const [outbound, inbound] = await streamPair()
    const reader = lpStream(inbound, { maxDataLength: 64 * 1024 })
    let read = 0
    const reading = (async () => {
      while (true) {
        NetmapMessage.decode(await reader.read())
        read++
      }
    })().catch(() => {})
    const channel = new Channel({
      open: async () => outbound,
      maxFrameSize: 64 * 1024,
      writeTimeout: 60_000,
      idleTimeout: 600_000,
      maxQueuedBytes: 1024 * 1024,
      stats: { bytesSent: 0 },
      signal: shutdown.signal,
      log: defaultLogger().forComponent('test:channel')
    })
    let written = 0
    const write = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await channel.write([{ type: NetmapMessage.Type.PUSH, digest: [], records: [Uint8Array.from([written++ & 0xff])], want: [], more: false, deltas: [] }])
      }
      await waitFor(() => read === written, 'the neighbour read every frame')
    }
    const writes = 600
    const { before, after } = await cellsLeftBy(write, writes)
    t.diagnostic(`FinalizationRegistry cells ${before} → ${after} over ${writes} writes`)
    assert.equal(read, writes + 20, 'every frame reached the neighbour')
    assert.ok(after - before < writes / 10, `${after - before} FinalizationRegistry cells left by ${writes} writes (${before} → ${after})`)
    channel.abort(new Error('done'))
    shutdown.abort()
    await reading
  })
})
