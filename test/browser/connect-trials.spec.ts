import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { launchChromium } from '../fixtures/browser.js'
import { serveTestPage } from '../fixtures/browser-server.js'
import { call, linkDirect, openHarnessPage } from '../fixtures/pages.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { TestPageServer } from '../fixtures/browser-server.js'
import type { TrialResult } from './pages/harness.js'

/** Page-to-page dials per side; `MEMBRANE_TRIALS` may lower it for a quick local run */
const TRIALS = Number(process.env.MEMBRANE_TRIALS ?? 100)
/** A stock dial that has not connected by now is hung on the init-channel race (healthy ones take < 1 s here) */
const STOCK_DIAL_TIMEOUT = 5000
/** How long the stock loop may run beside the Membrane one, ms */
const STOCK_BUDGET = 60_000

function summary (results: TrialResult[]): string {
  const ok = results.filter(r => r.ok).length
  const firstAttempt = results.filter(r => r.ok && r.attempts === 1).length
  const errors = [...new Set(results.filter(r => !r.ok).map(r => r.error ?? 'not webrtc'))]
  return `${ok}/${results.length} connected (${firstAttempt} on the first WebRTC attempt)${errors.length > 0 ? `; errors: ${errors.join(' | ')}` : ''}`
}

describe(`page-to-page WebRTC dials in Chromium, ${TRIALS} trials each`, () => {
  let boot: BootstrapPeer
  let browser: Browser
  let site: TestPageServer
  let bootstrap: string[]

  before(async () => {
    // this process also drives Chromium: its CPU must not count as bootstrap load (stock pages cannot answer proof-of-work)
    boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false, load: { cpu: Infinity, eventLoopLag: Infinity } })
    bootstrap = boot.getMultiaddrs().map(String).filter(a => a.includes('/ws/'))
    site = await serveTestPage()
    browser = await launchChromium()
  })

  after(async () => {
    await browser?.close()
    await site?.close()
    await boot?.stop()
  })

  it(`Membrane connect() through a middle page beside stock relay→WebRTC dials (stock pages carry no guard)`, async (t) => {
    const [x, m, y, s1, s2] = await Promise.all([0, 1, 2, 3, 4].map(async () => openHarnessPage(browser, site.url)))
    const xId = await call(x, 'startMember', { bootstrap })
    // the middle page forwards every trial's signaling circuit; the default rate limit (30/min) is for strangers
    const mId = await call(m, 'startMember', { bootstrap, circuit: { forwardRate: 10_000 } })
    const yId = await call(y, 'startMember', { bootstrap })
    await linkDirect(m, x)
    await linkDirect(m, y)
    assert.deepEqual(new Set(await call(m, 'peers')), new Set([boot.peerId.toString(), xId, yId]))
    await waitFor(async () => (await call(x, 'mapNodes')).includes(yId), 'x sees y on its map', 20_000)

    const membrane = await call(x, 'connectTrials', yId, [mId], TRIALS)

    // stock pages start only now, so the two loops do not share the machine; the stock loop is
    // slow (every hung dial costs its timeout) and stops after STOCK_BUDGET, the bench runs all of it
    await call(s1, 'startStock', bootstrap)
    await call(s2, 'startStock', bootstrap)
    await waitFor(async () => (await call(s2, 'stockWebrtcAddress')) != null, 'stock relay reservation', 20_000)
    const s2Addr = await call(s2, 'stockWebrtcAddress') as string
    const stock = await call(s1, 'stockTrials', s2Addr, TRIALS, STOCK_DIAL_TIMEOUT, STOCK_BUDGET)
    const membraneOk = membrane.filter(r => r.ok).length
    const stockOk = stock.filter(r => r.ok).length
    t.diagnostic(`Membrane connect() through a middle page: ${summary(membrane)}`)
    t.diagnostic(`stock @libp2p/webrtc relay→WebRTC dial: ${summary(stock)}`)
    assert.ok(membraneOk >= Math.ceil(TRIALS * 0.99), `Membrane connect() succeeded ${membraneOk}/${TRIALS}`)
    // the race is real here: stock dials without the guard fail measurably often
    assert.ok(stock.length >= 20, `${stock.length} stock dials ran`)
    assert.ok(stockOk < stock.length, `stock dials all succeeded (${stockOk}/${stock.length}): the race did not show, the comparison says nothing`)
  })
})
