import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { addressKind, bestConnection, isDirectLink, linkKind, relayOf } from '../src/utils/connections.js'
import { startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
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
