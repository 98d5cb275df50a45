// The transfer protocol's two sides over an in-memory stream pair, with real protobuf bytes
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream, streamPair } from '@libp2p/utils'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { contentHash } from '../src/transfers/hash.js'
import { Accept, Chunk, Control, Offer } from '../src/transfers/pb/transfers.js'
import { DefaultTransfers } from '../src/transfers/transfers.js'
import { waitFor } from './fixtures/wait.js'
import type { IncomingTransfer, TransfersComponents, TransfersInit } from '../src/transfers/index.js'
import type { PeerId, Stream } from '@libp2p/interface'

// serve() and sendOver() use only the logger; registrar and connection manager matter once started
function service (init: TransfersInit = {}): DefaultTransfers {
  return new DefaultTransfers({ logger: defaultLogger() } as unknown as TransfersComponents, init)
}

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

function randomBytes (n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)))
  }
  return out
}

async function collect (transfer: IncomingTransfer): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of transfer.source) {
    parts.push(chunk)
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

/** The receiver's outcome for the next transfer under `name` */
function receive (receiver: DefaultTransfers, name: string, consume: (t: IncomingTransfer) => Promise<unknown> = collect): Promise<{ transfer: IncomingTransfer, result: unknown, error?: Error }> {
  return new Promise(resolve => {
    const remove = receiver.handle(name, async (transfer) => {
      remove()
      try {
        resolve({ transfer, result: await consume(transfer) })
      } catch (err) {
        resolve({ transfer, result: undefined, error: err as Error })
        throw err
      }
    })
  })
}

const DATA_FRAME = (data: Uint8Array): Uint8Array => Chunk.encode({ kind: Chunk.Kind.DATA, data: data as Uint8Array<ArrayBuffer>, digest: new Uint8Array(0), size: 0n, reason: '' })

/** A hand-driven sender: writes an offer and returns the framed stream */
async function rawOffer (stream: Stream, name: string, size?: number): Promise<{ lp: ReturnType<typeof lpStream>, accept: Accept }> {
  const lp = lpStream(stream)
  await lp.write(Offer.encode({ id: crypto.getRandomValues(new Uint8Array(16)), name, size: size == null ? undefined : BigInt(size), resume: false, meta: new Uint8Array(0) }))
  const accept = Accept.decode(await lp.read({ signal: AbortSignal.timeout(5000) }))
  return { lp, accept }
}

describe('transfer protocol over a stream pair', () => {
  it('streams 3 MB with progress on both ends and a verified content hash', async () => {
    const sender = service()
    const receiver = service()
    const data = randomBytes(3 * 1024 * 1024 + 123)
    const senderProgress: number[] = []
    const receiverProgress: number[] = []
    const received = receive(receiver, 'blob', async (t) => {
      t.addEventListener('progress', ({ detail }) => receiverProgress.push(detail.bytes))
      return collect(t)
    })
    const [outbound, inbound] = await streamPair()
    const served = receiver.serve(inbound, await peer())
    const sent = sender.sendOver(outbound, 'blob', new Blob([data as Uint8Array<ArrayBuffer>]), { onProgress: ({ bytes }) => senderProgress.push(bytes), meta: new TextEncoder().encode('a.bin') })
    const { transfer, result, error } = await received
    assert.equal(error, undefined)
    const digest = await sent
    await served
    assert.deepEqual(result, data)
    assert.equal(digest, uint8ArrayToString(await contentHash(data), 'base16'))
    assert.equal(transfer.size, data.byteLength)
    assert.equal(new TextDecoder().decode(transfer.meta), 'a.bin')
    assert.equal(senderProgress.at(-1), data.byteLength)
    assert.ok(senderProgress.length > 10)
    assert.equal(receiverProgress.at(-1), data.byteLength)
    assert.ok(receiverProgress.every((b, i) => i === 0 || b > receiverProgress[i - 1]))
    assert.equal(receiver.stats().transfersReceived, 1)
  })

  it('a receiver that never reads holds the sender to its window: nothing more is sent or buffered', async () => {
    const window = 256 * 1024
    const sender = service({ windowSize: window })
    const receiver = service({ windowSize: window })
    let reading: IncomingTransfer | undefined
    receiver.handle('stuck', async (transfer) => { reading = transfer; await new Promise(() => {}) })
    const [outbound, inbound] = await streamPair()
    void receiver.serve(inbound, await peer())
    const controller = new AbortController()
    // an endless source: only credit stops it
    const endless = (async function * () { while (true) { yield randomBytes(65536) } })()
    const sent = sender.sendOver(outbound, 'stuck', endless, { signal: controller.signal })
    await waitFor(() => sender.stats().bytesSent >= window - 65536, 'the sender fills its window')
    const at = sender.stats().bytesSent
    // a stated window of 1 s in which nothing more may be sent
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.equal(sender.stats().bytesSent, at)
    assert.ok(at <= window, `sent ${at} > window ${window}`)
    assert.ok(sender.stats().maxRetained <= window)
    assert.ok(receiver.stats().maxBuffered <= window)
    assert.ok(reading != null)
    controller.abort(new Error('enough'))
    await assert.rejects(sent, /enough/)
    await waitFor(() => receiver.stats().transfersFailed === 1, 'the receiver learns of the cancel')
  })

  it('refuses an announced size above maxSize before any data, and stops an unannounced one at the limit', async () => {
    const sender = service()
    const receiver = service()
    receiver.handle('small', async (t) => { await collect(t) }, { maxSize: 100_000 })
    const [out1, in1] = await streamPair()
    void receiver.serve(in1, await peer())
    await assert.rejects(sender.sendOver(out1, 'small', new Uint8Array(100_001)), { name: 'TransferTooLargeError' })
    assert.equal(sender.stats().bytesSent, 0)
    const [out2, in2] = await streamPair()
    void receiver.serve(in2, await peer())
    await assert.rejects(sender.sendOver(out2, 'small', [new Uint8Array(60_000), new Uint8Array(60_000)]), { name: 'TransferTooLargeError' })
  })

  it('resets the stream on a malformed frame, counts it, and fails the receiver\'s source with a typed error', async () => {
    const receiver = service()
    const received = receive(receiver, 'x')
    const [outbound, inbound] = await streamPair()
    const served = receiver.serve(inbound, await peer())
    const { lp, accept } = await rawOffer(outbound, 'x')
    assert.equal(accept.status, Accept.Status.OK)
    // the data field claims 32 bytes, the frame holds one
    await lp.write(Uint8Array.from([0x08, 0x00, 0x12, 0x20, 0x61]))
    const { error } = await received
    await served
    assert.equal(error?.name, 'MalformedTransferError')
    assert.equal(receiver.stats().malformedFrames, 1)
    assert.equal(inbound.status, 'aborted')
  })

  it('treats a sender that exceeds its credit as malformed', async () => {
    const window = 128 * 1024
    const receiver = service({ windowSize: window })
    const received = receive(receiver, 'x', async () => new Promise(() => {}))
    const [outbound, inbound] = await streamPair()
    const served = receiver.serve(inbound, await peer())
    const { lp } = await rawOffer(outbound, 'x')
    for (let i = 0; i < 4; i++) {
      await lp.write(DATA_FRAME(new Uint8Array(65536))).catch(() => {})
    }
    await served
    assert.equal(receiver.stats().malformedFrames, 1)
    assert.equal(inbound.status, 'aborted')
    void received
  })

  it('a hostile receiver\'s malformed answer is a typed error and a reset stream', async () => {
    const [outbound, inbound] = await streamPair()
    void (async () => {
      const lp = lpStream(inbound)
      await lp.read()
      await lp.write(Uint8Array.from([0x10, 0x80]))
    })()
    await assert.rejects(service().sendOver(outbound, 'x', new Uint8Array(10)), { name: 'MalformedTransferError' })
    assert.equal(outbound.status, 'aborted')
  })

  it('cuts off a sender that stalls with credit open at the idle deadline', async () => {
    const receiver = service({ idleTimeout: 300 })
    const received = receive(receiver, 'x')
    const [outbound, inbound] = await streamPair()
    const served = receiver.serve(inbound, await peer())
    const { lp } = await rawOffer(outbound, 'x', 1_000_000)
    await lp.write(DATA_FRAME(new Uint8Array(1000)))
    const { error } = await received
    await served
    assert.equal(error?.name, 'TransferTimeoutError')
    assert.equal(receiver.stats().stalledSenders, 1)
    // the sender is told why
    const control = Control.decode(await lp.read({ signal: AbortSignal.timeout(5000) }))
    assert.equal(control.kind, Control.Kind.CANCEL)
  })

  it('fails the receiver\'s source (and tells the sender) when the content hash does not match', async () => {
    const receiver = service()
    const received = receive(receiver, 'x')
    const [outbound, inbound] = await streamPair()
    const served = receiver.serve(inbound, await peer())
    const { lp } = await rawOffer(outbound, 'x')
    const data = randomBytes(70_000)
    await lp.write(DATA_FRAME(data.subarray(0, 65536)))
    await lp.write(DATA_FRAME(data.subarray(65536)))
    const wrong = await contentHash(randomBytes(70_000))
    await lp.write(Chunk.encode({ kind: Chunk.Kind.END, data: new Uint8Array(0), digest: wrong as Uint8Array<ArrayBuffer>, size: 70_000n, reason: '' }))
    const { error } = await received
    await served
    assert.equal(error?.name, 'TransferIntegrityError')
    let control: Control
    do {
      control = Control.decode(await lp.read({ signal: AbortSignal.timeout(5000) }))
    } while (control.kind === Control.Kind.ACK)
    assert.equal(control.kind, Control.Kind.INTEGRITY)
  })

  it('is cancelled by the receiver leaving its loop: the sender gets TransferCancelledError', async () => {
    const sender = service()
    const receiver = service()
    receiver.handle('x', async (transfer) => {
      for await (const _chunk of transfer.source) {
        break
      }
    })
    const [outbound, inbound] = await streamPair()
    void receiver.serve(inbound, await peer())
    await assert.rejects(sender.sendOver(outbound, 'x', randomBytes(8 * 1024 * 1024)), (err: Error) => err.name === 'TransferCancelledError' && /stopped reading/.test(err.message))
  })

  it('is cancelled by the sender\'s signal: the receiver\'s source throws TransferCancelledError', async () => {
    const sender = service()
    const receiver = service()
    const received = receive(receiver, 'x')
    const [outbound, inbound] = await streamPair()
    void receiver.serve(inbound, await peer())
    const controller = new AbortController()
    const sent = sender.sendOver(outbound, 'x', randomBytes(16 * 1024 * 1024), {
      signal: controller.signal,
      onProgress: ({ bytes }) => { if (bytes > 1024 * 1024) { controller.abort(new Error('user cancelled')) } }
    })
    await assert.rejects(sent, /user cancelled/)
    const { error } = await received
    assert.equal(error?.name, 'TransferCancelledError')
    assert.match(error?.message ?? '', /user cancelled/)
  })
})
