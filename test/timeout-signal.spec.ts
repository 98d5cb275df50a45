/**
 * Per-stream deadlines do not outlive their streams (issue 16.3, bounded
 * heap). Node keeps every `AbortSignal.any()` with an `AbortSignal.timeout()`
 * among its sources until a source is collected, so a handler that combined
 * a per-stream timeout with its service's shutdown signal kept one composite
 * signal per stream it ever served (src/utils/timeout-signal.ts). Here the
 * ICE servers handler is sent real requests over real stream pairs, and the
 * composite signals it made are counted after they have aborted and a GC has
 * run.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { IceRequest } from '../src/turn/pb/ice.js'
import { DefaultIceServers } from '../src/turn/ice-servers.js'
import { lengthPrefixed } from '../src/utils/length-prefix.js'
import { timeoutSignal } from '../src/utils/timeout-signal.js'
import { capturingRegistrar, collectGarbage, inboundFrom, serveStreams } from './fixtures/handler.js'
import { waitFor } from './fixtures/wait.js'

/** Record a weak reference to every signal `AbortSignal.any()` returns while `run` runs */
async function recordComposites (run: () => Promise<void>): Promise<Array<WeakRef<AbortSignal>>> {
  const refs: Array<WeakRef<AbortSignal>> = []
  const any = AbortSignal.any.bind(AbortSignal)
  AbortSignal.any = (signals: AbortSignal[]) => {
    const signal = any(signals)
    refs.push(new WeakRef(signal))
    return signal
  }
  try {
    await run()
  } finally {
    AbortSignal.any = any
  }
  return refs
}

describe('per-stream deadlines', () => {
  it('timeoutSignal aborts with a TimeoutError, and a composite of it and a long-lived signal is collected once aborted', async () => {
    const shutdown = new AbortController()
    const refs: Array<WeakRef<AbortSignal>> = []
    for (let i = 0; i < 500; i++) {
      refs.push(new WeakRef(AbortSignal.any([timeoutSignal(10), shutdown.signal])))
    }
    await waitFor(() => refs.every(r => r.deref()?.aborted !== false), 'every composite aborted (or collected)')
    const reason = refs.map(r => r.deref()?.reason as DOMException | undefined).find(r => r != null)
    assert.ok(reason == null || reason.name === 'TimeoutError', `aborted with a TimeoutError (${reason?.name})`)
    await collectGarbage()
    const live = refs.filter(r => r.deref() != null).length
    assert.ok(live <= 5, `${live} of 500 aborted composites still reachable`)
    assert.equal(shutdown.signal.aborted, false)
  })

  it('the ICE servers handler keeps no signal per stream once its streams are done', async () => {
    const { registrar, handler } = capturingRegistrar()
    const key = await generateKeyPair('Ed25519')
    const service = new DefaultIceServers({ logger: defaultLogger(), registrar, peerId: peerIdFromPrivateKey(key) } as unknown as ConstructorParameters<typeof DefaultIceServers>[0], {
      serve: { stunPort: () => 3478, maxRequestsPerPeer: 5 },
      requestTimeout: 50
    })
    await service.start()
    const connection = inboundFrom(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    const streams = 300
    const refs = await recordComposites(async () => {
      await serveStreams(handler(), connection, streams, () => lengthPrefixed(IceRequest.encode({ counter: 0n })))
    })
    const stats = service.stats()
    assert.equal(stats.served, 5, `5 answered within the rate (${JSON.stringify(stats)})`)
    assert.equal(stats.refused, streams - 5)
    assert.ok(refs.length >= streams, `one deadline per stream (${refs.length})`)
    // every deadline has passed (50 ms): the handler's composites are aborted, or already collected
    await waitFor(() => refs.every(r => r.deref()?.aborted !== false), 'every stream deadline passed')
    await collectGarbage()
    const live = refs.filter(r => r.deref() != null).length
    assert.ok(live <= 10, `${live} of ${refs.length} per-stream signals still reachable after their streams ended`)
    await service.stop()
  })
})
