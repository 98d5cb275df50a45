import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startMember, stopAll } from '../fixtures/nodes.js'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { call, linkDirect, openHarnessPage, startPageLab } from '../fixtures/pages.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Membrane } from '../../src/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { TestPageServer } from '../fixtures/browser-server.js'
import type { PageLab } from '../fixtures/pages.js'
import type { Page } from 'playwright-core'

/** Map settings for pages: forget a node no edge reaches after 3 s, not 15 s, so the test sees removals soon */
const networkMap = { unreachableTimeout: 3000 }
/**
 * These pages opt out of the topology manager: the tests below need a fixed graph
 * (a and c apart until connect() links them through b). test/browser/topology.spec.ts
 * runs pages with the default
 */
const fixed = { networkMap, topology: { enabled: false }, gated: true }

describe('Chromium pages form a mesh through one bootstrap peer, then keep it without it', () => {
  let boot: BootstrapPeer
  let browser: Browser
  let site: TestPageServer
  let bootstrap: string[]
  let lab: PageLab | undefined
  let nodePeer: Membrane | undefined
  const pages: Page[] = []
  const ids: string[] = []

  before(async () => {
    lab = await startPageLab({ networkMap })
    ;({ boot, bootstrap, site, browser } = lab)
  })

  after(async () => {
    await stopAll(nodePeer)
    await lab?.close()
    // the last test starts a second bootstrap peer of its own
    await boot?.stop()
  })

  async function mapOf (page: Page): Promise<string[]> { return call(page, 'mapNodes') }
  function edge (x: string, y: string): string { return [x, y].sort().join('–') }
  async function edgesOf (page: Page): Promise<string[]> { return (await call(page, 'mapEdges')).map(e => edge(e.from, e.to)).sort() }

  it('three pages join through the bootstrap peer, see each other on the map and exchange broadcasts', async () => {
    for (let i = 0; i < 3; i++) {
      pages.push(await openHarnessPage(browser, site.url))
    }
    const [a, b, c] = pages
    // a and c never link directly except through connect() below
    ids.push(await call(a, 'startMember', { bootstrap, ...fixed }))
    ids.push(await call(b, 'startMember', { bootstrap, ...fixed }))
    ids.push(await call(c, 'startMember', { bootstrap, ...fixed }))
    const everyone = [...ids, boot.peerId.toString()].sort()
    for (const page of pages) {
      await waitFor(async () => JSON.stringify(await mapOf(page)) === JSON.stringify(everyone), 'every page maps all three pages and the bootstrap peer', 30_000)
    }
    for (const page of pages) {
      await waitFor(async () => (await call(page, 'subscribers')).length > 0, 'the bootstrap peer forwards the topic', 20_000)
    }
    await Promise.all(pages.map(async (page, i) => { await call(page, 'publish', `hello from page ${i}`) }))
    for (const [i, page] of pages.entries()) {
      const expected = [0, 1, 2].filter(j => j !== i).map(j => `hello from page ${j}`)
      await waitFor(async () => { const got = await call(page, 'received'); return expected.every(m => got.includes(m)) }, `page ${i} received the others' broadcasts`, 20_000)
    }
  })

  it('a page reaches another through a third page: the middle page carries the signaling, the result is direct WebRTC', async () => {
    const [a, b, c] = pages
    const [, bId, cId] = ids
    // b links directly to a and c (stock relay→WebRTC via the bootstrap peer)
    await linkDirect(b, a)
    await linkDirect(b, c)
    assert.deepEqual(await call(a, 'connectionsTo', cId), [], 'a and c are not linked yet')
    // from now on a may not use the bootstrap's relay at all: only Membrane circuits through b
    await call(a, 'setDenyRelayDials', true)
    const forwardedBefore = await call(b, 'forwarded')
    const result = await call(a, 'connect', cId, [bId])
    assert.equal(result.kind, 'webrtc')
    assert.match(result.remoteAddr, /^\/webrtc\/p2p\//)
    assert.deepEqual(result.route, [bId], 'the signaling circuit went through b')
    assert.equal(await call(b, 'forwarded'), forwardedBefore + 1, 'b forwarded exactly one circuit')
    // the map shows the new WebRTC edge on every page
    for (const page of pages) {
      await waitFor(async () => (await call(page, 'mapEdges')).some(e => [e.from, e.to].sort().join() === [ids[0], cId].sort().join() && e.kind === 'webrtc'), 'a–c is a WebRTC edge on every map', 20_000)
    }
  })

  it('with the bootstrap peer stopped, pages still connect, broadcast and keep their maps; a closed page leaves every map', async () => {
    const [a, b, c] = pages
    const [aId, bId, cId] = ids
    await boot.stop()
    const pagesOnly = [...ids].sort()
    const triangle = [edge(aId, bId), edge(aId, cId), edge(bId, cId)].sort()
    // each page re-issues its record without the bootstrap peer; a page that re-issued a burst of records
    // just before (its links of the previous test) waits for its token bucket (publishInterval), so the map
    // is whole again within seconds, not at once: wait on every node and every edge, not the node list alone
    for (const page of pages) {
      await waitFor(async () => JSON.stringify(await mapOf(page)) === JSON.stringify(pagesOnly), 'the bootstrap peer left every map', 30_000)
      await waitFor(async () => JSON.stringify(await edgesOf(page)) === JSON.stringify(triangle), 'every map holds the three pages\' links and no other', 30_000)
    }
    // a fresh link without any server: drop a–c, then connect() again along the map (through b)
    await call(a, 'hangUpPeer', cId)
    await waitFor(async () => (await call(a, 'connectionsTo', cId)).length === 0, 'a–c closed', 10_000)
    // a's own re-issue drops the edge from its map (an edge needs both ends' claims); b–c stays, so connect() has its route
    await waitFor(async () => JSON.stringify(await edgesOf(a)) === JSON.stringify([edge(aId, bId), edge(bId, cId)].sort()), 'a–c left a\'s map, a–b and b–c stay', 10_000)
    const again = await call(a, 'connect', cId)
    assert.equal(again.kind, 'webrtc')
    assert.deepEqual(again.route, [bId], 'routed by the map through b')

    await Promise.all(pages.map(async (page, i) => { await call(page, 'publish', `still here ${i}`) }))
    for (const [i, page] of pages.entries()) {
      const expected = [0, 1, 2].filter(j => j !== i).map(j => `still here ${j}`)
      await waitFor(async () => { const got = await call(page, 'received'); return expected.every(m => got.includes(m)) }, `page ${i} received broadcasts without the bootstrap peer`, 20_000)
    }

    await c.close()
    for (const page of [a, b]) {
      await waitFor(async () => JSON.stringify(await mapOf(page)) === JSON.stringify([aId, bId].sort()), 'the closed page left the map', 30_000)
      assert.ok((await call(page, 'mapEdges')).every(e => e.from !== cId && e.to !== cId))
    }
    pages.splice(2, 1)
  })

  it('a page and a Node peer connect directly over WebRTC and exchange direct messages both ways', async () => {
    // a fresh bootstrap peer for first contact; the Node member reaches it over TCP, the page over WebSockets
    boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false })
    const ws = boot.getMultiaddrs().map(String).filter(a => a.includes('/ws/'))
    nodePeer = await startMember(boot)
    const page = await openHarnessPage(browser, site.url)
    const pageId = await call(page, 'startMember', { bootstrap: ws })
    const nodeId = nodePeer.peerId.toString()
    await waitFor(async () => (await call(page, 'mapNodes')).includes(nodeId), 'the page maps the Node peer', 20_000)
    // the Node member dials the page's relay→WebRTC address (signaling through the bootstrap's relay)
    await waitFor(async () => (await call(page, 'webrtcAddress')) != null, 'page relay reservation', 20_000)
    const { multiaddr } = await import('@multiformats/multiaddr')
    const connection = await nodePeer.dial(multiaddr(await call(page, 'webrtcAddress') as string), { signal: AbortSignal.timeout(20_000) })
    assert.match(connection.remoteAddr.toString(), /\/webrtc\/p2p\//)
    // both ends run the default topology manager, which may upgrade their relayed link to WebRTC at the same
    // moment as this dial: the page holds this link, and possibly that one beside it
    // the dial resolves when the Node end has upgraded; the page's end lists the link once its own upgrade is done
    await waitFor(async () => (await call(page, 'connectionsTo', nodeId)).some(a => a.startsWith('/webrtc/')), 'the page holds a WebRTC link to the Node peer', 20_000)

    const received: string[] = []
    nodePeer.services.directMessages.addEventListener('message', (evt) => { received.push(new TextDecoder().decode(evt.detail.data)) })
    const via = await call(page, 'sendDirect', nodeId, 'page → node')
    assert.match(via, /\/webrtc\//, 'sent over the WebRTC link')
    await waitFor(() => received.includes('page → node'), 'the Node peer got the page\'s message', 10_000)
    const sent = await nodePeer.services.directMessages.send(connection.remotePeer, new TextEncoder().encode('node → page'))
    assert.match(sent.connection.remoteAddr.toString(), /\/webrtc\//)
    await waitFor(async () => (await call(page, 'receivedDirect')).includes(`${nodeId}:node → page`), 'the page got the Node peer\'s message', 10_000)
    assert.equal(connection.remotePeer.toString(), pageId)
  })
})
