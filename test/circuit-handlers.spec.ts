/**
 * The circuit hop and target handlers on their own: real protobuf bytes over
 * in-memory stream pairs, the neighbours' links stood in for by minimal
 * connection objects whose streams are the other ends of those pairs.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pbStream, RateLimiter, streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_RELAY_LIMIT, DEFAULT_SIGNALING_LIMIT, MALFORMED_REQUEST_PENALTY } from '../src/circuit/constants.js'
import { handleCircuitStream } from '../src/circuit/inbound.js'
import { CircuitRequest, CircuitResponse } from '../src/circuit/pb/circuit.js'
import { CircuitSlots } from '../src/circuit/slots.js'
import { peerIdFromBytes } from '../src/circuit/wire.js'
import { waitFor } from './fixtures/wait.js'
import type { CircuitNode } from '../src/circuit/context.js'
import type { Connection, MultiaddrConnection, PeerId, Stream, Upgrader } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

/** A link to `peer` whose next stream is `stream` (the near end of a stream pair) */
function linkTo (peer: PeerId, stream?: Stream): Connection {
  return {
    remotePeer: peer,
    remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${peer}`),
    status: 'open',
    limits: undefined,
    timeline: { open: Date.now() },
    streams: [],
    newStream: async () => {
      if (stream == null) {
        throw new Error('no stream expected')
      }
      return stream
    }
  } as unknown as Connection
}

interface Harness {
  node: CircuitNode
  upgraded: MultiaddrConnection[]
}

function harness (self: PeerId, links: Connection[], log: Stream['log'], overrides: Partial<CircuitNode> = {}): Harness {
  const upgraded: MultiaddrConnection[] = []
  const upgrader = {
    upgradeInbound: async (maConn: MultiaddrConnection) => { upgraded.push(maConn) },
    upgradeOutbound: async () => { throw new Error('not used') }
  } as unknown as Upgrader
  const connectionManager = {
    getConnections: (peer?: PeerId) => links.filter(c => peer == null || c.remotePeer.equals(peer))
  } as unknown as ConnectionManager
  const node: CircuitNode = {
    peerId: self,
    connectionManager,
    upgrader,
    log,
    slots: new CircuitSlots({ maxCircuits: 4, maxCircuitsPerPeer: 2, maxRelayCircuits: 1 }),
    rateLimiter: new RateLimiter({ points: 20, duration: 60 }),
    maxHops: 3,
    signalingLimit: DEFAULT_SIGNALING_LIMIT,
    relayLimit: DEFAULT_RELAY_LIMIT,
    requestTimeout: 2000,
    responseTimeout: 2000,
    shutdown: new AbortController().signal,
    path: () => undefined,
    ...overrides
  }
  return { node, upgraded }
}

function request (target: PeerId, path: PeerId[], extra: Partial<CircuitRequest> = {}): CircuitRequest {
  return {
    target: target.toMultihash().bytes,
    route: [],
    path: path.map(p => p.toMultihash().bytes),
    hops: 0,
    maxHops: 6,
    mode: CircuitRequest.Mode.SIGNALING,
    ...extra
  }
}

/** Send `req` (or raw bytes) from the sender's end and return the handler's answer */
async function ask (node: CircuitNode, from: Connection, req: CircuitRequest | Uint8Array): Promise<{ response: CircuitResponse, local: Stream }> {
  const [local, remote] = await streamPair()
  const handled = handleCircuitStream(node, remote, from, { forwardRate: 20 })
  const messages = pbStream(local)
  if (req instanceof Uint8Array) {
    local.send(req)
  } else {
    await messages.write(req, CircuitRequest)
  }
  const response = await messages.read(CircuitResponse, { signal: AbortSignal.timeout(5000) })
  await handled
  return { response, local: messages.unwrap() }
}

describe('circuit target handler', { timeout: 30_000 }, () => {
  it('answers OK, hands the stream to the upgrader with the circuit address seen from here, and releases the slot when it ends', async () => {
    const [self, hop, opener] = await Promise.all([newPeer(), newPeer(), newPeer()])
    const [probe] = await streamPair()
    const { node, upgraded } = harness(self, [], probe.log)
    const { response, local } = await ask(node, linkTo(hop), request(self, [opener, hop], { hops: 1 }))
    assert.equal(response.status, CircuitResponse.Status.OK)
    assert.ok(peerIdFromBytes(response.from)?.equals(self))
    assert.equal(upgraded.length, 1)
    assert.equal(upgraded[0].remoteAddr.toString(), `/p2p/${hop}/membrane-circuit/p2p/${opener}`)
    assert.deepEqual(node.slots.stats(), { circuits: 1, relayCircuits: 0, forwarded: 0 })
    local.abort(new Error('opener left'))
    await waitFor(() => node.slots.stats().circuits === 0, 'slot released')
  })

  it('refuses a circuit with no relaying peer, one past the hop limit, and one past its slots', async () => {
    const [self, hop, opener] = await Promise.all([newPeer(), newPeer(), newPeer()])
    const [probe] = await streamPair()
    const { node, upgraded } = harness(self, [], probe.log, { slots: new CircuitSlots({ maxCircuits: 0, maxCircuitsPerPeer: 2, maxRelayCircuits: 1 }) })
    assert.equal((await ask(node, linkTo(opener), request(self, [opener]))).response.status, CircuitResponse.Status.MALFORMED)
    assert.equal((await ask(node, linkTo(hop), request(self, [opener, hop], { hops: 4 }))).response.status, CircuitResponse.Status.HOP_LIMIT)
    assert.equal((await ask(node, linkTo(hop), request(self, [opener, hop], { hops: 1 }))).response.status, CircuitResponse.Status.LIMIT_EXCEEDED)
    assert.equal(upgraded.length, 0)
    assert.equal(node.slots.stats().circuits, 0)
  })
})

describe('circuit hop handler', { timeout: 30_000 }, () => {
  it('forwards the request with itself appended to the path, passes the answer back, then splices bytes both ways', async () => {
    const [self, opener, target] = await Promise.all([newPeer(), newPeer(), newPeer()])
    const [toTarget, atTarget] = await streamPair()
    const { node } = harness(self, [linkTo(target, toTarget)], toTarget.log)

    // play the target: read the forwarded request, answer OK, echo one message
    const targetSide = (async () => {
      const messages = pbStream(atTarget)
      const forwarded = await messages.read(CircuitRequest, { signal: AbortSignal.timeout(5000) })
      await messages.write({ status: CircuitResponse.Status.OK, reason: '', from: target.toMultihash().bytes }, CircuitResponse)
      const raw = messages.unwrap()
      raw.addEventListener('message', (evt) => { raw.send(evt.data) })
      return forwarded
    })()

    const { response, local } = await ask(node, linkTo(opener), request(target, [opener]))
    assert.equal(response.status, CircuitResponse.Status.OK)
    assert.ok(peerIdFromBytes(response.from)?.equals(target), 'the far end\'s answer, unchanged')
    const forwarded = await targetSide
    assert.deepEqual(forwarded.path.map(p => peerIdFromBytes(p)?.toString()), [opener.toString(), self.toString()])
    assert.equal(forwarded.hops, 1)
    assert.equal(forwarded.maxHops, 3, 'the smaller of the opener\'s and the hop\'s limits')
    assert.deepEqual(node.slots.stats(), { circuits: 1, relayCircuits: 0, forwarded: 1 })

    const echoed = new Promise<Uint8Array>(resolve => local.addEventListener('message', (evt) => { resolve(evt.data.subarray()) }, { once: true }))
    local.send(Uint8Array.from([1, 2, 3]))
    assert.deepEqual(await echoed, Uint8Array.from([1, 2, 3]))
    local.abort(new Error('done'))
    await waitFor(() => node.slots.stats().circuits === 0, 'slot released once both sides ended')
  })

  it('refuses with a typed status when there is no link, the hop limit is reached, a loop, or the next peer answers garbage', async () => {
    const [self, opener, target, stranger] = await Promise.all([newPeer(), newPeer(), newPeer(), newPeer()])
    const [toTarget, atTarget] = await streamPair()
    const { node } = harness(self, [linkTo(target, toTarget)], toTarget.log)
    // never dials: no link to the stranger
    assert.equal((await ask(node, linkTo(opener), request(stranger, [opener]))).response.status, CircuitResponse.Status.NO_ROUTE)
    // relaying would cross more than maxHops (3)
    assert.equal((await ask(node, linkTo(opener), request(target, [opener], { hops: 3 }))).response.status, CircuitResponse.Status.HOP_LIMIT)
    // the route returns to the opener
    assert.equal((await ask(node, linkTo(opener), request(target, [opener], { route: [target.toMultihash().bytes, opener.toMultihash().bytes] }))).response.status, CircuitResponse.Status.LOOP)
    // the next peer answers with bytes that are no CircuitResponse (wire type 7)
    atTarget.addEventListener('message', () => { atTarget.send(Uint8Array.from([3, 0xff, 0xff, 0xff])) }, { once: true })
    assert.equal((await ask(node, linkTo(opener), request(target, [opener]))).response.status, CircuitResponse.Status.MALFORMED)
    assert.equal(node.slots.stats().circuits, 0, 'every refusal gave its slot back')
  })

  it('reports a next peer that never answers as TIMEOUT', async () => {
    const [self, opener, target] = await Promise.all([newPeer(), newPeer(), newPeer()])
    const [toTarget] = await streamPair()
    const { node } = harness(self, [linkTo(target, toTarget)], toTarget.log, { responseTimeout: 200 })
    assert.equal((await ask(node, linkTo(opener), request(target, [opener]))).response.status, CircuitResponse.Status.TIMEOUT)
    assert.equal(node.slots.stats().circuits, 0)
  })
})

describe('circuit request validation', { timeout: 30_000 }, () => {
  it('refuses peer id fields that are too long or not multihashes, without decoding them, and charges the sender', async () => {
    const [self, opener] = await Promise.all([newPeer(), newPeer()])
    const [probe] = await streamPair()
    const { node } = harness(self, [], probe.log)
    const from = linkTo(opener)
    const cases: Array<[string, Uint8Array<ArrayBuffer>]> = [
      ['4 KiB of 0xab', new Uint8Array(4000).fill(0xab)],
      ['an identity multihash longer than an inline key', Uint8Array.from([0x00, 60, ...new Uint8Array(60)])],
      ['a sha2-256 multihash of the wrong length', Uint8Array.from([0x12, 0x10, ...new Uint8Array(16)])],
      ['a length byte that disagrees with the field', Uint8Array.from([0x00, 0x24, 1, 2, 3])]
    ]
    for (const [what, target] of cases.slice(0, 3)) {
      const { response } = await ask(node, from, { ...request(self, [opener]), target })
      assert.equal(response.status, CircuitResponse.Status.MALFORMED, what)
    }
    assert.equal(node.rateLimiter.get(opener.toString())?.consumedPoints, 3 * MALFORMED_REQUEST_PENALTY)
    // a fourth uses up the 20-point budget; after that, refused unparsed
    assert.equal((await ask(node, from, { ...request(self, [opener]), target: cases[3][1] })).response.status, CircuitResponse.Status.MALFORMED)
    assert.equal((await ask(node, from, { ...request(self, [opener]), target: cases[0][1] })).response.status, CircuitResponse.Status.RATE_LIMITED)
  })

  it('accepts the peer id forms libp2p uses: inline Ed25519 and secp256k1 keys, sha2-256 of RSA keys', async () => {
    const ids = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('secp256k1'), generateKeyPair('RSA', 2048)].map(async k => peerIdFromPrivateKey(await k)))
    for (const id of ids) {
      assert.ok(peerIdFromBytes(id.toMultihash().bytes)?.equals(id), `${id.type} peer id`)
    }
  })
})
