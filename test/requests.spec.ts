import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { linkKind } from '../src/utils/connections.js'
import { startLine } from './fixtures/line.js'
import { startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { Membrane } from '../src/index.js'
import type { PeerId } from '@libp2p/interface'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const str = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('requests between two connected members (TCP)', () => {
  let alice: Membrane
  let bob: Membrane

  before(async () => {
    alice = await startMember(undefined, { requests: { maxConcurrentPerPeer: 2 } })
    bob = await startMember(undefined, { requests: { maxConcurrentPerPeer: 3, maxRequestSize: 4096 } })
    await alice.dial(multiaddr(tcpAddress(bob)))
  })

  after(async () => { await stopAll(alice, bob) })

  it('answers with the handler\'s bytes, the requester authenticated by the connection', async () => {
    let from: PeerId | undefined
    const remove = bob.services.requests.handle('echo', (data, ctx) => { from = ctx.from; return Uint8Array.from([...data].reverse()) })
    try {
      assert.equal(str(await alice.services.requests.request(bob.peerId, 'echo', text('abc'))), 'cba')
      assert.ok(from?.equals(alice.peerId))
    } finally {
      remove()
    }
  })

  it('refuses with typed errors: no handler, handler threw, too large each way', async () => {
    const removeThrow = bob.services.requests.handle('strict', () => { throw new Error('go away') })
    const removeBig = bob.services.requests.handle('big', () => new Uint8Array(64 * 1024))
    try {
      await assert.rejects(alice.services.requests.request(bob.peerId, 'unknown', text('?')), (err: Error & { status?: string }) => err.name === 'RequestRefusedError' && err.status === 'no-handler')
      await assert.rejects(alice.services.requests.request(bob.peerId, 'strict', text('?')), (err: Error) => err.name === 'RequestRefusedError' && /go away/.test(err.message))
      // alice allows 1 MiB requests, bob reads 4096 bytes: refused by bob from the length prefix
      await assert.rejects(alice.services.requests.request(bob.peerId, 'big', new Uint8Array(8192)), { name: 'RequestTooLargeError' })
      // above alice's own limit: refused before anything is sent
      await assert.rejects(alice.services.requests.request(bob.peerId, 'big', new Uint8Array(2 * 1024 * 1024)), { name: 'RequestTooLargeError' })
      await assert.rejects(alice.services.requests.request(bob.peerId, 'big', new Uint8Array(0), { maxResponseSize: 1000 }), { name: 'ResponseTooLargeError' })
      assert.equal((await alice.services.requests.request(bob.peerId, 'big', new Uint8Array(0))).byteLength, 64 * 1024)
    } finally {
      removeThrow()
      removeBig()
    }
  })

  it('keeps at most maxConcurrentPerPeer requests in flight to one peer; the rest wait and succeed', async () => {
    let active = 0
    let most = 0
    const remove = bob.services.requests.handle('slow', async (data) => {
      active++
      most = Math.max(most, active)
      // the handler yields long enough for every queued request to be tried
      await new Promise(resolve => setTimeout(resolve, 50))
      active--
      return data
    })
    try {
      const replies = await Promise.all(Array.from({ length: 8 }, async (_, i) => alice.services.requests.request(bob.peerId, 'slow', text(String(i)))))
      assert.deepEqual(replies.map(str), Array.from({ length: 8 }, (_, i) => String(i)))
      assert.equal(most, 2, 'alice\'s limit of 2 held')
    } finally {
      remove()
    }
  })

  it('times out with a typed error when the handler does not answer in time', async () => {
    const remove = bob.services.requests.handle('never', async (_data, { signal }) => new Promise<Uint8Array>((_resolve, reject) => {
      signal.addEventListener('abort', () => { reject(signal.reason) })
    }))
    try {
      await assert.rejects(alice.services.requests.request(bob.peerId, 'never', text('?'), { timeout: 500 }), { name: 'RequestTimeoutError' })
    } finally {
      remove()
    }
  })

  it('rejects with the caller\'s abort reason when aborted', async () => {
    const remove = bob.services.requests.handle('hold', async () => new Promise<Uint8Array>(() => {}))
    try {
      const controller = new AbortController()
      const pending = alice.services.requests.request(bob.peerId, 'hold', text('?'), { signal: controller.signal })
      controller.abort(new Error('changed my mind'))
      await assert.rejects(pending, /changed my mind/)
    } finally {
      remove()
    }
  })

  it('is unreachable, typed, for a peer nobody knows', async () => {
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await assert.rejects(alice.services.requests.request(stranger, 'echo', text('?'), { timeout: 10_000 }), (err: Error) => {
      assert.ok(['PeerUnreachableError', 'RequestTimeoutError'].includes(err.name), `typed error, got ${err.name}: ${err.message}`)
      return true
    })
  })
})

describe('requests to a member two hops away, linked through the mesh', () => {
  let line: Membrane[]

  before(async () => {
    // A–B–C: A and C have no TCP link and must be linked by connect()
    line = await startLine(3)
    const [a, , c] = line
    await waitFor(() => a.services.networkMap.path(c.peerId) != null && c.services.networkMap.path(a.peerId) != null, 'map routes A↔C', 20_000)
  })

  after(async () => { await stopAll(...line) })

  it('makes a link (WebRTC, else an encrypted circuit) and gets the answer', async () => {
    const [a, , c] = line
    c.services.requests.handle('whoami', (_data, { from }) => text(from.toString()))
    assert.equal(a.getConnections(c.peerId).length, 0, 'no link before the request')
    const reply = await a.services.requests.request(c.peerId, 'whoami', new Uint8Array(0))
    assert.equal(str(reply), a.peerId.toString())
    const kinds = a.getConnections(c.peerId).filter(conn => conn.status === 'open').map(linkKind)
    assert.ok(kinds.some(k => k === 'webrtc' || k === 'circuit'), `a link through the mesh, got ${kinds.join(',')}`)
  })
})
