import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { bestConnection, isLiveConnection, peerConnectionOf } from '../src/utils/connections.js'
import { startBootstrap, startMember, stopAll, waitConnected } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Generous bounds for waits on events; never the thing under test */
const WAIT = 20_000

describe('only live WebRTC links are trusted', () => {
  let boot: BootstrapPeer
  let alice: Membrane
  /** Alice's and Bob's peer connections can never connect (relay-only ICE, no TURN server) */
  let bob: Membrane
  const opened: Array<{ connection: Connection, live: boolean, best: boolean, closedBy?: string }> = []

  before(async () => {
    boot = await startBootstrap()
    const listen = ['/p2p-circuit', '/webrtc']
    const relayOnly = { rtcConfiguration: { iceServers: [], iceTransportPolicy: 'relay' as const } }
    // one attempt under test: the topology manager's own (never-connecting) WebRTC upgrades between the two would overlap it
    const topology = { enabled: false }
    alice = await startMember(boot, { listen, webrtc: relayOnly, topology })
    bob = await startMember(boot, { listen, webrtc: relayOnly, topology, liveLinks: { peerConnectionTimeout: 1000 } })
    await waitConnected(alice, [boot])
    await waitConnected(bob, [boot])
    // what Bob's node would pick the moment each WebRTC connection opens
    bob.addEventListener('connection:open', (evt) => {
      const connection = evt.detail
      if (WebRTC.exactMatch(connection.remoteAddr)) {
        const o: { connection: Connection, live: boolean, best: boolean, closedBy?: string } = { connection, live: isLiveConnection(connection), best: bestConnection(bob.getConnections(connection.remotePeer)) === connection }
        opened.push(o)
        connection.addEventListener('close', (e) => {
          const name = (e as Event & { error?: Error }).error?.name ?? ''
          o.closedBy = name.startsWith('PeerConnection') ? 'membrane' : 'stock'
        }, { once: true })
      }
    })
  })

  after(async () => { await stopAll(alice, bob, boot) })

  const webrtcAddress = async (node: Membrane): Promise<Multiaddr> => {
    await waitFor(() => node.getMultiaddrs().some(ma => WebRTC.exactMatch(ma)), `${node.peerId} has a /p2p-circuit/webrtc address`, WAIT)
    return node.getMultiaddrs().find(ma => WebRTC.exactMatch(ma)) as Multiaddr
  }

  it('closes an inbound WebRTC connection whose peer connection never connects, and never picks it meanwhile', async (t) => {
    const target = await webrtcAddress(bob)
    const before = bob.services.liveLinks.stats()
    // the dial cannot succeed; Alice gives up after 1.5 s as a caller with a deadline would
    await assert.rejects(alice.dial(target, { signal: AbortSignal.timeout(1500), force: true }))
    // Bob's side of the attempt is over once its signaling stream is gone and no WebRTC
    // connection to Alice is left that is not live
    const signaling = (): boolean => bob.getConnections(alice.peerId).some(c => c.streams.some(s => s.protocol === '/webrtc-signaling/0.0.1'))
    await waitFor(() => !signaling() && bob.getConnections(alice.peerId).filter(c => WebRTC.exactMatch(c.remoteAddr)).every(isLiveConnection), 'bob is done with the attempt', WAIT)
    await waitFor(() => bob.getConnections(alice.peerId).every(c => !WebRTC.exactMatch(c.remoteAddr)), 'no WebRTC connection left at bob', WAIT)
    const dead = opened.filter(o => o.connection.remotePeer.equals(alice.peerId))
    for (const o of dead) {
      assert.equal(o.live, false, 'not live: its peer connection is not connected')
      assert.equal(o.best, false, 'bestConnection skipped it')
      assert.ok(peerConnectionOf(o.connection) != null)
      assert.notEqual(o.connection.status, 'open')
    }
    t.diagnostic(`inbound WebRTC connections opened at bob: ${dead.length}, closed by ${dead.map(o => o.closedBy).join(', ')}`)
    const after = bob.services.liveLinks.stats()
    assert.ok(after.watched - before.watched >= dead.length)
    if (dead.some(o => o.closedBy === 'membrane')) {
      assert.ok(after.closedTimeout + after.closedFailed > before.closedTimeout + before.closedFailed)
    }
  })

})
