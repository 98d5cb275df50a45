import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { addressKind, bestConnection, isDirectLink, isLiveConnection, linkKind, peerConnectionOf, relayOf } from '../src/utils/connections.js'
import { startBootstrap, startMember, stopAll, tcpAddress, waitConnected } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Membrane } from '../src/index.js'

const A = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
const B = '12D3KooWHFrmLWTTDD4NodngtRMEVYvYwJ4pNbmT3hBF2qqsuBJm'

describe('link kinds', () => {
  it('classifies addresses', () => {
    assert.equal(addressKind(multiaddr(`/ip4/10.0.0.1/tcp/4001/p2p/${A}`)), 'direct')
    assert.equal(addressKind(multiaddr(`/ip4/10.0.0.1/tcp/4002/ws/p2p/${A}`)), 'direct')
    assert.equal(addressKind(multiaddr(`/ip4/10.0.0.1/tcp/4001/p2p/${A}/p2p-circuit/p2p/${B}`)), 'relay')
    assert.equal(addressKind(multiaddr(`/ip4/10.0.0.1/tcp/4001/p2p/${A}/p2p-circuit/webrtc/p2p/${B}`)), 'webrtc')
    assert.equal(addressKind(multiaddr(`/p2p/${A}/membrane-circuit/p2p/${B}`)), 'circuit')
  })

  it('names the relay of a relay v2 address', () => {
    assert.equal(relayOf(multiaddr(`/ip4/10.0.0.1/tcp/4001/p2p/${A}/p2p-circuit/p2p/${B}`)), A)
    assert.equal(relayOf(multiaddr(`/ip4/10.0.0.1/tcp/4001/p2p/${A}/p2p-circuit/webrtc/p2p/${B}`)), A)
    assert.equal(relayOf(multiaddr(`/ip4/10.0.0.1/tcp/4001/p2p/${A}`)), undefined)
    assert.equal(relayOf(multiaddr('/p2p-circuit')), undefined)
  })
})

describe('bestConnection over real connections', () => {
  let alice: Membrane
  let bob: Membrane

  before(async () => {
    alice = await startMember(undefined)
    bob = await startMember(undefined)
  })

  after(async () => { await stopAll(alice, bob) })

  it('picks the open TCP link and skips it once it is closed', async () => {
    const connection = await alice.dial(multiaddr(tcpAddress(bob)))
    assert.equal(linkKind(connection), 'direct')
    assert.equal(isDirectLink(connection), true)
    assert.equal(bestConnection(alice.getConnections(bob.peerId)), connection)
    await connection.close()
    assert.equal(bestConnection([connection]), undefined)
  })
})

describe('bestConnection over a real WebRTC link', () => {
  let boot: BootstrapPeer
  let alice: Membrane
  let carol: Membrane

  before(async () => {
    boot = await startBootstrap()
    alice = await startMember(boot, { listen: ['/p2p-circuit', '/webrtc'] })
    carol = await startMember(boot, { listen: ['/p2p-circuit', '/webrtc'] })
    await waitConnected(alice, [boot])
    await waitConnected(carol, [boot])
  })

  after(async () => { await stopAll(alice, carol, boot) })

  it('trusts it while its peer connection is connected and skips it the moment it is not', async () => {
    await waitFor(() => carol.getMultiaddrs().some(ma => WebRTC.exactMatch(ma)), 'carol has a /p2p-circuit/webrtc address', 20_000)
    const target = carol.getMultiaddrs().find(ma => WebRTC.exactMatch(ma)) as Multiaddr
    const connection = await alice.dial(target, { signal: AbortSignal.timeout(20_000) })
    assert.equal(linkKind(connection), 'webrtc')
    assert.equal(isLiveConnection(connection), true)
    assert.equal(bestConnection(alice.getConnections(carol.peerId)), connection)
    // the peer connection dies under the libp2p connection, as when the remote vanishes
    const pc = peerConnectionOf(connection) as unknown as RTCPeerConnection
    assert.ok(pc instanceof RTCPeerConnection)
    pc.close()
    assert.equal(isLiveConnection(connection), false)
    assert.notEqual(bestConnection(alice.getConnections(carol.peerId)), connection)
    await waitFor(() => connection.status !== 'open', 'the connection closed', 20_000)
  })
})
