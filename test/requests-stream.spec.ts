// The request protocol's two sides driven over an in-memory stream pair with real protobuf bytes
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream, streamPair } from '@libp2p/utils'
import { Request, Response } from '../src/requests/pb/requests.js'
import { DefaultRequests } from '../src/requests/requests.js'
import { varint } from '../src/utils/length-prefix.js'
import type { RequestsComponents, RequestsInit } from '../src/requests/index.js'
import type { PeerId, Stream } from '@libp2p/interface'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

// serve() and exchange() use only the logger; registrar and connection manager matter once started
function service (init: RequestsInit = {}): DefaultRequests {
  return new DefaultRequests({ logger: defaultLogger() } as unknown as RequestsComponents, init)
}

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** Resolves once `stream` has closed, with the error it closed with (if any) */
async function closed (stream: Stream): Promise<Error | undefined> {
  if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') {
    return undefined
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the stream did not close within 10 s')) }, 10_000)
    stream.addEventListener('close', (evt) => { clearTimeout(timer); resolve((evt as Event & { error?: Error }).error) }, { once: true })
  })
}

describe('request protocol over a stream pair', () => {
  it('answers a request with the handler\'s bytes and names the requester', async () => {
    const responder = service()
    const from = await peer()
    let seen: PeerId | undefined
    responder.handle('echo', (data, { from }) => { seen = from; return Uint8Array.from([...data, 33]) })
    const [outbound, inbound] = await streamPair()
    const served = responder.serve(inbound, from)
    const reply = await service().exchange(outbound, 'echo', text('hi'), 1024, AbortSignal.timeout(5000))
    await served
    assert.equal(new TextDecoder().decode(reply), 'hi!')
    assert.ok(seen?.equals(from))
    assert.equal(responder.stats().requestsServed, 1)
  })

  it('refuses an oversize request from its length prefix alone and resets the stream', async () => {
    const responder = service({ maxRequestSize: 1024 })
    responder.handle('echo', data => data)
    const [outbound, inbound] = await streamPair()
    const served = responder.serve(inbound, await peer())
    // a prefix claiming 512 MiB, then a few body bytes: the responder must not wait for (or buffer) the rest
    const lp = lpStream(outbound)
    outbound.send(varint(512 * 1024 * 1024))
    outbound.send(new Uint8Array(16))
    const response = Response.decode(await lp.read({ signal: AbortSignal.timeout(5000) }))
    assert.equal(response.status, Response.Status.REQUEST_TOO_LARGE)
    await served
    assert.equal(inbound.writeStatus, 'closed', 'the responder has answered and closed')
    assert.equal(responder.stats().requestsTooLarge, 1)
    assert.equal(responder.stats().requestsServed, 0)
  })

  it('refuses a decoded request above the handler\'s own limit with a typed error', async () => {
    const responder = service()
    responder.handle('small', data => data, { maxRequestSize: 8 })
    const [outbound, inbound] = await streamPair()
    const served = responder.serve(inbound, await peer())
    await assert.rejects(service().exchange(outbound, 'small', new Uint8Array(9), 1024, AbortSignal.timeout(5000)), { name: 'RequestTooLargeError' })
    await served
  })

  it('does not send a response larger than the requester accepts', async () => {
    const responder = service()
    responder.handle('big', () => new Uint8Array(4096))
    const [outbound, inbound] = await streamPair()
    const served = responder.serve(inbound, await peer())
    await assert.rejects(service().exchange(outbound, 'big', new Uint8Array(0), 1000, AbortSignal.timeout(5000)), { name: 'ResponseTooLargeError' })
    await served
  })

  it('cuts off a hostile responder whose length prefix exceeds the response limit, resetting the stream', async () => {
    const [outbound, inbound] = await streamPair()
    const answered = (async () => {
      const lp = lpStream(inbound)
      await lp.read({ signal: AbortSignal.timeout(5000) })
      inbound.send(varint(1024 * 1024 * 1024))
      inbound.send(new Uint8Array(32))
    })()
    await assert.rejects(service().exchange(outbound, 'x', text('q'), 1024, AbortSignal.timeout(5000)), { name: 'ResponseTooLargeError' })
    await answered
    assert.equal(outbound.status, 'aborted')
    assert.ok(await closed(inbound) != null || inbound.status === 'reset', 'the responder sees the stream reset')
  })

  it('resets the stream on a malformed request frame and counts it', async () => {
    // length-delimited fields (the name, the data) that run past the end of the frame
    for (const frame of [Uint8Array.from([0x0a, 0x20, 0x61]), Uint8Array.from([0x0a, 0x01, 0x61, 0x12, 0x7f, 0x00])]) {
      const responder = service()
      responder.handle('echo', data => data)
      const [outbound, inbound] = await streamPair()
      const served = responder.serve(inbound, await peer())
      await lpStream(outbound).write(frame)
      await served
      assert.equal(inbound.status, 'aborted')
      assert.equal(responder.stats().malformedFrames, 1)
      assert.notEqual(await closed(outbound), undefined, 'the requester sees a reset, not a clean close')
    }
  })

  it('turns a malformed response into a typed error and resets the stream', async () => {
    const [outbound, inbound] = await streamPair()
    const answered = (async () => {
      const lp = lpStream(inbound)
      await lp.read({ signal: AbortSignal.timeout(5000) })
      // the data field claims 32 bytes, the frame holds one
      await lp.write(Uint8Array.from([0x08, 0x00, 0x12, 0x20, 0x61]))
    })()
    await assert.rejects(service().exchange(outbound, 'x', text('q'), 1024, AbortSignal.timeout(5000)), { name: 'MalformedRequestError' })
    await answered
    assert.equal(outbound.status, 'aborted')
  })

  it('cuts off a sender that stalls mid-frame at the receive deadline', async () => {
    const responder = service({ receiveTimeout: 300 })
    responder.handle('echo', data => data)
    const [outbound, inbound] = await streamPair()
    const served = responder.serve(inbound, await peer())
    // a prefix announcing 100 bytes, then 3 of them, then nothing
    outbound.send(varint(100))
    outbound.send(Request.encode({ name: 'echo', data: new Uint8Array(0), maxResponseSize: 0 }).subarray(0, 3))
    await served
    assert.equal(inbound.status, 'aborted')
    assert.equal(responder.stats().requestsStalled, 1)
    assert.notEqual(await closed(outbound), undefined)
  })

  it('answers busy beyond the per-peer concurrency limit, and frees the slot afterwards', async () => {
    const responder = service({ maxConcurrentPerPeer: 1 })
    const release = Promise.withResolvers<void>()
    let entered = 0
    responder.handle('slow', async (data) => { entered++; await release.promise; return data })
    const from = await peer()
    const requester = service()
    const [out1, in1] = await streamPair()
    const first = Promise.all([responder.serve(in1, from), requester.exchange(out1, 'slow', text('1'), 1024, AbortSignal.timeout(5000))])
    while (entered === 0) {
      await new Promise(resolve => setImmediate(resolve))
    }
    const [out2, in2] = await streamPair()
    const served2 = responder.serve(in2, from)
    await assert.rejects(requester.exchange(out2, 'slow', text('2'), 1024, AbortSignal.timeout(5000)), (err: Error & { status?: string }) => {
      assert.equal(err.name, 'RequestRefusedError')
      assert.equal(err.status, 'busy')
      return true
    })
    await served2
    // another peer is not limited by the first one's requests
    const [out3, in3] = await streamPair()
    const third = Promise.all([responder.serve(in3, await peer()), requester.exchange(out3, 'slow', text('3'), 1024, AbortSignal.timeout(5000))])
    release.resolve()
    assert.equal(new TextDecoder().decode((await first)[1]), '1')
    assert.equal(new TextDecoder().decode((await third)[1]), '3')
    assert.equal(responder.stats().requestsBusy, 1)
    assert.equal(responder.stats().inFlight, 0)
  })

  it('reports a throwing handler, a missing handler and a handler past its deadline as typed errors', async () => {
    const responder = service({ handlerTimeout: 200 })
    responder.handle('throws', () => { throw new Error('not for you') })
    responder.handle('hangs', async () => new Promise<Uint8Array>(() => {}))
    const requester = service()
    const cases: Array<[string, (err: Error & { status?: string }) => boolean]> = [
      ['throws', err => err.name === 'RequestRefusedError' && err.status === 'refused' && /not for you/.test(err.message)],
      ['nobody', err => err.name === 'RequestRefusedError' && err.status === 'no-handler'],
      ['hangs', err => err.name === 'RequestTimeoutError']
    ]
    for (const [name, check] of cases) {
      const [outbound, inbound] = await streamPair()
      const served = responder.serve(inbound, await peer())
      await assert.rejects(requester.exchange(outbound, name, text('q'), 1024, AbortSignal.timeout(5000)), check)
      await served
    }
    assert.equal(responder.stats().requestsRefused, 3)
  })
})
