/**
 * The yamux guard (src/utils/yamux-guard.ts, docs/upstream/libp2p-yamux.md):
 * a stream created on a muxer whose connection is already closing is aborted,
 * where stock yamux throws StreamStateError from a microtask (an uncaught
 * exception: the test runner fails the test, Node ends the process).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { guardStreamCreation, guardedYamux } from '../src/utils/yamux-guard.js'

describe('yamux guard', () => {
  it('a stream created while the connection closes is aborted, not thrown from a microtask', async () => {
    const [outbound] = multiaddrConnectionPair()
    const muxer = guardedYamux()().createStreamMuxer(outbound)
    void outbound.close().catch(() => {})
    assert.equal(muxer.status, 'open', 'the muxer has not seen the close yet')
    assert.notEqual((outbound as unknown as { writeStatus: string }).writeStatus, 'writable', 'the connection no longer writes')
    const stream = await muxer.createStream()
    // the window update runs in a microtask, before this continuation
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(stream.status, 'aborted')
    assert.equal(stream.writeStatus, 'closed')
  })

  it('streams on an open connection are untouched: data flows both ways', async () => {
    const [outbound, inbound] = multiaddrConnectionPair()
    const dialer = guardStreamCreation(yamux()().createStreamMuxer(outbound))
    const listener = yamux()().createStreamMuxer(inbound)
    const remote = once(listener, 'stream') as Promise<[CustomEvent]>
    const stream = await dialer.createStream()
    stream.send(new TextEncoder().encode('ping'))
    const [{ detail: incoming }] = await remote
    const [first] = await once(incoming, 'message') as [{ data: { subarray(): Uint8Array } }]
    assert.equal(new TextDecoder().decode(first.data.subarray()), 'ping')
    assert.equal(stream.status, 'open')
    dialer.abort(new Error('done'))
    listener.abort(new Error('done'))
  })
})
