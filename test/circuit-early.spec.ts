/**
 * The opener's early handshake (`earlyHandshake`, the default): the
 * encrypter's selection and Noise's first message travel right behind the
 * circuit request, before the far end has answered. Real libp2p nodes over
 * the in-memory transport, A — B — C; where a test needs to see what the
 * opener sent before any answer, the first hop's circuit handler is replaced
 * by one that reads it.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { memory } from '@libp2p/memory'
import { byteStream, pbStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { fromString } from 'uint8arrays/from-string'
import { CIRCUIT_PROTOCOL, CircuitRefusedError, CircuitUpgradeError, meshCircuits, meshCircuitTransport } from '../src/circuit/index.js'
import { CircuitRequest, CircuitResponse } from '../src/circuit/pb/circuit.js'
import { observationWindow } from './fixtures/wait.js'
import type { MeshCircuitsService } from '../src/circuit/index.js'
import type { Libp2p, Stream } from '@libp2p/interface'

type Node = Libp2p<{ meshCircuits: MeshCircuitsService }>

let counter = 0
async function startNode (earlyHandshake = true): Promise<Node> {
  return createLibp2p({
    addresses: { listen: [`/memory/circuit-early-${process.pid}-${counter++}`] },
    transports: [memory(), meshCircuitTransport({ earlyHandshake })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { meshCircuits: meshCircuits() }
  })
}

/** One length-prefixed multistream-select line */
function lp (text: string): Uint8Array {
  const body = fromString(text)
  return new Uint8ArrayList(Uint8Array.of(body.byteLength), body).subarray()
}
const SELECTION = new Uint8ArrayList(lp('/multistream/1.0.0\n'), lp('/noise\n')).subarray()

/** Replace `node`'s circuit handler with `handler`, which gets the stream after the request was read */
async function replaceHandler (node: Node, handler: (request: CircuitRequest, stream: Stream, rest: Uint8ArrayList) => Promise<void>): Promise<void> {
  await node.unhandle(CIRCUIT_PROTOCOL)
  await node.handle(CIRCUIT_PROTOCOL, (stream) => {
    void (async () => {
      const messages = pbStream(stream)
      const request = await messages.read(CircuitRequest)
      await handler(request, messages.unwrap(), new Uint8ArrayList())
    })().catch(err => { stream.abort(err) })
  }, { runOnLimitedConnection: true })
}

const refusal = (status: CircuitResponse.Status): Uint8Array => {
  const body = CircuitResponse.encode({ status, reason: 'test', from: new Uint8Array() })
  return new Uint8ArrayList(Uint8Array.of(body.byteLength), body).subarray()
}

describe('circuit early handshake', () => {
  let nodes: Node[] = []

  afterEach(async () => {
    await Promise.all(nodes.map(async n => n.stop()))
    nodes = []
  })

  async function line (earlyHandshake: boolean): Promise<[Node, Node, Node]> {
    const [a, b, c] = [await startNode(earlyHandshake), await startNode(), await startNode()]
    nodes = [a, b, c]
    await a.dial(b.getMultiaddrs()[0])
    await b.dial(c.getMultiaddrs()[0])
    return [a, b, c]
  }

  it('sends the encrypter selection and Noise\'s first message before the circuit is answered; a refusal after them is still typed', async () => {
    const [a, b, c] = await line(true)
    let before: Uint8Array | undefined
    await replaceHandler(b, async (_request, stream) => {
      // read, without answering, the selection and one whole Noise message (2-byte length + body)
      const bytes = byteStream(stream)
      const signal = AbortSignal.timeout(10_000)
      const selection = await bytes.read({ bytes: SELECTION.byteLength, signal })
      const length = await bytes.read({ bytes: 2, signal })
      const body = await bytes.read({ bytes: new DataView(length.subarray().buffer, length.subarray().byteOffset).getUint16(0), signal })
      before = new Uint8ArrayList(selection, length, body).subarray()
      const raw = bytes.unwrap()
      raw.send(refusal(CircuitResponse.Status.TARGET_REFUSED))
      await raw.close()
    })
    await assert.rejects(a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }), CircuitRefusedError)
    assert.ok(before != null, 'the target read the early bytes')
    assert.deepEqual(before.subarray(0, SELECTION.byteLength), SELECTION)
    // an XX first message: the initiator's 32-byte ephemeral key
    assert.equal(new DataView(before.buffer, before.byteOffset + SELECTION.byteLength).getUint16(0), 32)
  })

  it('with earlyHandshake: false nothing follows the request until the circuit is answered', async () => {
    const [a, b, c] = await line(false)
    let afterRequest = -1
    await replaceHandler(b, async (_request, stream) => {
      let bytes = 0
      const count = (evt: { data: { byteLength: number } }): void => { bytes += evt.data.byteLength }
      stream.addEventListener('message', count)
      await observationWindow(500)
      afterRequest = bytes
      stream.send(refusal(CircuitResponse.Status.TARGET_REFUSED))
      await stream.close()
    })
    await assert.rejects(a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }), CircuitRefusedError)
    assert.equal(afterRequest, 0)
  })

  it('a target that answers the selection with na fails the circuit with CircuitUpgradeError', async () => {
    const [a, b, c] = await line(true)
    await replaceHandler(c, async (_request, stream) => {
      const ok = CircuitResponse.encode({ status: CircuitResponse.Status.OK, reason: '', from: c.peerId.toMultihash().bytes })
      stream.send(new Uint8ArrayList(Uint8Array.of(ok.byteLength), ok, lp('/multistream/1.0.0\n'), lp('na\n')))
    })
    await assert.rejects(a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }), CircuitUpgradeError)
  })

  it('opens an authenticated Noise connection through a real hop and target, the early way and the sequential way alike', async () => {
    for (const early of [true, false]) {
      const [a, b, c] = await line(early)
      const connection = await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId], mode: 'relay' })
      assert.equal(connection.remotePeer.toString(), c.peerId.toString())
      assert.equal(connection.encryption, '/noise')
      assert.equal(connection.multiplexer, '/yamux/1.0.0')
      await Promise.all(nodes.map(async n => n.stop()))
      nodes = []
    }
  })
})
