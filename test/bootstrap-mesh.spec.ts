import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { identify } from '@libp2p/identify'
import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { PEER_EXCHANGE_PROTOCOL } from '../src/peer-exchange/index.js'
import { PeerExchangeResponse } from '../src/peer-exchange/pb/px.js'
import { startBootstrap, startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { startStockTcpNode } from './fixtures/stock.js'
import { observationWindow, waitFor } from './fixtures/wait.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { AddressInfo, Server } from 'node:net'

const TOPIC = 'bootstrap-mesh'
/** Members (by index) that opt out of the topology manager in the three-bootstrap mesh */
const OPTED_OUT = [1, 2]

/** Every member publishes once; resolves when every other member got each message */
async function allReachAll (members: Membrane[], label: string): Promise<void> {
  const inboxes = new Map<Membrane, Set<string>>()
  const unsubscribes = members.map((m) => {
    const inbox = new Set<string>()
    inboxes.set(m, inbox)
    return m.services.broadcast.subscribe(TOPIC, (msg) => { inbox.add(new TextDecoder().decode(msg.data)) })
  })
  try {
    const texts = members.map((m, i) => `${label} from ${i}`)
    // publish until delivered: the mesh may still be grafting after a failover
    await waitFor(async () => {
      for (const [i, m] of members.entries()) {
        const missing = members.some((other, j) => j !== i && !(inboxes.get(other)?.has(texts[i]) ?? false))
        if (missing) {
          await m.services.broadcast.publish(TOPIC, new TextEncoder().encode(texts[i]), { allowNoSubscribers: true })
        }
      }
      return members.every((m, i) => texts.every((t, j) => i === j || (inboxes.get(m)?.has(t) ?? false)))
    }, `${label}: every member receives every other member's broadcast`, 40_000, 1000)
  } finally {
    unsubscribes.forEach(u => { u() })
  }
}

const ids = (peers: PeerId[]): string[] => peers.map(String).sort()

/**
 * Trust follows configuration: b2 is given the seed, b3 is given b2. b3 learns
 * the seed from b2 and meshes with it; the seed, configured with nobody,
 * trusts nobody it did not learn from a configured peer.
 */
describe('a mesh of three bootstrap peers', () => {
  let seed: BootstrapPeer
  let b2: BootstrapPeer
  let b3: BootstrapPeer
  const members: Membrane[] = []

  before(async () => {
    seed = await startBootstrap()
    b2 = await startBootstrap({ peers: [tcpAddress(seed)] })
    b3 = await startBootstrap({ peers: [tcpAddress(b2)] })
    await waitFor(() => b3.getConnections(seed.peerId).length > 0, 'b3 meshed with the seed it learnt from b2', 20_000)
    // members 1 and 2 (on b2 and b3) opt out of the topology manager: without member links of their own they
    // stay on a bootstrap peer, which is what shows re-contact of a learnt bootstrap peer below; the rest run the default
    for (let i = 0; i < 6; i++) {
      members.push(await startMember([seed, b2, b3][i % 3], OPTED_OUT.includes(i) ? { topology: { enabled: false } } : {}))
    }
  })

  after(async () => {
    await stopAll(...members, b3, b2, seed)
  })

  it('bootstrap peers trust their configured peers and the ones those vouch for, and stay connected to them', async () => {
    assert.deepEqual(ids(b3.services.peerExchange.knownBootstraps()), ids([b2.peerId, seed.peerId]))
    assert.deepEqual(ids(b2.services.peerExchange.knownBootstraps()), ids([seed.peerId]))
    // b2 and b3 dialled it and serve peer exchange, but nothing configured vouches for them
    await waitFor(() => seed.services.peerExchange.stats().untrustedIgnored >= 2, 'the seed identified b2 and b3 and ignored both')
    assert.deepEqual(seed.services.peerExchange.knownBootstraps(), [])
    for (const [a, b] of [[b2, seed], [b3, b2], [b3, seed]]) {
      assert.ok(a.getConnections(b.peerId).length > 0, `${a.peerId} keeps ${b.peerId} connected`)
    }
  })

  it('hands members the bootstrap peers it trusts, and members on different bootstrap peers reach each other', async () => {
    await waitFor(() => members.every((m, i) => m.services.peerExchange.knownBootstraps().length === [1, 2, 3][i % 3]),
      'members know their bootstrap peer and the ones it trusts', 20_000)
    await allReachAll(members, 'before')
  })

  it('members stay attached when their bootstrap peers stop (through member links, or by re-contacting the one they learnt), still reach each other, and new members join through the survivor', async () => {
    const before = members.map(m => m.services.firstContact.stats().contacts)
    await b2.stop()
    await b3.stop()
    // the opted-out members need a bootstrap peer: they come back through firstContact, the one owner of re-contact
    await waitFor(() => OPTED_OUT.every(i => members[i].getConnections(seed.peerId).length > 0), 'the opted-out members connected to the survivor', 40_000)
    for (const i of OPTED_OUT) {
      assert.ok(members[i].services.firstContact.stats().contacts > before[i], `member ${i} re-contacted through firstContact`)
    }
    // the others are attached either way: member links, or a re-contact of their own
    await waitFor(() => members.every(m => m.services.firstContact.attached()), 'every member attached', 40_000)
    await allReachAll(members, 'after')

    const late = await startMember(seed)
    members.push(late)
    await waitFor(() => late.getConnections(seed.peerId).length > 0, 'new member joined')
    await allReachAll(members, 'late')
  })
})

/** A peer that serves peer exchange without being trusted, and hands out a trap address as a "bootstrap peer" */
describe('peer exchange trusts only what configuration vouches for', () => {
  let bootstrap: BootstrapPeer
  let member: Membrane
  let liar: Libp2p
  let trap: Server
  let trapConnections = 0
  let liarAsked = 0

  before(async () => {
    trap = createServer((socket) => { trapConnections++; socket.destroy() })
    await new Promise<void>(resolve => trap.listen(0, '127.0.0.1', resolve))
    const trapPort = (trap.address() as AddressInfo).port
    const decoy = await startStockTcpNode()
    const decoyId = decoy.peerId
    await decoy.stop()
    liar = await startStockTcpNode({ services: { identify: identify() } })
    await liar.handle(PEER_EXCHANGE_PROTOCOL, async (stream) => {
      liarAsked++
      // real bytes: a well-formed response naming the trap as a bootstrap peer
      await pbStream(stream).write({
        peers: [{ id: decoyId.toMultihash().bytes, addrs: [multiaddr(`/ip4/127.0.0.1/tcp/${trapPort}`).bytes], bootstrap: true }]
      }, PeerExchangeResponse)
      await stream.close()
    }, { runOnLimitedConnection: true })
    bootstrap = await startBootstrap()
    member = await startMember(bootstrap)
    await waitFor(() => member.getConnections(bootstrap.peerId).length > 0, 'member joined')
  })

  after(async () => {
    await stopAll(member, bootstrap, liar)
    await new Promise(resolve => trap.close(resolve))
  })

  it('a bootstrap peer ignores an unconfigured peer-exchange server: never asks it, dials nothing it offers, hands it to nobody', async () => {
    const ignored = bootstrap.services.peerExchange.stats().untrustedIgnored
    await liar.dial(multiaddr(tcpAddress(bootstrap)))
    await waitFor(() => bootstrap.services.peerExchange.stats().untrustedIgnored > ignored, 'the bootstrap peer identified the liar and ignored it', 30_000)
    await observationWindow(2_000)
    assert.equal(liarAsked, 0, 'the liar was never asked')
    assert.equal(trapConnections, 0, 'nothing dialled the trap')
    assert.equal(bootstrap.services.peerExchange.isTrusted(liar.peerId), false)
    // a newcomer is not told the liar is a bootstrap peer
    const newcomer = await startMember(bootstrap)
    try {
      // the newcomer asks its bootstrap peer on identify; a bootstrap flag on the liar would make it trusted
      await waitFor(() => newcomer.services.peerExchange.stats().exchanges > 0, 'the newcomer exchanged with its bootstrap peer', 30_000)
      assert.equal(newcomer.services.peerExchange.isTrusted(liar.peerId), false)
      assert.deepEqual(ids(newcomer.services.peerExchange.knownBootstraps()), ids([bootstrap.peerId]))
    } finally {
      await newcomer.stop()
    }
  })

  it('a member ignores one too, and refuses to ask it when told to', async () => {
    const ignored = member.services.peerExchange.stats().untrustedIgnored
    await member.dial(multiaddr(tcpAddress(liar)))
    await waitFor(() => member.services.peerExchange.stats().untrustedIgnored > ignored, 'the member identified the liar and ignored it', 30_000)
    await assert.rejects(member.services.peerExchange.exchange(liar.peerId), { name: 'UntrustedPeerError' })
    await observationWindow(2_000)
    assert.equal(liarAsked, 0, 'the liar was never asked')
    assert.equal(trapConnections, 0, 'nothing dialled the trap')
    assert.deepEqual(ids(member.services.peerExchange.knownBootstraps()), ids([bootstrap.peerId]))
  })
})
