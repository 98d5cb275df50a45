import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { connect } from '../src/index.js'
import { startLine } from './fixtures/line.js'
import { stopAll } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { BroadcastMessage, Membrane } from '../src/index.js'

const TOPIC = 'handover'
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/**
 * connect() hands back the mesh circuit first and retires it once WebRTC is
 * up. Gossipsub opened its long-lived stream on the circuit; when the circuit
 * closes, the peer is still connected (over WebRTC), so libp2p tells no
 * topology about it again. The handover re-runs identify on the link that
 * remains, and gossipsub reopens its stream there.
 */
describe('long-lived protocol streams follow a retired circuit to the WebRTC link', () => {
  let line: Membrane[]

  before(async () => {
    // a – m – b: a and b share no TCP link, m is not subscribed and so forwards no broadcast
    line = await startLine(3)
  })

  after(async () => { await stopAll(...line) })

  it('broadcasts between a and b still flow after the circuit that carried gossipsub closed', async () => {
    const [a, m, b] = line
    const inbox: BroadcastMessage[] = []
    b.services.broadcast.subscribe(TOPIC, (msg) => { inbox.push(msg) })
    a.services.broadcast.subscribe(TOPIC)

    const result = await connect(a, b.peerId, { route: [m.peerId] })
    assert.equal(result.kind, 'circuit')
    const circuit = result.connection
    // gossipsub runs over the circuit while it is the only link
    await waitFor(() => circuit.streams.some(s => s.protocol?.startsWith('/meshsub/') === true), 'gossipsub stream on the circuit')
    const upgraded = await result.upgrade
    assert.equal(upgraded.kind, 'webrtc')
    await waitFor(() => circuit.status === 'closed', 'the circuit is retired')
    assert.ok(a.getConnections(b.peerId).every(c => c.status !== 'open' || c === upgraded.connection))

    // the handover re-ran identify on the WebRTC link, and gossipsub opened its streams there, both ways
    await waitFor(() => a.services.linkHandover.stats().handovers === 1 && b.services.linkHandover.stats().handovers === 1, 'both ends handed over')
    const meshsub = (c: { streams: Array<{ protocol?: string, direction: string }> }, direction: string): boolean => c.streams.some(s => s.protocol?.startsWith('/meshsub/') === true && s.direction === direction)
    await waitFor(() => meshsub(upgraded.connection, 'outbound') && meshsub(upgraded.connection, 'inbound'), 'gossipsub streams both ways on the WebRTC link')
    // the only link between a and b is now WebRTC, and m relays no broadcast: this proves gossipsub moved
    await a.services.broadcast.publish(TOPIC, text('after the handover'))
    await waitFor(() => inbox.some(msg => new TextDecoder().decode(msg.data) === 'after the handover'), 'b receives the broadcast over WebRTC')
    assert.ok(inbox.every(msg => msg.receivedFrom.equals(a.peerId)))
  })
})
