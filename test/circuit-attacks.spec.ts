import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import { CIRCUIT_PROTOCOL, circuitAddress } from '../src/index.js'
import { CircuitRequest, CircuitResponse } from '../src/circuit/pb/circuit.js'
import { streamToConnection } from '../src/circuit/stream-to-conn.js'
import { startGraph } from './fixtures/line.js'
import { stopAll } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { Membrane } from '../src/index.js'
import type { Connection, Stream, Upgrader } from '@libp2p/interface'

type Attack = 'corrupt' | 'self' | 'impostor' | 'stall-request' | 'stall-after-ok'

/** Pipe two streams, flipping one bit in every chunk */
function corruptingPipe (x: Stream, y: Stream): void {
  const flip = (from: Stream, to: Stream): void => {
    from.addEventListener('message', (evt) => {
      const bytes = evt.data.subarray().slice()
      bytes[0] ^= 0x01
      if (to.writeStatus === 'writable') { to.send(bytes) }
    })
    from.addEventListener('close', () => { to.abort(new Error('other side closed')) })
  }
  flip(x, y)
  flip(y, x)
}

function plainPipe (x: Stream, y: Stream): void {
  x.addEventListener('message', (evt) => { if (y.writeStatus === 'writable') { y.send(evt.data) } })
  y.addEventListener('message', (evt) => { if (x.writeStatus === 'writable') { x.send(evt.data) } })
  x.addEventListener('close', () => { y.abort(new Error('closed')) })
  y.addEventListener('close', () => { x.abort(new Error('closed')) })
}

