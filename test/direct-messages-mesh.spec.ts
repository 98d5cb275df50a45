import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startGraph } from './fixtures/line.js'
import { stopAll } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { Membrane, ReceivedDirectMessage } from '../src/index.js'

describe('direct messages between members several hops apart', () => {
  let line: Membrane[]

  before(async () => {
    // A–B–C–D: only adjacent TCP links are possible
    line = await startGraph([{}, {}, {}, {}], [[0, 1], [1, 2], [2, 3]])
    const [a, , , d] = line
    // the network map has to know the far end before connect() can route to it
    await waitFor(() => a.services.networkMap.path(d.peerId) != null && d.services.networkMap.path(a.peerId) != null, 'map routes A↔D', 20_000)
  })

  after(async () => { await stopAll(...line) })

  it('delivers exactly once over a link made through the mesh, with acknowledgement, both ways', async () => {
    const [a, , , d] = line
    const inbox: ReceivedDirectMessage[] = []
    d.services.directMessages.addEventListener('message', (evt) => { inbox.push(evt.detail) })
    assert.equal(a.getConnections(d.peerId).length, 0, 'no link before the message')

    const result = await a.services.directMessages.send(d.peerId, new TextEncoder().encode('three hops away'))
    assert.ok(result.connection.remotePeer.equals(d.peerId))
    // delivered before the acknowledgement; a resend (same id) would count as a duplicate, not a delivery
    const stats = d.services.directMessages.stats()
    assert.equal(stats.delivered, 1, 'exactly once')
    assert.equal(inbox.length, 1)
    assert.ok(inbox[0].from.equals(a.peerId))
    assert.equal(new TextDecoder().decode(inbox[0].data), 'three hops away')

    const back: ReceivedDirectMessage[] = []
    a.services.directMessages.addEventListener('message', (evt) => { back.push(evt.detail) })
    await d.services.directMessages.send(a.peerId, new TextEncoder().encode('reply'))
    await waitFor(() => back.length === 1, 'reply arrives')
  })

  it('fails with a typed error when the peer has left', async () => {
    const [, b, c, d] = line
    const dId = d.peerId
    await d.stop()
    await waitFor(() => c.getConnections(dId).length === 0, 'd gone')
    await assert.rejects(b.services.directMessages.send(dId, new TextEncoder().encode('anyone?')), (err: Error) => {
      assert.ok(['PeerUnreachableError', 'DirectMessageTimeoutError'].includes(err.name), `typed error, got ${err.name}: ${err.message}`)
      return true
    })
  })
})
