import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { bootstrapAddressSorter } from '../src/index.js'
import { startBootstrap, startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { startStockTcpNode } from './fixtures/stock.js'
import { observationWindow, waitFor } from './fixtures/wait.js'
import type { BootstrapErrorDetail, Membrane } from '../src/index.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

/** Short deadlines so the spec runs in seconds; the events are waited on, never timed */
const firstContact = { protocolTimeout: 1000, initialDelay: 200 }

/** Collects a member's bootstrap:error events */
function errorsOf (member: Membrane): BootstrapErrorDetail[] {
  const errors: BootstrapErrorDetail[] = []
  member.services.firstContact.addEventListener('bootstrap:error', (evt) => { errors.push(evt.detail) })
  return errors
}

/** Counts the connections a peer accepts, and those closed again */
function inboundOf (node: Libp2p): { opened: Connection[], closed: Connection[] } {
  const seen = { opened: [] as Connection[], closed: [] as Connection[] }
  node.addEventListener('connection:open', (evt) => { seen.opened.push(evt.detail) })
  node.addEventListener('connection:close', (evt) => { seen.closed.push(evt.detail) })
  return seen
}

describe('first contact: a bootstrap connection that negotiates no protocol', () => {
  const nodes: Array<Libp2p | undefined> = []

  after(async () => { await stopAll(...nodes) })

  it('is closed, reported as NoProtocolError and redialled with the back-off when the peer answers no protocol', async () => {
    // a stock libp2p node with no identify and no handlers: connections open, every protocol is refused
    const silent = await startStockTcpNode()
    nodes.push(silent)
    const inbound = inboundOf(silent)
    const address = tcpAddress(silent)
    const member = await startMember(undefined, { bootstrap: [address], firstContact })
    nodes.push(member)
    const errors = errorsOf(member)

    await waitFor(() => errors.filter(e => e.error.name === 'NoProtocolError').length >= 2, 'two NoProtocolError reports', 20_000)
    const [first, second] = errors
    assert.equal(first.error.name, 'NoProtocolError')
    assert.match(first.error.message, /negotiated no protocol within 1000 ms/)
    assert.match(first.addresses[0], new RegExp(`/tcp/${address.split('/')[4]}/`))
    assert.equal(second.error.name, 'NoProtocolError')
    assert.equal(second.attempt, first.attempt + 1)
    assert.equal(second.retryIn, 2 * (first.retryIn ?? 0), 'the back-off doubles: a bare connection does not reset it')
    // the member closed the first connection and dialled again: a second connection reached the silent peer
    await waitFor(() => inbound.opened.length >= 2 && inbound.closed.includes(inbound.opened[0]), 'the first connection closed, a second one opened')
    assert.ok(member.services.firstContact.stats().noProtocol >= 2)
    assert.equal(member.services.firstContact.lastError?.error.name, 'NoProtocolError')
    await member.stop()
    await silent.stop()
  })

  it('is closed and redialled when the peer negotiates identify but never answers it (a stalled stream)', async () => {
    const stalled: Stream[] = []
    const stalling = await startStockTcpNode()
    nodes.push(stalling)
    // multistream-select agrees on identify, then nothing is ever written
    await stalling.handle('/ipfs/id/1.0.0', (stream) => { stalled.push(stream) })
    const inbound = inboundOf(stalling)
    const member = await startMember(undefined, { bootstrap: [tcpAddress(stalling)], firstContact })
    nodes.push(member)
    const errors = errorsOf(member)

    await waitFor(() => errors.some(e => e.error.name === 'NoProtocolError') && inbound.opened.length >= 2, 'a NoProtocolError and a redial', 20_000)
    assert.ok(stalled.length >= 1, 'the identify stream was negotiated and left unanswered')
    assert.ok(inbound.closed.includes(inbound.opened[0]), 'the stalled connection was closed')
    await member.stop()
    await stalling.stop()
  })

  it('beside a working bootstrap link, is closed and reported without a redial', async () => {
    const bootstrap = await startBootstrap()
    const silent = await startStockTcpNode()
    nodes.push(bootstrap, silent)
    const member = await startMember(undefined, { bootstrap: [tcpAddress(bootstrap), tcpAddress(silent)], firstContact })
    nodes.push(member)
    const errors = errorsOf(member)
    await waitFor(() => errors.some(e => e.error.name === 'NoProtocolError'), 'the silent connection reported', 20_000)
    assert.match(errors[0].error.message, new RegExp(`bootstrap peer ${silent.peerId.toString()} `))
    // four times the back-off's first wait: a redial would show here
    await observationWindow(4 * firstContact.initialDelay)
    assert.ok(errors.every(e => e.error.name === 'NoProtocolError' && e.retryIn === undefined), JSON.stringify(errors.map(e => [e.error.name, e.retryIn])))
    assert.equal(member.services.firstContact.stats().rounds, 1, 'no redial while the working link is up')
    assert.equal(member.services.firstContact.lastError, undefined)
    assert.ok(member.getConnections(bootstrap.peerId).some(c => c.status === 'open'))
    await member.stop()
  })

  it('keeps a bootstrap connection that negotiates its protocols', async () => {
    const bootstrap = await startBootstrap()
    nodes.push(bootstrap)
    const member = await startMember(bootstrap, { firstContact })
    nodes.push(member)
    const errors = errorsOf(member)
    await waitFor(() => member.getConnections(bootstrap.peerId).length > 0 && member.services.firstContact.stats().contacts === 1, 'member reached the bootstrap peer')
    const connection = member.getConnections(bootstrap.peerId)[0]
    // twice the protocol deadline: a wrongly closed link would show here
    await observationWindow(2 * firstContact.protocolTimeout)
    assert.equal(member.services.firstContact.stats().noProtocol, 0)
    assert.deepEqual(errors, [])
    assert.equal(connection.status, 'open')
    assert.equal(member.services.firstContact.stats().rounds, 1, 'no redial')
  })
})

describe('first contact: dials to a bootstrap peer by PeerId prefer its configured address', () => {
  const nodes: Array<Libp2p | undefined> = []

  after(async () => { await stopAll(...nodes) })

  it('orders a configured WebSockets address before a public WebRTC-direct one (js-libp2p alone puts WebRTC-direct first)', () => {
    const peer = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
    const ws = multiaddr(`/ip4/127.0.0.1/tcp/4002/ws/p2p/${peer}`)
    const otherWs = multiaddr(`/ip4/127.0.0.2/tcp/4002/ws/p2p/${peer}`)
    const direct = multiaddr(`/ip4/192.0.2.2/udp/4003/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g/p2p/${peer}`)
    const tcp = multiaddr(`/ip4/127.0.0.1/tcp/4001/p2p/${peer}`)
    const addresses = [direct, tcp, otherWs, ws].map(ma => ({ multiaddr: ma, isCertified: false }))
    const order = (bootstrap: string[]): string[] => [...addresses].sort(bootstrapAddressSorter(bootstrap)).map(a => a.multiaddr.toString())
    // nothing configured: js-libp2p's own order, public first whatever the transport
    assert.deepEqual(order([]), [direct, tcp, otherWs, ws].map(String))
    // the configured address, then the same transport elsewhere, then the rest in js-libp2p's order
    assert.deepEqual(order([ws.toString()]), [ws, otherWs, direct, tcp].map(String))
  })

  it('a member given only WebSockets redials the bootstrap peer by PeerId over WebSockets (js-libp2p alone picks TCP)', async () => {
    const bootstrap = await startBootstrap({ wsPort: 0 })
    nodes.push(bootstrap)
    const ws = bootstrap.getMultiaddrs().map(String).find(a => a.includes('/ws/'))
    assert.ok(ws != null)
    const member = await startMember(undefined, { bootstrap: [ws] })
    nodes.push(member)
    // identify told the member every address of the bootstrap peer, TCP included
    await waitFor(async () => (await member.peerStore.get(bootstrap.peerId)).addresses.some(a => !a.multiaddr.toString().includes('/ws')), 'the member knows the TCP address too')
    assert.match(member.getConnections(bootstrap.peerId)[0].remoteAddr.toString(), /\/ws/)
    // a new dial by PeerId, as the relay reservation store, relay discovery and peer exchange make when the link drops
    const connection = await member.dial(bootstrap.peerId, { force: true })
    assert.match(connection.remoteAddr.toString(), /\/tcp\/\d+\/ws/, `redialled over ${connection.remoteAddr}`)
  })
})
