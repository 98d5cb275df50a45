// Browser bench: page-to-page direct links in Chromium, Membrane beside stock js-libp2p in one run
import { createBootstrapPeer } from '../src/bootstrap/index.js'
import { launchChromium } from '../test/fixtures/browser.js'
import { serveTestPage } from '../test/fixtures/browser-server.js'
import { call, linkDirect, openHarnessPage } from '../test/fixtures/pages.js'
import { waitFor } from '../test/fixtures/wait.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'

/** A stock dial not connected by now hangs on the init-channel race (healthy ones take < 1.5 s here) */
const STOCK_DIAL_TIMEOUT = 5000

/**
 * `browser.upgrade.p50/p95`: a direct WebRTC link between two pages, Membrane's
 * connect() through a middle page beside stock relay→WebRTC through the
 * bootstrap's relay. `browser.connect.success`: share of page-to-page dials
 * that end in a WebRTC link (Membrane connect() vs stock dials without the
 * init-channel guard). Launching Chromium throws when it is missing: no skip.
 */
export async function browserBench ({ quick }: BenchOptions): Promise<Metric[]> {
  const timingTrials = quick ? 10 : 20
  const successTrials = quick ? 30 : 100
  const boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false })
  const bootstrap = boot.getMultiaddrs().map(String).filter(a => a.includes('/ws/'))
  const site = await serveTestPage()
  const browser = await launchChromium()
  try {
    const [x, m, y] = [await openHarnessPage(browser, site.url), await openHarnessPage(browser, site.url), await openHarnessPage(browser, site.url)]
    // a fixed line x–m–y, as in test/browser/connect-trials: the topology manager would link x and y directly
    const topology = { enabled: false }
    await call(x, 'startMember', { bootstrap, topology })
    const mId = await call(m, 'startMember', { bootstrap, topology, circuit: { forwardRate: 10_000 } })
    const yId = await call(y, 'startMember', { bootstrap, topology })
    await linkDirect(m, x)
    await linkDirect(m, y)
    await waitFor(async () => (await call(x, 'mapNodes')).includes(yId), 'map', 20_000)
    const membrane = await call(x, 'connectTrials', yId, [mId], Math.max(timingTrials, successTrials))
    await Promise.all([x, m, y].map(async p => { await call(p, 'stop'); await p.close() }))

    const [s1, s2] = [await openHarnessPage(browser, site.url), await openHarnessPage(browser, site.url)]
    await call(s1, 'startStock', bootstrap)
    await call(s2, 'startStock', bootstrap)
    await waitFor(async () => (await call(s2, 'stockWebrtcAddress')) != null, 'stock relay reservation', 20_000)
    const stock = await call(s1, 'stockTrials', await call(s2, 'stockWebrtcAddress') as string, Math.max(timingTrials, successTrials), STOCK_DIAL_TIMEOUT)

    const mTimes = membrane.slice(0, timingTrials).filter(r => r.ok).map(r => r.ms)
    const sTimes = stock.slice(0, timingTrials).filter(r => r.ok).map(r => r.ms)
    const extra = { membrane_is: 'connect() through a middle page (mesh circuit signaling)', stock_is: 'stock relay→WebRTC via the bootstrap relay, no guard', stock_ok: sTimes.length, membrane_ok: mTimes.length }
    const rate = (rs: Array<{ ok: boolean }>): number => rs.filter(r => r.ok).length / rs.length
    return [
      metric('browser.upgrade.p50', 'ms', percentile(mTimes, 50), percentile(sTimes, 50), timingTrials, extra),
      metric('browser.upgrade.p95', 'ms', percentile(mTimes, 95), percentile(sTimes, 95), timingTrials, extra),
      metric('browser.connect.success', 'fraction', rate(membrane.slice(0, successTrials)), rate(stock.slice(0, successTrials)), successTrials, {
        membrane_first_attempt: membrane.slice(0, successTrials).filter(r => r.ok && r.attempts === 1).length / successTrials,
        stock_dial_timeout_ms: STOCK_DIAL_TIMEOUT
      })
    ]
  } finally {
    await browser.close()
    await site.close()
    await boot.stop()
  }
}
