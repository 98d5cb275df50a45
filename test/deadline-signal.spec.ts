/**
 * Per-stream deadlines leave nothing on the service's shutdown signal (issue
 * 16.4, memory under attack). Node's `AbortSignal.any()` registers each of its
 * sources in a `FinalizationRegistry` whose cell lives until the source is
 * collected; with a service's shutdown signal as a source, every stream served
 * left a cell behind (src/utils/timeout-signal.ts). Here the direct message
 * handler is sent real messages over real stream pairs, and the
 * `FinalizationRegistry` cells in a heap snapshot are counted before and after.
 */
import assert from 'node:assert/strict'
import { getHeapSnapshot } from 'node:v8'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DefaultDirectMessages } from '../src/direct-messages/direct-messages.js'
import { DirectMessage } from '../src/direct-messages/pb/dm.js'
import { deadlineSignal } from '../src/utils/timeout-signal.js'
import { lengthPrefixed } from '../src/utils/length-prefix.js'
import { capturingRegistrar, collectGarbage, inboundFrom, serveStreams } from './fixtures/handler.js'
import { waitFor } from './fixtures/wait.js'

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
})
