import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { ContentHasher } from '../src/transfers/hash.js'
import { linkKind } from '../src/utils/connections.js'
import { startGraph, startLine } from './fixtures/line.js'
import { stopAll } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { IncomingTransfer, Membrane, TransferProgress } from '../src/index.js'

const MiB = 1024 * 1024

/** `total` random bytes in 64 KiB chunks, hashed as they are yielded */
function randomSource (total: number, hasher: ContentHasher): AsyncIterable<Uint8Array> {
  return (async function * () {
    for (let sent = 0; sent < total; sent += 65536) {
      const chunk = crypto.getRandomValues(new Uint8Array(Math.min(65536, total - sent)))
      await hasher.update(chunk)
      yield chunk
    }
  })()
}

interface Received {
  transfer: IncomingTransfer
  bytes: number
  digest?: string
  error?: Error
  progress: TransferProgress[]
}

/** Receive the next transfer under `name`, hashing what arrives */
function receiveOne (node: Membrane, name: string): Promise<Received> {
  return new Promise(resolve => {
    const remove = node.services.transfers.handle(name, async (transfer) => {
      remove()
      const hasher = new ContentHasher()
      const progress: TransferProgress[] = []
      transfer.addEventListener('progress', ({ detail }) => { if (progress.length === 0 || detail.bytes - (progress.at(-1)?.bytes ?? 0) >= MiB) { progress.push(detail) } })
      let bytes = 0
      try {
        for await (const chunk of transfer.source) {
          bytes += chunk.byteLength
          await hasher.update(chunk)
        }
        resolve({ transfer, bytes, digest: uint8ArrayToString(await hasher.digest(), 'base16'), progress })
      } catch (err) {
        resolve({ transfer, bytes, error: err as Error, progress })
        throw err
      }
    })
  })
}

describe('transfers between members linked through the mesh (Node, WebRTC)', () => {
  let line: Membrane[]

  before(async () => {
    // A–B–C over TCP: A reaches C by connect(), which upgrades to WebRTC
    line = await startLine(3)
    const [a, , c] = line
    await waitFor(() => a.services.networkMap.path(c.peerId) != null && c.services.networkMap.path(a.peerId) != null, 'map routes A↔C', 20_000)
  })

  after(async () => { await stopAll(...line) })

  it('sends 100 MB over WebRTC, streamed (bounded buffers both ends) and verified by hash', async () => {
    const [a, , c] = line
    const size = 100 * MiB
    const sent = new ContentHasher()
    const received = receiveOne(c, 'big')
    const progress: number[] = []
    const result = await a.services.transfers.send(c.peerId, 'big', randomSource(size, sent), {
      size,
      onProgress: ({ bytes }) => { if (progress.length === 0 || bytes - (progress.at(-1) ?? 0) >= 10 * MiB) { progress.push(bytes) } }
    })
    const got = await received
    assert.equal(got.error, undefined)
    // connect() hands back a circuit first; the transfer ends on the WebRTC link made behind it
    assert.equal(linkKind(result.connection), 'webrtc', `ended on ${result.connection.remoteAddr.toString()}`)
    assert.equal(result.bytes, size)
    assert.equal(got.bytes, size)
    const expected = uint8ArrayToString(await sent.digest(), 'base16')
    assert.equal(result.digest, expected, 'the sender\'s digest is of what the source yielded')
    assert.equal(got.digest, expected, 'the receiver got exactly those bytes')
    assert.ok(progress.length >= 9, 'sender progress')
    assert.ok(got.progress.length >= 50 && got.progress.every(p => p.size === size), 'receiver progress')
    const window = 4 * MiB
    assert.ok(a.services.transfers.stats().maxRetained <= window, `sender retained ${a.services.transfers.stats().maxRetained}`)
    assert.ok(c.services.transfers.stats().maxBuffered <= window, `receiver buffered ${c.services.transfers.stats().maxBuffered}`)
  })
})

describe('a transfer over a mesh circuit whose middle hop is killed', () => {
  // every hop relays up to 256 MiB per circuit, so only the kill interrupts the transfer
  const circuit = { relayLimit: { bytes: 256 * MiB } }
  const member = { noWebRTC: true, options: { meshCircuits: circuit, transfers: { resumeTimeout: 20_000 } } }

  it('resumes over another path (connect() re-links) and verifies the whole content', async () => {
    // A–B–C and A–D–C; no WebRTC, so A↔C can only be a circuit
    const nodes = await startGraph([member, member, member, member], [[0, 1], [1, 2], [0, 3], [3, 2]])
    const [a, b, c, d] = nodes
    try {
      await waitFor(() => a.services.networkMap.path(c.peerId) != null && a.services.networkMap.edges().length >= 4, 'map knows both paths', 20_000)
      const { kind } = await a.services.meshCircuits.connect(c.peerId, { route: [b.peerId], webrtc: false })
      assert.equal(kind, 'circuit')
      const size = 24 * MiB
      const sent = new ContentHasher()
      const received = receiveOne(c, 'resumable')
      let killed: Promise<void> | undefined
      const result = await a.services.transfers.send(c.peerId, 'resumable', randomSource(size, sent), {
        size,
        onProgress: ({ bytes }) => { if (bytes >= 6 * MiB && killed == null) { killed = Promise.resolve(b.stop()) } }
      })
      await killed
      const got = await received
      assert.equal(got.error, undefined)
      assert.ok(result.resumes >= 1, 'resumed at least once')
      assert.equal(linkKind(result.connection), 'circuit')
      assert.ok(!a.getConnections(c.peerId).some(conn => conn.remoteAddr.toString().includes(b.peerId.toString())), 'the circuit through B is gone')
      const expected = uint8ArrayToString(await sent.digest(), 'base16')
      assert.equal(result.digest, expected)
      assert.equal(got.digest, expected)
      assert.equal(got.bytes, size)
      assert.ok(c.services.transfers.stats().resumesAccepted >= 1)
      void d
    } finally {
      await stopAll(...nodes)
    }
  })

  it('fails clearly on both ends when no other path exists', async () => {
    const short = { noWebRTC: true, options: { meshCircuits: circuit, transfers: { resumeTimeout: 3000 } } }
    const nodes = await startLine(3, [short, short, short])
    const [a, b, c] = nodes
    try {
      await waitFor(() => a.services.networkMap.path(c.peerId) != null, 'map routes A→C', 20_000)
      const received = receiveOne(c, 'doomed')
      let killed: Promise<void> | undefined
      await assert.rejects(a.services.transfers.send(c.peerId, 'doomed', randomSource(64 * MiB, new ContentHasher()), {
        onProgress: ({ bytes }) => { if (bytes >= 2 * MiB && killed == null) { killed = Promise.resolve(b.stop()) } }
      }), (err: Error) => {
        assert.equal(err.name, 'TransferInterruptedError', `${err.name}: ${err.message}`)
        return true
      })
      await killed
      const got = await received
      assert.equal(got.error?.name, 'TransferInterruptedError')
      assert.equal(c.services.transfers.stats().incoming, 0)
    } finally {
      await stopAll(...nodes)
    }
  })
})
