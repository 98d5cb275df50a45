import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pbStream } from '@libp2p/utils'
import { CIRCUIT_PROTOCOL } from '../src/index.js'
import { CircuitRequest, CircuitResponse } from '../src/circuit/pb/circuit.js'
import { startGraph } from './fixtures/line.js'
import { stopAll } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { Membrane } from '../src/index.js'
import type { Connection } from '@libp2p/interface'

const SINK = '/test/sink/1.0.0'

describe('mesh circuit limits and bad input', () => {
  // 0 = A, 1 = A2 (a second neighbour of B), 2 = B (the limited hop), 3 = C, 4 = D
  let nodes: Membrane[]
  const open: Connection[] = []

  before(async () => {
    nodes = await startGraph([
      {},
      {},
      {
        options: {
          meshCircuits: {
            maxCircuitsPerPeer: 2,
            maxCircuits: 3,
            maxRelayCircuits: 1,
            forwardRate: 20,
            signalingLimit: { bytes: 64 * 1024, duration: 4000 }
          }
        }
      },
      { options: { meshCircuits: { maxHops: 1 } } },
      {}
    ], [[0, 2], [1, 2], [2, 3], [3, 4]])
    await nodes[3].handle(SINK, async (stream) => {
      stream.addEventListener('message', () => {})
      await new Promise(resolve => stream.addEventListener('close', resolve, { once: true }))
    }, { runOnLimitedConnection: true })
  })

  after(async () => {
    await stopAll(...nodes)
  })

  const closeAll = async (): Promise<void> => {
    await Promise.all(open.splice(0).map(async c => c.close().catch(() => {})))
    await waitFor(() => nodes[2].services.meshCircuits.stats().circuits === 0, 'B released its circuits', 10_000)
  }
  afterEach(closeAll)

  /** Send one raw request from `from` (A unless given) to B and read the answer */
  const rawRequest = async (request: Partial<CircuitRequest> | Uint8Array, from: Membrane = nodes[0]): Promise<CircuitResponse> => {
    const b = nodes[2]
    const stream = await from.dialProtocol(b.peerId, CIRCUIT_PROTOCOL)
    if (request instanceof Uint8Array) {
      stream.send(request)
    } else {
      await pbStream(stream).write({
        target: nodes[4].peerId.toMultihash().bytes,
        route: [],
        path: [from.peerId.toMultihash().bytes],
        hops: 0,
        maxHops: 6,
        mode: CircuitRequest.Mode.SIGNALING,
        ...request
      }, CircuitRequest)
    }
    const response = await pbStream(stream).read(CircuitResponse, { signal: AbortSignal.timeout(5000) })
    stream.abort(new Error('done'))
    return response
  }

  it('circuits per peer: the third concurrent circuit from one neighbour is refused', async () => {
    const [a, , b, c] = nodes
    open.push(await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }))
    open.push(await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }))
    assert.ok(open.every(conn => conn.limits != null), 'signaling circuits are limited connections')
    await assert.rejects(a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }), (err: Error) => {
      assert.equal(err.name, 'CircuitLimitError')
      assert.match(err.message, /already has 2 circuits/)
      return true
    })
    await closeAll()
  })

  it('total circuits: a hop carrying its limit refuses any neighbour', async () => {
    const [a, a2, b, c] = nodes
    // spread over sources and next hops so no per-peer limit (2) is reached first
    open.push(await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }))
    open.push(await a.services.meshCircuits.openCircuit(a2.peerId, { route: [b.peerId] }))
    open.push(await a2.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }))
    await assert.rejects(a2.services.meshCircuits.openCircuit(a.peerId, { route: [b.peerId] }), (err: Error) => {
      assert.equal(err.name, 'CircuitLimitError')
      assert.match(err.message, /limit of 3 circuits/)
      return true
    })
    await closeAll()
  })

  it('relay circuits: beyond the hop\'s relay limit, refused', async () => {
    const [a, , b, c] = nodes
    const relay = await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId], mode: 'relay' })
    open.push(relay)
    assert.equal(relay.limits, undefined)
    await assert.rejects(a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId], mode: 'relay' }), (err: Error) => {
      assert.equal(err.name, 'CircuitLimitError')
      assert.match(err.message, /relay circuits/)
      return true
    })
    await closeAll()
  })

  it('max hops: a hop whose limit the path would exceed refuses', async () => {
    const [a, , b, c, d] = nodes
    await assert.rejects(a.services.meshCircuits.openCircuit(d.peerId, { route: [b.peerId, c.peerId] }), (err: Error) => {
      assert.equal(err.name, 'HopLimitError')
      assert.ok(err.message.includes(c.peerId.toString()), 'refused by C')
      return true
    })
    // the opener refuses a route longer than its own limit before sending anything
    await assert.rejects(a.services.meshCircuits.openCircuit(d.peerId, { route: Array.from({ length: 7 }, () => b.peerId) }), { name: 'CircuitLoopError' })
    await closeAll()
  })

  it('no route: a hop never dials a peer it is not connected to', async () => {
    const [a, , b, , d] = nodes
    // a peer nobody is linked to and no map knows: B refuses rather than dial
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await assert.rejects(a.services.meshCircuits.openCircuit(stranger, { route: [b.peerId] }), (err: Error) => {
      assert.equal(err.name, 'NoRouteError')
      assert.ok(err.message.includes(b.peerId.toString()))
      return true
    })
    assert.equal(b.getConnections(stranger).length, 0)
    // D is not B's neighbour: B routes through its map (via C, whose maxHops of 1
    // refuses) and never dials D itself
    await assert.rejects(a.services.meshCircuits.openCircuit(d.peerId, { route: [b.peerId] }), (err: Error) => {
      assert.ok(['NoRouteError', 'HopLimitError'].includes(err.name), `typed refusal, got ${err.name}`)
      return true
    })
    assert.equal(b.getConnections(d.peerId).length, 0)
    // without a route, connect() asks the network map, whose path crosses C: refused, never a connection
    await assert.rejects(a.services.meshCircuits.connect(d.peerId), (err: Error) => {
      assert.ok(['NoRouteError', 'HopLimitError'].includes(err.name), `typed refusal, got ${err.name}`)
      return true
    })
    assert.equal(a.getConnections(d.peerId).length, 0)
  })

  it('signaling byte budget: the hop cuts a circuit that carries more than its limit', async () => {
    const [a, , b, c] = nodes
    const conn = await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] })
    const stream = await conn.newStream(SINK, { runOnLimitedConnection: true })
    const chunk = new Uint8Array(16 * 1024)
    for (let i = 0; i < 8 && stream.writeStatus === 'writable'; i++) {
      if (!stream.send(chunk)) {
        await stream.onDrain({ signal: AbortSignal.timeout(5000) }).catch(() => {})
      }
    }
    await waitFor(() => conn.status !== 'open', 'circuit cut after 64 KiB', 10_000)
    await waitFor(() => b.services.meshCircuits.stats().circuits === 0, 'B released it', 10_000)
  })

  it('signaling lifetime: the hop cuts a circuit after its duration', async () => {
    const [a, , b, c] = nodes
    const conn = await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] })
    const opened = Date.now()
    await waitFor(() => conn.status !== 'open', 'circuit cut after 4 s', 10_000)
    assert.ok(Date.now() - opened >= 3500, 'not before its lifetime')
    await closeAll()
  })

  it('bad requests get typed refusals, cost their sender its budget, and the hop keeps working', async () => {
    const [a, a2, b, c] = nodes
    // bad input comes from A2, so A's budget is left for the honest circuit at the end
    const from = a2
    // loops are refused without a penalty
    assert.equal((await rawRequest({ path: [b.peerId.toMultihash().bytes, from.peerId.toMultihash().bytes] }, from)).status, CircuitResponse.Status.LOOP)
    assert.equal((await rawRequest({ route: [c.peerId.toMultihash().bytes, from.peerId.toMultihash().bytes] }, from)).status, CircuitResponse.Status.LOOP)
    // each malformed request costs MALFORMED_REQUEST_PENALTY (5) of the 20-point budget
    const malformed: Array<Partial<CircuitRequest> | Uint8Array> = [
      // invalid protobuf (wire type 7)
      Uint8Array.from([3, 0xff, 0xff, 0xff]),
      // a target that is not a peer id
      { target: Uint8Array.from([1, 2, 3]) },
      // a path that does not end with the sender
      { path: [c.peerId.toMultihash().bytes] },
      // too many path entries
      { path: Array.from({ length: 9 }, () => from.peerId.toMultihash().bytes) }
    ]
    for (const request of malformed) {
      assert.equal((await rawRequest(request, from)).status, CircuitResponse.Status.MALFORMED)
    }
    // now past its budget: refused before its request is parsed, whatever it sends
    const later: Array<Partial<CircuitRequest> | Uint8Array> = [
      // oversize: a length prefix of 100 000 bytes
      Uint8Array.from([0xa0, 0x8d, 0x06, 1, 2, 3]),
      // an empty request: no target
      Uint8Array.from([0]),
      // an honest-looking request
      { target: c.peerId.toMultihash().bytes }
    ]
    for (const request of later) {
      assert.equal((await rawRequest(request, from)).status, CircuitResponse.Status.RATE_LIMITED)
    }
    await assert.rejects(from.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] }), { name: 'CircuitRateLimitError' })
    // silence: the hop drops the stream at its request deadline (5 s)
    const silent = await a.dialProtocol(b.peerId, CIRCUIT_PROTOCOL)
    await waitFor(() => silent.status !== 'open', 'silent stream dropped', 10_000)
    // still relays an honest circuit from another neighbour
    const conn = await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] })
    assert.ok(conn.remotePeer.equals(c.peerId))
    open.push(conn)
    await closeAll()
  })

  it('forwarding rate: a neighbour that asks too often is refused', async () => {
    const [a, , b, c] = nodes
    let refused: Error | undefined
    let opened = 0
    for (let i = 0; i < 25 && refused == null; i++) {
      try {
        const conn = await a.services.meshCircuits.openCircuit(c.peerId, { route: [b.peerId] })
        opened++
        await conn.close()
        await waitFor(() => b.services.meshCircuits.stats().circuits === 0, 'released', 10_000)
      } catch (err) {
        refused = err as Error
      }
    }
    assert.equal(refused?.name, 'CircuitRateLimitError')
    assert.ok(opened > 0, 'honest circuits opened before the limit')
  })
})
