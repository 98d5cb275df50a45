import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { isCircuitAddress } from '../src/index.js'
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
      const { connection, kind } = await a.services.circuit.connect(d.peerId, {
        route: intermediaries.map(n => n.peerId),
        onProgress: (evt) => { events.push(evt.type) }
      })
      assert.equal(kind, 'webrtc')
      assert.ok(connection.remotePeer.equals(d.peerId))
      assert.ok(WebRTC.exactMatch(connection.remoteAddr), `direct WebRTC address, got ${connection.remoteAddr}`)
      for (const type of ['route', 'circuit', 'noise', 'signaling', 'webrtc']) {
        assert.ok(events.includes(type), `progress event ${type} in ${events.join(',')}`)
      }
      assert.deepEqual(events.filter(e => ['route', 'circuit', 'noise', 'signaling', 'webrtc'].includes(e)), ['route', 'circuit', 'noise', 'signaling', 'webrtc'])
      // every intermediary forwarded exactly one circuit: the signaling went through them
      assert.deepEqual(intermediaries.map(n => n.services.circuit.stats().forwarded), forwardedBefore.map(f => f + 1))
      // the circuit closes once the direct link is up; the link carries data
      await waitFor(() => a.getConnections(d.peerId).every(c => !isCircuitAddress(c.remoteAddr)), 'circuit closed', 10_000)
      await waitFor(() => intermediaries.every(n => n.services.circuit.stats().circuits === 0), 'hops released the circuit', 10_000)
      const rtt = await a.services.ping.ping(d.peerId)
      assert.ok(rtt >= 0)
      assert.ok(a.getConnections(d.peerId).every(c => WebRTC.exactMatch(c.remoteAddr)), 'only the WebRTC link remains')
      await connection.close()
    })
  }
})
