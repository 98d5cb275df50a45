// Browser bench: page-to-page direct links in Chromium, Membrane beside stock js-libp2p in one run
import { createBootstrapPeer } from '../src/bootstrap/index.js'
import { launchChromium } from '../test/fixtures/browser.js'
import { serveTestPage } from '../test/fixtures/browser-server.js'
import { call, linkDirect, openHarnessPage } from '../test/fixtures/pages.js'
import { waitFor } from '../test/fixtures/wait.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { TrialResult } from '../test/browser/pages/harness.js'

/** A stock dial not connected by now hangs on the init-channel race (healthy ones take < 1.5 s here) */
const STOCK_DIAL_TIMEOUT = 5000

/**
 * `browser.upgrade.p50/p95`: a direct WebRTC link between two pages, Membrane's
 * connect() through a middle page beside stock relay→WebRTC through the
 * bootstrap's relay. `browser.connect.success`: share of page-to-page dials
 * that end in a WebRTC link (Membrane connect() vs stock dials without the
 * init-channel guard), over the same trials (200, `--quick` 30). The
 * upgrade figures also give, from a second opener page through the same
 * middle page, Membrane without the early handshake (`without_early_handshake_*`).
 * `browser.upgrade.phase.*`: see phaseMetrics. Launching Chromium throws
 * when it is missing: no skip.
 */
/**
 * `browser.upgrade.phase.<name>.p50`: when each progress event arrived, ms
 * after the dial started, over the successful first-attempt trials, in the
 * order the phases end. A name both sides emit (libp2p's `webrtc:*` dial
 * events) gets the stock figure beside it.
 */
/** Failed trials by error message (first 100 characters) */
function errorSummary (rs: TrialResult[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of rs.filter(r => !r.ok)) {
    const key = (r.error ?? 'not webrtc').slice(0, 100)
    out[key] = (out[key] ?? 0) + 1
  }
  return out
}

function phaseMetrics (membrane: TrialResult[], stock: TrialResult[]): Metric[] {
  const times = (rs: TrialResult[], name: string): number[] => rs.flatMap(r => r.phases?.[name] ?? [])
  const m = membrane.filter(r => r.ok && r.attempts === 1)
  const s = stock.filter(r => r.ok)
  const names = [...new Set(m.flatMap(r => Object.keys(r.phases ?? {})))]
  const phases = names.map(name => ({ name, p50: percentile(times(m, name), 50) })).sort((a, b) => a.p50 - b.p50)
  const stockOnly = [...new Set(s.flatMap(r => Object.keys(r.phases ?? {})))].filter(n => !names.includes(n))
  return [
    ...phases.map(({ name, p50 }) => {
      const st = times(s, name)
      return metric(`browser.upgrade.phase.${name}.p50`, 'ms', p50, st.length > 0 ? percentile(st, 50) : null, times(m, name).length)
    }),
    ...stockOnly.map(name => metric(`browser.upgrade.phase.${name}.p50`, 'ms', null, percentile(times(s, name), 50), times(s, name).length, { side: 'stock only' }))
  ]
}

export async function browserBench ({ quick }: BenchOptions): Promise<Metric[]> {
  // every trial counts for both the times and the success rate
  const trials = quick ? 30 : 200
  const boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false })
  const bootstrap = boot.getMultiaddrs().map(String).filter(a => a.includes('/ws/'))
  const site = await serveTestPage()
  const browser = await launchChromium()
  try {
    const [x, m, y] = [await openHarnessPage(browser, site.url), await openHarnessPage(browser, site.url), await openHarnessPage(browser, site.url)]
    // a fixed line x–m–y, as in test/browser/connect-trials: the topology manager would link x and y directly
    const topology = { enabled: false }
    await call(x, 'startMember', { bootstrap, topology })
    const mId = await call(m, 'startMember', { bootstrap, topology, meshCircuits: { forwardRate: 10_000 } })
    const yId = await call(y, 'startMember', { bootstrap, topology })
    await linkDirect(m, x)
    await linkDirect(m, y)
    await waitFor(async () => (await call(x, 'mapNodes')).includes(yId), 'map', 20_000)
    const membrane = await call(x, 'connectTrials', yId, [mId], trials)
    // the same through the same middle page from an opener that waits for each answer (earlyHandshake: false)
    const x2 = await openHarnessPage(browser, site.url)
    await call(x2, 'startMember', { bootstrap, meshCircuits: { earlyHandshake: false } })
    await linkDirect(m, x2)
    await waitFor(async () => (await call(x2, 'mapNodes')).includes(yId), 'map', 20_000)
    const sequential = await call(x2, 'connectTrials', yId, [mId], trials)
    await Promise.all([x, x2, m, y].map(async p => { await call(p, 'stop'); await p.close() }))

    const [s1, s2] = [await openHarnessPage(browser, site.url), await openHarnessPage(browser, site.url)]
    await call(s1, 'startStock', bootstrap)
    await call(s2, 'startStock', bootstrap)
    await waitFor(async () => (await call(s2, 'stockWebrtcAddress')) != null, 'stock relay reservation', 20_000)
    const stock = await call(s1, 'stockTrials', await call(s2, 'stockWebrtcAddress') as string, trials, STOCK_DIAL_TIMEOUT)

    const mTimes = membrane.filter(r => r.ok).map(r => r.ms)
    const sTimes = stock.filter(r => r.ok).map(r => r.ms)
    const seqTimes = sequential.filter(r => r.ok).map(r => r.ms)
    const seqPhase = (name: string): number => percentile(sequential.filter(r => r.ok && r.attempts === 1).flatMap(r => r.phases?.[name] ?? []), 50)
    const cut = {
      without_early_handshake_p50: percentile(seqTimes, 50),
      without_early_handshake_p95: percentile(seqTimes, 95),
      without_early_handshake_ok: seqTimes.length,
      without_early_handshake_circuit_p50: seqPhase('circuit'),
      without_early_handshake_noise_p50: seqPhase('noise'),
      without_early_handshake_errors: errorSummary(sequential)
    }
    const extra = { membrane_is: 'connect() through a middle page (mesh circuit signaling)', stock_is: 'stock relay→WebRTC via the bootstrap relay, no guard', stock_ok: sTimes.length, membrane_ok: mTimes.length, membrane_errors: errorSummary(membrane), stock_errors: errorSummary(stock) }
    const rate = (rs: Array<{ ok: boolean }>): number => rs.filter(r => r.ok).length / rs.length
    return [
      metric('browser.upgrade.p50', 'ms', percentile(mTimes, 50), percentile(sTimes, 50), trials, { ...extra, ...cut }),
      metric('browser.upgrade.p95', 'ms', percentile(mTimes, 95), percentile(sTimes, 95), trials, { ...extra, membrane_max: Math.max(...mTimes), stock_max: Math.max(...sTimes) }),
      metric('browser.connect.success', 'fraction', rate(membrane), rate(stock), trials, {
        membrane_first_attempt: membrane.filter(r => r.ok && r.attempts === 1).length / trials,
        stock_dial_timeout_ms: STOCK_DIAL_TIMEOUT
      }),
      ...phaseMetrics(membrane, stock)
    ]
  } finally {
    await browser.close()
    await site.close()
    await boot.stop()
  }
}
