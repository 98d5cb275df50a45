/**
 * Member pairs whose NATs allow no direct WebRTC link: connect() must still
 * yield a working link (an end-to-end encrypted mesh circuit), and it must
 * keep working after the bootstrap peer is stopped. A third member on the
 * public side (linked to both) is the mesh that outlives the bootstrap peer.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { createLab, INET_HOST } from './lab.js'
import { NodePeer } from './peers.js'
import { bootstrapAddr, runScenario, startBootstrap, startMember, WAIT } from './scenario.js'
import type { Lab, NatKind } from './lab.js'
import type { ConnectSummary } from './peer-process.js'
import type { LabPeer } from './peers.js'

const PUBLIC_MEMBER_PORT = 4101

describe('NAT lab: pairs without a direct link get a mesh circuit', () => {
  let lab: Lab | undefined
  let peers: LabPeer[] = []

  afterEach(async () => {
    for (const peer of peers) {
      await peer.close().catch(() => {})
    }
    await lab?.close()
    peers = []
    lab = undefined
  })

  async function scenario (nats: { a: NatKind, b: NatKind }, stun: boolean): Promise<ConnectSummary> {
    lab = await createLab(nats)
    const boot = await startBootstrap(lab, { stun })
    peers.push(boot.peer)
    const bootstrap = [bootstrapAddr(boot.info, 'tcp')]
    const c = new NodePeer(lab, lab.ns.inet, 'public member c')
    const a = new NodePeer(lab, lab.ns.a, 'member a')
    const b = new NodePeer(lab, lab.ns.b, 'member b')
    peers.push(c, a, b)
    const cId = await startMember(c, { bootstrap, listen: [`/ip4/${INET_HOST}/tcp/${PUBLIC_MEMBER_PORT}`] })
    const cAddr = `/ip4/${INET_HOST}/tcp/${PUBLIC_MEMBER_PORT}/p2p/${cId}`
    const [aId, bId] = await Promise.all([startMember(a, { bootstrap }), startMember(b, { bootstrap })])
    // the mesh: both NATed members hold a link to the public member
    await Promise.all([a.call('dial', cAddr, WAIT), b.call('dial', cAddr, WAIT)])
    // both ends' maps know the path through c, so connect() routes the circuit through the mesh that outlives the bootstrap peer
    await Promise.all([a.call('waitForPathAvoiding', bId, boot.info.peerId, WAIT), b.call('waitForPathAvoiding', aId, boot.info.peerId, WAIT)])
    const { connect } = await runScenario(boot, a, aId, b, bId)
    return connect
  }

  for (const [name, nats, stun] of [
    ['cone/cone without STUN', { a: 'cone', b: 'cone' }, false],
    ['cone/symmetric with STUN', { a: 'cone', b: 'symmetric' }, true],
    ['symmetric/symmetric with STUN', { a: 'symmetric', b: 'symmetric' }, true]
  ] as const) {
    it(`${name}: an end-to-end encrypted circuit, kept after the bootstrap peer stops`, async (t) => {
      const result = await scenario(nats, stun)
      t.diagnostic(`connect(): usable (${result.usableKind}) in ${result.usableMs} ms, ${result.kind} after ${result.ms} ms`)
      assert.equal(result.kind, 'circuit')
    })
  }
})
