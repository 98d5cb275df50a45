import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { dialGuardStats } from '../src/webrtc/dial-guard.js'
import { startBootstrap, startMember, stopAll, waitConnected } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Generous bound for waits on events; never the thing under test */
const WAIT = 20_000

describe('a WebRTC dial whose peer connection fails (real libp2p nodes, Membrane guards)', () => {
  let boot: BootstrapPeer
  let alice: Membrane
  let bob: Membrane

  before(async () => {
    boot = await startBootstrap()
    // the fault is injected into the next WebRTC answer in this process: a topology manager's own upgrade between the two would take it
    const topology = { enabled: false }
    alice = await startMember(boot, { listen: ['/p2p-circuit', '/webrtc'], topology })
    bob = await startMember(boot, { listen: ['/p2p-circuit', '/webrtc'], topology })
    await waitConnected(alice, [boot])
    await waitConnected(bob, [boot])
  })

  after(async () => { await stopAll(alice, bob, boot) })

  it('fails with PeerConnectionFailedError, not at the dial deadline, when DTLS fails', async () => {
    await waitFor(() => bob.getMultiaddrs().some(ma => WebRTC.exactMatch(ma)), 'bob has a /p2p-circuit/webrtc address', WAIT)
    const target = bob.getMultiaddrs().find(ma => WebRTC.exactMatch(ma)) as Multiaddr
    // fault injection at the WebRTC layer: bob's next answer carries a wrong DTLS
    // fingerprint, so alice's DTLS verification fails ("certificate verify failed")
    const proto = RTCPeerConnection.prototype as unknown as { createAnswer(): Promise<RTCSessionDescriptionInit> }
    const createAnswer = proto.createAnswer
    proto.createAnswer = async function (this: unknown): Promise<RTCSessionDescriptionInit> {
      proto.createAnswer = createAnswer
      const answer = await createAnswer.call(this)
      return { type: 'answer', sdp: answer.sdp?.replace(/(a=fingerprint:sha-256 )(\S+)/, (_m, p: string, fp: string) => p + fp.replace(/[0-9A-F]/g, '0')) }
    }
    const before = dialGuardStats()
    try {
      // stock waits for the init channel until this deadline and rejects with a TimeoutError/AbortError
      await assert.rejects(alice.dial(target, { signal: AbortSignal.timeout(WAIT), force: true }), { name: 'PeerConnectionFailedError' })
    } finally {
      proto.createAnswer = createAnswer
    }
    assert.equal(dialGuardStats().failedFast - before.failedFast, 1)
    // the next dial is unaffected
    const connection = await alice.dial(target, { signal: AbortSignal.timeout(WAIT), force: true })
    assert.ok(WebRTC.exactMatch(connection.remoteAddr))
  })
})