describe('mesh circuits under attack by a hop', () => {
  // 0 = A (opener), 1 = M (malicious hop), 2 = D (target), 3 = E (another honest peer)
  let nodes: Membrane[]
  let attack: Attack = 'corrupt'
  const held: Stream[] = []

  before(async () => {
    nodes = await startGraph([
      { options: { meshCircuits: { openTimeout: 3000 } } }, {}, {}, {}
    ], [[0, 1], [1, 2], [1, 3]])
    const [, m, d, e] = nodes
    const upgrader = (m as unknown as { components: { upgrader: Upgrader } }).components.upgrader
    await m.unhandle(CIRCUIT_PROTOCOL)
    await m.handle(CIRCUIT_PROTOCOL, async (stream: Stream, connection: Connection) => {
      const inbound = pbStream(stream)
      const request = await inbound.read(CircuitRequest)
      const ok = { status: CircuitResponse.Status.OK, reason: '', from: request.target }
      if (attack === 'stall-request') {
        held.push(stream)
        return
      }
      if (attack === 'stall-after-ok') {
        await inbound.write(ok, CircuitResponse)
        held.push(stream)
        return
      }
      if (attack === 'self') {
        // answer as if D accepted, then run Noise as M
        await inbound.write(ok, CircuitResponse)
        const maConn = streamToConnection({ stream: inbound.unwrap(), remoteAddr: circuitAddress([m.peerId], connection.remotePeer), log: stream.log })
        await upgrader.upgradeInbound(maConn, { signal: AbortSignal.timeout(5000) }).catch(() => {})
        return
      }
      // corrupt: the honest path to D; impostor: a circuit to E instead
      const to = attack === 'impostor' ? e : d
      const onward = await m.dialProtocol(to.peerId, CIRCUIT_PROTOCOL)
      const outbound = pbStream(onward)
      await outbound.write({ ...request, target: to.peerId.toMultihash().bytes, route: [], path: [...request.path, m.peerId.toMultihash().bytes], hops: 1 }, CircuitRequest)
      const response = await outbound.read(CircuitResponse)
      await inbound.write(response, CircuitResponse)
      if (attack === 'corrupt') {
        corruptingPipe(inbound.unwrap(), outbound.unwrap())
      } else {
        plainPipe(inbound.unwrap(), outbound.unwrap())
      }
    }, { runOnLimitedConnection: true })
  })

  after(async () => {
    for (const s of held) { s.abort(new Error('test over')) }
    await stopAll(...nodes)
  })

  const noLinkTo = (a: Membrane, ...peers: Membrane[]): void => {
    for (const p of peers) {
      assert.equal(a.getConnections(p.peerId).length, 0, `no connection from the opener to ${p.peerId}`)
    }
  }

  it('a hop that corrupts bytes: the Noise handshake fails, no connection, the target releases the circuit', async () => {
    const [a, m, d, e] = nodes
    attack = 'corrupt'
    await assert.rejects(a.services.meshCircuits.openCircuit(d.peerId, { route: [m.peerId] }), { name: 'CircuitUpgradeError' })
    noLinkTo(a, d, e)
    await waitFor(() => d.services.meshCircuits.stats().circuits === 0, 'target released the circuit', 10_000)
  })

  it('a hop that answers as the target itself: Noise rejects its key', async () => {
    const [a, m, d, e] = nodes
    attack = 'self'
    await assert.rejects(a.services.meshCircuits.connect(d.peerId, { route: [m.peerId] }), (err: Error) => {
      assert.equal(err.name, 'CircuitUpgradeError')
      assert.match(err.message, /does not match expected remote identity/)
      assert.ok(err.message.includes(m.peerId.toString()), 'the key presented was the hop\'s own')
      return true
    })
    noLinkTo(a, d, e)
    // the opener never holds a connection that claims to be D but is M
    assert.ok(a.getConnections(m.peerId).every(c => !c.remoteAddr.toString().includes('membrane-circuit')))
  })

  it('a hop that redirects to another peer posing as the target: Noise authenticates the real key and fails', async () => {
    const [a, m, d, e] = nodes
    attack = 'impostor'
    await assert.rejects(a.services.meshCircuits.connect(d.peerId, { route: [m.peerId] }), (err: Error) => {
      assert.equal(err.name, 'CircuitUpgradeError')
      assert.ok(err.message.includes(e.peerId.toString()), 'the impostor\'s key was presented and refused')
      return true
    })
    noLinkTo(a, d, e)
    await waitFor(() => e.services.meshCircuits.stats().circuits === 0, 'the impostor\'s end was released', 10_000)
  })

  it('a hop that never answers: a timeout error, not a hang', async () => {
    const [a, m, d] = nodes
    attack = 'stall-request'
    // the opener's deadline (openTimeout 3 s) ends it: a hang would fail the test by its own timeout
    await assert.rejects(a.services.meshCircuits.connect(d.peerId, { route: [m.peerId] }), { name: 'CircuitTimeoutError' })
    noLinkTo(a, d)
  })

  it('a hop that says OK and then swallows the handshake: a timeout error', async () => {
    const [a, m, d] = nodes
    attack = 'stall-after-ok'
    await assert.rejects(a.services.meshCircuits.openCircuit(d.peerId, { route: [m.peerId] }), { name: 'CircuitTimeoutError' })
    noLinkTo(a, d)
  })

  it('a first hop that does not speak the circuit protocol: a typed refusal (the selection travels with the request)', async () => {
    const [a, m, d] = nodes
    await m.unhandle(CIRCUIT_PROTOCOL)
    await assert.rejects(a.services.meshCircuits.openCircuit(d.peerId, { route: [m.peerId] }), (err: Error) => {
      assert.equal(err.name, 'CircuitRefusedError')
      assert.match(err.message, /does not relay mesh circuits/)
      return true
    })
    noLinkTo(a, d)
  })

  it('after all that, every node is still up and answering', async () => {
    const [a, m, d, e] = nodes
    // ping rejects when the peer does not answer
    await a.services.ping.ping(m.peerId)
    await m.services.ping.ping(d.peerId)
    await m.services.ping.ping(e.peerId)
    for (const node of nodes) {
      assert.equal(node.status, 'started')
    }
  })
})
