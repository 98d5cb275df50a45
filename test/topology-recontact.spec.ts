import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mapProblems, meshProblems, startMeshBootstrap, startMeshMember } from './fixtures/mesh.js'
import { startBootstrap, startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { observationWindow, waitFor } from './fixtures/wait.js'
import type { BootstrapErrorDetail, Membrane } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

/** firstContact is the one owner of (re-)contact: one back-off, one event stream */
describe('re-contact', () => {
  const nodes: Array<Libp2p | undefined> = []

  after(async () => { await stopAll(...nodes) })

  it('backs off while no bootstrap peer answers, doubling the wait, and connects once one does', async () => {
    const key = await generateKeyPair('Ed25519')
    // a free port: a bootstrap peer is started there, stopped, and started again later
    const probe = await startBootstrap({ privateKey: key })
    const address = tcpAddress(probe)
    const port = Number(address.split('/')[4])
    await probe.stop()

    const errors: BootstrapErrorDetail[] = []
    const member = await startMember(undefined, { bootstrap: [`${address}`], listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(member)
    member.services.firstContact.addEventListener('bootstrap:error', (evt) => { errors.push(evt.detail) })
    await waitFor(() => errors.length >= 2, 'two failed rounds', 20_000)
    assert.equal(errors[0].error.name, 'BootstrapUnreachableError')
    assert.equal(errors[1].retryIn, 2 * (errors[0].retryIn ?? 0), 'the wait doubles')
    assert.equal(member.services.firstContact.attached(), false)

    const connected = new Promise(resolve => { member.services.firstContact.addEventListener('bootstrap:connect', resolve, { once: true }) })
    const bootstrap = await startBootstrap({ privateKey: key, port, wsPort: 0 })
    nodes.push(bootstrap)
    assert.equal(bootstrap.peerId.toString(), peerIdFromPrivateKey(key).toString())
    await connected
    assert.equal(member.services.firstContact.attached(), true)
  })

  it('a member with member links does not redial a lost bootstrap peer; one that loses them all does', async () => {
    const bootstrap = await startBootstrap()
    nodes.push(bootstrap)
    const topology = { enabled: true, interval: 500, dropBootstraps: false }
    const a: Membrane = await startMember(bootstrap, { topology, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const b: Membrane = await startMember(bootstrap, { topology, listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(a, b)
    await waitFor(() => a.services.topology.neighbours().some(p => p.equals(b.peerId)), 'a and b linked as members', 30_000)

    // the bootstrap peer drops a: a still holds a member link, so it stays off the bootstrap peers
    const rounds = a.services.firstContact.stats().rounds
    await a.hangUp(bootstrap.peerId)
    await observationWindow(2_000)
    assert.equal(a.services.firstContact.stats().rounds, rounds, 'no round while a member link is left')
    assert.equal(a.services.firstContact.attached(), true)

    // b goes away: a has nothing left and goes back to the bootstrap peer
    const contacts = a.services.firstContact.stats().contacts
    await b.stop()
    await waitFor(() => a.services.firstContact.stats().contacts > contacts && a.getConnections(bootstrap.peerId).length > 0,
      'a re-contacted the bootstrap peer', 20_000)
  })

  it('a member that loses its last member link heals to a member its map names, without redialling the bootstrap peer', async () => {
    const bootstrap = await startMeshBootstrap(3)
    nodes.push(bootstrap)
    // one member link is enough: three members settle as a line (or a triangle, made a line below).
    // Every member link takes 600 ms to accept, so the heal's dial is still running when
    // firstContact checks the lost link (CHECK_DELAY, 400 ms): it must wait for it
    const init = { minPeers: 1, maxPeers: 2, acceptDelay: 600 }
    const members = []
    for (let i = 0; i < 3; i++) {
      const member = await startMeshMember(bootstrap, init)
      members.push(member)
      nodes.push(member.node)
    }
    const all = members.map(m => m.node)
    const settled = (): boolean => meshProblems(all, bootstrap, 1, 2).length === 0 && mapProblems(all).length === 0
    await waitFor(settled, 'three members linked, off the bootstrap peer, every map whole', 60_000)
    const degree = (m: Membrane): number => m.services.topology.neighbours().length
    if (all.every(m => degree(m) === 2)) {
      await all[0].hangUp(all[1].peerId)
      await waitFor(() => settled() && all.some(m => degree(m) === 1), 'the triangle is a line', 30_000)
    }
    // the middle member vanishes with no goodbye: each end loses its only member link
    const middle = members.find(m => degree(m.node) === 2)
    assert.ok(middle != null, 'a line has a middle member')
    const ends = all.filter(n => n !== middle.node)
    const rounds = ends.map(n => n.services.firstContact.stats().rounds)
    await middle.kill()
    await waitFor(() => ends.every(n => n.services.topology.neighbours().some(p => p.equals(ends.find(o => o !== n)!.peerId))),
      'the two ends linked to each other', 30_000)
    assert.deepEqual(ends.map(n => n.services.firstContact.stats().rounds), rounds, 'no bootstrap round: the topology healed first')
    assert.ok(ends.every(n => n.getConnections(bootstrap.peerId).length === 0), 'no bootstrap link')
  })
})
