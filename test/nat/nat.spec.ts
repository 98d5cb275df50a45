/**
 * Members behind real Linux NATs (network namespaces + nft): connect() yields
 * a working link, direct messages and broadcasts flow both ways, and keep
 * flowing after the bootstrap peer is stopped.
 */
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { afterEach, describe, it } from 'node:test'
import { createLab } from './lab.js'
import { NodePeer, startCoturn } from './peers.js'
import { bootstrapAddr, runScenario, startBootstrap, startMember } from './scenario.js'
import type { Lab, NatKind } from './lab.js'
import type { Coturn, LabPeer } from './peers.js'

interface Running { lab?: Lab, peers: LabPeer[], coturn?: Coturn }

describe('NAT lab: Node members behind Linux NATs', () => {
  let running: Running = { peers: [] }

  afterEach(async () => {
    for (const peer of running.peers) {
      await peer.close().catch(() => {})
    }
    await running.coturn?.close().catch(() => {})
    await running.lab?.close()
    running = { peers: [] }
  })

  async function setUp (nats: { a: NatKind, b: NatKind }): Promise<{ lab: Lab, coturn: Coturn, secret: string }> {
    const lab = await createLab(nats)
    running.lab = lab
    const secret = randomBytes(16).toString('hex')
    const coturn = await startCoturn(lab, secret)
    running.coturn = coturn
    return { lab, coturn, secret }
  }

  /** TURN credentials in coturn's REST API scheme, made by the test itself */
  function turnCredentials (secret: string, user: string): { username: string, credential: string } {
    const username = `${Math.floor(Date.now() / 1000) + 600}:${user}`
    return { username, credential: createHmac('sha1', secret).update(username).digest('base64') }
  }

  async function scenario (nats: { a: NatKind, b: NatKind }, ice: (coturn: Coturn, secret: string) => RTCIceServer[]): Promise<{ kind: string, ms: number }> {
    const { lab, coturn, secret } = await setUp(nats)
    const boot = await startBootstrap(lab)
    running.peers.push(boot.peer)
    const a = new NodePeer(lab, lab.ns.a, 'member a')
    const b = new NodePeer(lab, lab.ns.b, 'member b')
    running.peers.push(a, b)
    const bootstrap = [bootstrapAddr(boot.info, 'tcp')]
    const [aId, bId] = await Promise.all([
      startMember(a, { bootstrap, iceServers: ice(coturn, secret) }),
      startMember(b, { bootstrap, iceServers: ice(coturn, secret) })
    ])
    const { connect } = await runScenario(boot, a, aId, b, bId)
    return connect
  }

  it('cone/cone with STUN: a direct WebRTC link', async (t) => {
    const result = await scenario({ a: 'cone', b: 'cone' }, (coturn) => [{ urls: coturn.stunUrl }])
    t.diagnostic(`connect(): ${result.kind} in ${result.ms} ms`)
    assert.equal(result.kind, 'webrtc')
  })

  it('symmetric/symmetric with TURN: WebRTC relayed by coturn', async (t) => {
    const result = await scenario({ a: 'symmetric', b: 'symmetric' }, (coturn, secret) => [{ urls: coturn.turnUrl, ...turnCredentials(secret, 'lab') }])
    const allocations = await running.coturn?.allocations()
    t.diagnostic(`connect(): ${result.kind} in ${result.ms} ms, ${allocations} TURN allocations`)
    assert.equal(result.kind, 'webrtc')
    assert.ok((allocations ?? 0) > 0, 'coturn granted TURN allocations')
  })
})
