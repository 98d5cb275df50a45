/**
 * Each 2.0.0 link is checked every `resyncInterval` (issue 19): a summary of
 * a count and a root to each neighbour, and a sync of what differs. That,
 * not the record's refresh, repairs a version a map missed, which is what
 * lets the default record TTL be 30 minutes. Real nodes over the memory
 * transport (Noise + yamux).
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { DEFAULT_RECORD_TTL, resyncDelay } from '../src/network-map/constants.js'
import { linkMapNodes, startMemoryMapNode } from './fixtures/netmap.js'
import { waitFor } from './fixtures/wait.js'
import type { NetworkMapInit } from '../src/network-map/index.js'
import type { MemoryMapNode } from './fixtures/netmap.js'

type Node = MemoryMapNode

const nodes: Node[] = []

async function startNode (init: NetworkMapInit = {}): Promise<Node> {
  const node = await startMemoryMapNode(init)
  nodes.push(node)
  return node
}

const link = linkMapNodes

describe('network map: periodic link checks', () => {
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map(async n => n.stop()))
  })

  it('spreads the checks over ±25 % of the interval and keeps the TTL long', async () => {
    assert.equal(resyncDelay(60_000, 0), 45_000)
    assert.equal(resyncDelay(60_000, 1), 75_000)
    assert.equal(DEFAULT_RECORD_TTL, 30 * 60_000)
    await assert.rejects(startNode({ resyncInterval: 0 }), RangeError)
  })

  it('a pair in sync exchanges one small summary per check and nothing else', async () => {
    const INTERVAL = 100
    const CHECKS = 5
    const a = await startNode({ resyncInterval: INTERVAL })
    const b = await startNode({ resyncInterval: INTERVAL })
    await link(a, b)
    await waitFor(() => [a, b].every(n => n.services.networkMap.edges().length === 1), 'both maps hold the edge')
    const ma = a.services.networkMap
    const mb = b.services.networkMap
    // one check of each side after the maps agree, so that any sync the start needed is over
    const settled = ma.stats().resyncsSent
    await waitFor(() => ma.stats().resyncsSent >= settled + 2 && mb.stats().resyncsSent >= 2, 'checks after the maps agree')
    const from = { a: ma.stats(), b: mb.stats() }
    await waitFor(() => ma.stats().resyncsSent >= from.a.resyncsSent + CHECKS, `${CHECKS} more checks from a`)
    const to = { a: ma.stats(), b: mb.stats() }
    const checks = to.a.resyncsSent - from.a.resyncsSent
    const sent = to.a.bytesSent - from.a.bytesSent
    // a SUMMARY of a count and an 8-byte root: under 32 bytes with its framing
    assert.ok(sent <= checks * 32, `a sent ${sent} bytes for ${checks} checks`)
    assert.equal(to.a.recordsAccepted, from.a.recordsAccepted, 'no record moved')
    assert.equal(to.b.recordsAccepted, from.b.recordsAccepted, 'no record moved')
    assert.equal(to.a.recordsIssued, from.a.recordsIssued, 'nothing re-issued')
  })

  it('a record refused at the cap reaches the map once room frees, long before any refresh', async () => {
    // a holds at most 3 records: itself, b and d. c's record, flooded to a by b, is refused (MapFullError).
    // When d leaves, its goodbye makes room, but nobody floods c's record again: without the check a
    // would hold c only after c's refresh, 9 minutes or more into a 30 minute TTL
    const a = await startNode({ maxNodes: 3, resyncInterval: 200 })
    const b = await startNode({ resyncInterval: 200 })
    const d = await startNode({ resyncInterval: 200 })
    await link(a, b)
    await link(b, d)
    await waitFor(() => a.services.networkMap.size === 3, 'a holds a, b and d')
    const c = await startNode({ resyncInterval: 200 })
    const refused = new Promise<void>(resolve => {
      a.services.networkMap.addEventListener('record:reject', (evt) => { if (evt.detail.error.name === 'MapFullError') { resolve() } })
    })
    await link(b, c)
    await refused
    assert.equal(a.services.networkMap.get(c.peerId), undefined, 'c is not in the full map')
    assert.ok(a.services.networkMap.stats().nodesMissing >= 1, 'the map says it is partial')
    const issued = c.services.networkMap.stats().recordsIssued

    await d.stop()
    await waitFor(() => a.services.networkMap.get(c.peerId) != null, 'c in a\'s map after d left', 20_000)
    assert.equal(c.services.networkMap.stats().recordsIssued, issued, 'c issued no record meanwhile: the check brought it')
    await waitFor(() => a.services.networkMap.stats().nodesMissing === 0, 'a\'s map is no longer partial')
    assert.ok(a.services.networkMap.edges().some(e => [e.from, e.to].some(p => p.equals(c.peerId))), 'the b–c edge is in a\'s map')
  })
})
