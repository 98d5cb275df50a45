/**
 * Chromium pages behind Linux NATs (network namespaces + nft): connect()
 * yields a working link, direct messages and broadcasts flow both ways, and
 * keep flowing after the bootstrap peer is stopped.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, it } from 'node:test'
import { createLab, INET_HOST } from './lab.js'
import { PagePeer } from './page-peer.js'
import { startCoturn } from './peers.js'
import { BOOTSTRAP_PORT, bootstrapAddr, runScenario, startBootstrap, startMember, WAIT } from './scenario.js'
import type { Lab } from './lab.js'
import type { Coturn, LabPeer } from './peers.js'

describe('NAT lab: Chromium pages behind Linux NATs', () => {
  let lab: Lab | undefined
  let coturn: Coturn | undefined
  let peers: LabPeer[] = []

  afterEach(async () => {
    for (const peer of peers) {
      await peer.close().catch(() => {})
    }
    await coturn?.close().catch(() => {})
    await lab?.close()
    peers = []
    lab = undefined
    coturn = undefined
  })

  it('pages behind cone NATs with the bootstrap peer\'s STUN: a direct WebRTC link', async (t) => {
    lab = await createLab({ a: 'cone', b: 'cone' })
    coturn = await startCoturn(lab, randomBytes(16).toString('hex'))
    const boot = await startBootstrap(lab)
    peers.push(boot.peer)
    const endpoints = [`${INET_HOST}:${BOOTSTRAP_PORT + 1}`]
    const [a, b] = await Promise.all([PagePeer.launch(lab.ns.a, 'page a', endpoints), PagePeer.launch(lab.ns.b, 'page b', endpoints)])
    peers.push(a, b)
    // no ICE server from the app: STUN comes from the bootstrap peer
    const init = { bootstrap: [bootstrapAddr(boot.info, 'ws')] }
    const [aId, bId] = await Promise.all([startMember(a, init), startMember(b, init)])
    await Promise.all([a.call('waitForIceServers', false, WAIT), b.call('waitForIceServers', false, WAIT)])
    const { connect } = await runScenario(boot, a, aId, b, bId)
    t.diagnostic(`connect(): usable (${connect.usableKind}) in ${connect.usableMs} ms, ${connect.kind} after ${connect.ms} ms`)
    assert.equal(connect.kind, 'webrtc')
  })
})
