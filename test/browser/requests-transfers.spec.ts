import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, openHarnessPage, startPageLab } from '../fixtures/pages.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { TestPageServer } from '../fixtures/browser-server.js'
import type { PageLab } from '../fixtures/pages.js'
import type { Page } from 'playwright-core'

describe('requests and transfers between Chromium pages', () => {
  let boot: BootstrapPeer
  let browser: Browser
  let site: TestPageServer
  let bootstrap: string[]
  let lab: PageLab | undefined
  let a: Page
  let b: Page
  let aId: string
  let bId: string

  before(async () => {
    lab = await startPageLab()
    ;({ boot, bootstrap, site, browser } = lab)
    a = await openHarnessPage(browser, site.url)
    b = await openHarnessPage(browser, site.url)
    aId = await call(a, 'startMember', { bootstrap })
    bId = await call(b, 'startMember', { bootstrap })
    await waitFor(async () => (await call(a, 'mapNodes')).includes(bId) && (await call(b, 'mapNodes')).includes(aId), 'the pages map each other', 30_000)
    // a node on the map is not yet a route to it: wait until each page maps a link of the other
    await waitFor(async () => (await call(a, 'mapEdges')).some(e => e.from === bId || e.to === bId) &&
      (await call(b, 'mapEdges')).some(e => e.from === aId || e.to === aId), 'each page maps a link of the other', 30_000)
  })

  after(async () => {
    await Promise.allSettled([a, b].map(async page => call(page, 'stop')))
    await lab?.close()
  })

  it('a page requests from another by PeerId and the responder sees who asked', async () => {
    await call(b, 'handleEcho', 'echo')
    const { response, remoteAddr } = await call(a, 'request', bId, 'echo', 'hello b')
    assert.equal(response, `${aId}:hello b`)
    // connect() hands back the end-to-end encrypted circuit at once and upgrades to WebRTC behind it;
    // a relay v2 link one page already dialled through the bootstrap peer is a link between the pages too
    assert.match(remoteAddr, /\/webrtc|\/membrane-circuit\/|\/p2p-circuit\/p2p\//, `carried by a link between the pages, got ${remoteAddr}`)
  })

  it('sends 20 MB page → page, with progress on both ends and the same content hash', async () => {
    await call(b, 'handleTransfers', 'files')
    const size = 20 * 1024 * 1024
    const sent = await call(a, 'sendTransfer', bId, 'files', size)
    assert.equal(sent.bytes, size, `over ${sent.remoteAddr} with ${sent.resumes} resumes`)
    assert.equal(sent.lastProgress, size)
    assert.ok(sent.progressEvents > 100)
    await waitFor(async () => (await call(b, 'transfersReceived')).some(t => t.digest !== '' || t.error != null), 'the receiving page finished', 30_000)
    const [got] = await call(b, 'transfersReceived')
    assert.equal(got.error, undefined)
    assert.equal(got.bytes, size)
    assert.equal(got.digest, sent.digest)
    assert.equal(got.lastProgress, size)
    assert.ok(got.progressEvents > 100)
    assert.deepEqual(await call(a, 'pageErrors'), [])
    assert.deepEqual(await call(b, 'pageErrors'), [])
    // admission ran as deployed throughout: it turned no page away
    assert.equal(boot.services.admission.stats().rejected, 0, `admission ${JSON.stringify(boot.services.admission.stats())}, load ${JSON.stringify(boot.services.loadMonitor.figures())}`)
  })
})
