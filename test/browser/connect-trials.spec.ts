import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, linkDirect, openHarnessPage, startPageLab } from '../fixtures/pages.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { TestPageServer } from '../fixtures/browser-server.js'
import type { PageLab } from '../fixtures/pages.js'
import type { TrialResult } from './pages/harness.js'

/** Page-to-page dials per side; `MEMBRANE_TRIALS` may lower it for a quick local run */
const TRIALS = Number(process.env.MEMBRANE_TRIALS ?? 100)

function summary (results: TrialResult[]): string {
  const ok = results.filter(r => r.ok).length
  const firstAttempt = results.filter(r => r.ok && r.attempts === 1).length
  const errors = [...new Set(results.filter(r => !r.ok).map(r => r.error ?? 'not webrtc'))]
  return `${ok}/${results.length} connected (${firstAttempt} on the first WebRTC attempt)${errors.length > 0 ? `; errors: ${errors.join(' | ')}` : ''}`
}

// stock @libp2p/webrtc relay→WebRTC dials are measured beside these in the browser bench
// (`npm run bench -- --only browser`), not asserted on here: a test must not depend on an upstream bug
describe(`page-to-page WebRTC dials in Chromium, ${TRIALS} trials`, () => {
  let boot: BootstrapPeer
  let browser: Browser
  let site: TestPageServer
  let bootstrap: string[]
  let lab: PageLab | undefined

  before(async () => {
    lab = await startPageLab()
    ;({ boot, bootstrap, site, browser } = lab)
  })

  after(async () => {
    await lab?.close()
  })

  it('Membrane connect() through a middle page yields WebRTC in at least 99 % of trials', async (t) => {
    const [x, m, y] = await Promise.all([0, 1, 2].map(async () => openHarnessPage(browser, site.url)))
    // a fixed line x–m–y: the topology manager would link x and y directly, and the trials need them apart
    const topology = { enabled: false }
    const xId = await call(x, 'startMember', { bootstrap, topology })
    // the middle page forwards every trial's signaling circuit; the default rate limit (30/min) is for strangers
    const mId = await call(m, 'startMember', { bootstrap, topology, meshCircuits: { forwardRate: 10_000 } })
    const yId = await call(y, 'startMember', { bootstrap, topology })
    await linkDirect(m, x)
    await linkDirect(m, y)
    assert.deepEqual(new Set(await call(m, 'peers')), new Set([boot.peerId.toString(), xId, yId]))
    await waitFor(async () => (await call(x, 'mapNodes')).includes(yId), 'x sees y on its map', 20_000)

    const membrane = await call(x, 'connectTrials', yId, [mId], TRIALS)
    const membraneOk = membrane.filter(r => r.ok).length
    t.diagnostic(`Membrane connect() through a middle page: ${summary(membrane)}`)
    assert.equal(membrane.length, TRIALS)
    assert.ok(membraneOk >= Math.ceil(TRIALS * 0.99), `Membrane connect() succeeded ${membraneOk}/${TRIALS}: ${summary(membrane)}`)
  })
})
