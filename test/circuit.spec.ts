import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { CIRCUIT_PROTOCOL, isCircuitAddress } from '../src/index.js'
import { startLine } from './fixtures/line.js'
import { startBootstrap, stopAll, tcpAddress } from './fixtures/nodes.js'
import { delay, waitFor } from './fixtures/wait.js'
import { multiaddr } from '@multiformats/multiaddr'
import type { Membrane } from '../src/index.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'

describe('connect(): peer-signaled WebRTC over mesh circuits', () => {
  let boot: BootstrapPeer
  let line: Membrane[]

  before(async () => {
    // first contact through a bootstrap peer, then a line 0–1–2–3–4–5 that is the only possible topology
    boot = await startBootstrap()
    line = await startLine(6, [], [boot.peerId])
    for (const node of line) {
      await node.dial(multiaddr(tcpAddress(boot)))
      // stay under libp2p's inbound connection rate limit per host (5/s)
      await delay(250)
    }
    await boot.stop()
    await waitFor(() => line.every(n => n.getConnections(boot.peerId).length === 0), 'bootstrap gone')
  })

  after(async () => {
    await stopAll(...line, boot)
  })

  it('the gater allows only adjacent TCP links', async () => {
    await assert.rejects(line[0].dial(multiaddr(tcpAddress(line[2]))))
    assert.equal(line[0].getConnections(line[2].peerId).length, 0)
  })

  for (const hops of [1, 2, 3, 4]) {
    it(`opens a direct WebRTC link across ${hops} intermediate hop(s), signaled by the hops, with the bootstrap peer gone`, async () => {
      const a = line[0]
      const d = line[hops + 1]
      const intermediaries = line.slice(1, hops + 1)
      const forwardedBefore = intermediaries.map(n => n.services.circuit.stats().forwarded)
      const events: string[] = []
      const attempts: number[] = []
      const { connection, kind } = await a.services.circuit.connect(d.peerId, {
        route: intermediaries.map(n => n.peerId),
        onProgress: (evt) => {
          events.push(evt.type)
          if (evt.type === 'signaling') {
            attempts.push((evt.detail as { attempt: number }).attempt)
          }
        }
      })
      assert.equal(kind, 'webrtc')
      assert.ok(connection.remotePeer.equals(d.peerId))
      assert.ok(WebRTC.exactMatch(connection.remoteAddr), `direct WebRTC address, got ${connection.remoteAddr}`)
      // exact order, allowing for retries: each attempt signals once (reopening the circuit
      // first if it was lost), numbered 1, 2, …; the last one connects
      const ours = events.filter(e => ['route', 'circuit', 'noise', 'signaling', 'webrtc'].includes(e)).join(',')
      assert.match(ours, /^route,circuit,noise,signaling(,(circuit,noise,)?signaling)*,webrtc$/)
      assert.deepEqual(attempts, attempts.map((_, i) => i + 1))
      // every intermediary forwarded exactly one circuit: the signaling went through them
      assert.deepEqual(intermediaries.map(n => n.services.circuit.stats().forwarded), forwardedBefore.map(f => f + 1))
      // the circuit closes once the direct link is up; the link carries data
      await waitFor(() => a.getConnections(d.peerId).every(c => !isCircuitAddress(c.remoteAddr)), 'circuit closed', 10_000)
      await waitFor(() => intermediaries.every(n => n.services.circuit.stats().circuits === 0), 'hops released the circuit', 10_000)
      // ping rejects unless the link carries data both ways
      await a.services.ping.ping(d.peerId)
      assert.ok(a.getConnections(d.peerId).every(c => WebRTC.exactMatch(c.remoteAddr)), 'only the WebRTC link remains')
      await connection.close()
    })
  }
})

describe('connect(): relay fallback when the target has no WebRTC', () => {
  let line: Membrane[]
  const ECHO = '/test/echo/1.0.0'

  before(async () => {
    line = await startLine(3, [{}, {}, { noWebRTC: true }])
    await line[2].handle(ECHO, async (stream) => {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) {
          await stream.onDrain()
        }
      }
      await stream.close()
    })
  })

  after(async () => {
    await stopAll(...line)
  })

  it('keeps an end-to-end encrypted relay circuit, says so, carries data both ways, and the hop sees only ciphertext', async () => {
    const [a, b, z] = line
    const { connection, kind, webrtcError } = await a.services.circuit.connect(z.peerId, { route: [b.peerId] })
    assert.equal(kind, 'circuit')
    assert.ok(webrtcError != null, 'the WebRTC failure is reported')
    assert.ok(isCircuitAddress(connection.remoteAddr))
    assert.equal(connection.limits, undefined, 'relay circuits are full connections')
    assert.ok(connection.remotePeer.equals(z.peerId))
    assert.equal(connection.encryption, '/noise')

    // record every byte the hop forwards on its circuit streams from now on
    const forwarded: Uint8Array[] = []
    for (const conn of [...b.getConnections(a.peerId), ...b.getConnections(z.peerId)]) {
      for (const s of conn.streams.filter(s => s.protocol === CIRCUIT_PROTOCOL && s.status === 'open')) {
        s.addEventListener('message', (evt) => { forwarded.push(evt.data.subarray()) })
      }
    }
    const secret = 'membrane-plaintext-secret-'.repeat(40)
    const stream = await connection.newStream(ECHO)
    const echoed: Uint8Array[] = []
    stream.addEventListener('message', (evt) => { echoed.push(evt.data.subarray()) })
    stream.send(new TextEncoder().encode(secret))
    await waitFor(() => echoed.reduce((n, c) => n + c.byteLength, 0) >= secret.length, 'echo arrives', 10_000)
    assert.equal(new TextDecoder().decode(Buffer.concat(echoed)), secret)
    await stream.close()

    const seen = Buffer.concat(forwarded)
    assert.ok(seen.byteLength > 2 * secret.length, `the hop forwarded the data both ways (${seen.byteLength} bytes)`)
    assert.equal(seen.indexOf('membrane-plaintext-secret'), -1, 'plaintext never crosses the hop')
    assert.equal(b.services.circuit.stats().relayCircuits, 1)
    await connection.close()
    await waitFor(() => b.services.circuit.stats().circuits === 0, 'hop released the relay circuit', 10_000)
  })

  it('reports a typed error when WebRTC fails and the relay fallback is disabled', async () => {
    const [a, b, z] = line
    await assert.rejects(a.services.circuit.connect(z.peerId, { route: [b.peerId], relay: false }), { name: 'WebRTCUpgradeError' })
    await waitFor(() => b.services.circuit.stats().circuits === 0, 'hop released the signaling circuit', 10_000)
  })
})
