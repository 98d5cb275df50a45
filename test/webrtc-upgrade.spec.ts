import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { multiaddr } from '@multiformats/multiaddr'
import { startBootstrap, startMember, stopAll, waitConnected } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { BroadcastMessage, Membrane } from '../src/index.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'

const TOPIC = 'after-bootstrap'

describe('two members that share only a bootstrap peer', () => {
  let boot: BootstrapPeer
  let alice: Membrane
  let bob: Membrane

  before(async () => {
    boot = await startBootstrap()
    // relay + WebRTC only: the members cannot reach each other any other way
    alice = await startMember(boot, { listen: ['/p2p-circuit', '/webrtc'] })
    bob = await startMember(boot, { listen: ['/p2p-circuit', '/webrtc'] })
    await waitConnected(alice, [boot])
    await waitConnected(bob, [boot])
  })

  after(async () => {
    await stopAll(alice, bob, boot)
  })

  it('upgrade to a direct WebRTC connection through the bootstrap relay and keep broadcasting after it stops', async () => {
    await waitFor(() => bob.getMultiaddrs().some(ma => WebRTC.matches(ma)), 'bob has a /p2p-circuit/webrtc address', 15_000)
    const bobWebRTC = bob.getMultiaddrs().find(ma => WebRTC.matches(ma))
    assert.ok(bobWebRTC != null)
    assert.ok(bobWebRTC.toString().includes(`/p2p/${boot.peerId.toString()}/p2p-circuit/webrtc`))

    const conn = await alice.dial(multiaddr(bobWebRTC.toString()), { signal: AbortSignal.timeout(30_000) })
    assert.ok(WebRTC.matches(conn.remoteAddr), `direct WebRTC connection (got ${conn.remoteAddr.toString()})`)
    assert.ok(conn.remotePeer.equals(bob.peerId))
    assert.equal(conn.limits, undefined, 'the WebRTC connection is not limited')

    const inbox: BroadcastMessage[] = []
    bob.services.broadcast.subscribe(TOPIC, (msg) => { inbox.push(msg) })
    alice.services.broadcast.subscribe(TOPIC)

    await boot.stop()
    await waitFor(() => alice.getConnections(boot.peerId).length === 0, 'bootstrap peer gone')
    await waitFor(() => alice.services.broadcast.subscribers(TOPIC).some(p => p.equals(bob.peerId)), 'alice sees bob subscribed over WebRTC', 15_000)

    await alice.services.broadcast.publish(TOPIC, new TextEncoder().encode('direct, no server'))
    await waitFor(() => inbox.length === 1, 'bob receives over the direct link')
    assert.equal(new TextDecoder().decode(inbox[0].data), 'direct, no server')
    assert.ok(inbox[0].receivedFrom.equals(alice.peerId))
    const remaining = alice.getConnections(bob.peerId)
    assert.ok(remaining.length > 0 && remaining.every(c => WebRTC.matches(c.remoteAddr)), 'only the WebRTC link remains')
  })
})
