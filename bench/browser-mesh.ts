// Browser mesh bench: six Chromium pages with default options form a mesh of their own, and drop pages that vanish
import { createBootstrapPeer } from '../src/bootstrap/index.js'
import { launchChromium } from '../test/fixtures/browser.js'
import { serveTestPage } from '../test/fixtures/browser-server.js'
import { call, openHarnessPage } from '../test/fixtures/pages.js'
import { waitFor } from '../test/fixtures/wait.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Page } from 'playwright-core'

const PAGES = 6
/** Pages closed per run (no goodbye) */
const VANISH = 2
/** Bounds per run phase: a run that does not finish in time reports null, never hangs the bench */
const FORM_TIMEOUT = 120_000
const VANISH_TIMEOUT = 90_000

interface Run { form: number | null, formEach: number[], vanish: number | null }

/**
 * `browser.mesh.form.s`: six pages start members with the options a dapp would
 * pass (`{ bootstrap, allowLocalDial, topics }`, no public STUN) at the same
 * moment; the time until every page holds at least two direct (WebRTC) member
 * links, from each page's own `createMembrane` call.
 *
 * `browser.vanish.detect.s`: then the bootstrap peer stops, and two pages close
 * without a goodbye (their `pagehide` goodbye suppressed, the way a crashed tab
 * or a lost network looks); the time from each close until every survivor's map
 * has dropped that page (the slowest pair). Times come from `Date.now()` in the
 * pages (the map's `node:remove` event) and in this process: one machine, one clock.
 *
 * Stock libp2p has neither a topology manager nor a map: no stock figure.
 */
export async function browserMeshBench ({ quick }: BenchOptions): Promise<Metric[]> {
  const runs: Run[] = []
  const site = await serveTestPage()
  const browser = await launchChromium()
  try {
    for (let r = 0; r < (quick ? 1 : 3); r++) {
      runs.push(await oneRun(browser, site.url))
    }
  } finally {
    await browser.close()
    await site.close()
  }
  const median = (values: Array<number | null>): number | null => values.some(v => v == null) ? null : percentile(values as number[], 50)
  const extra = { runs: runs.length, pages: PAGES, stock_is: 'none (stock libp2p has no topology manager nor map)' }
  return [
    metric('browser.mesh.form.s', 's', median(runs.map(r => r.form)), null, PAGES, {
      ...extra,
      per_run_s: runs.map(r => r.form),
      per_page_p50_s: percentile(runs.flatMap(r => r.formEach), 50)
    }),
    metric('browser.vanish.detect.s', 's', median(runs.map(r => r.vanish)), null, (PAGES - VANISH) * VANISH, {
      ...extra,
      per_run_s: runs.map(r => r.vanish),
      closed: VANISH,
      bootstrap: 'stopped before the closes'
    })
  ]
}

async function oneRun (browser: Awaited<ReturnType<typeof launchChromium>>, url: string): Promise<Run> {
  const boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false })
  const bootstrap = boot.getMultiaddrs().map(String).filter(a => a.includes('/ws/'))
  const pages: Page[] = []
  try {
    for (let i = 0; i < PAGES; i++) {
      pages.push(await openHarnessPage(browser, url))
    }
    const started: number[] = []
    const ids = await Promise.all(pages.map(async (page, i) => {
      started[i] = Date.now()
      return call(page, 'startMember', { bootstrap })
    }))
    let formEach: number[] = []
    try {
      await waitFor(async () => (await Promise.all(pages.map(async p => call(p, 'meshedTime')))).every(t => t != null), 'every page holds two direct member links', FORM_TIMEOUT, 250)
      formEach = (await Promise.all(pages.map(async p => call(p, 'meshedTime')))).map((t, i) => ((t as number) - started[i]) / 1000)
    } catch {
      return { form: null, formEach, vanish: null }
    }
    const form = Math.max(...formEach)

    await boot.stop()
    await waitFor(async () => (await Promise.all(pages.map(async p => call(p, 'mapNodes')))).every(m => !m.includes(boot.peerId.toString())), 'the bootstrap peer left every map', 30_000, 250)
    const closed = pages.splice(0, VANISH)
    const closedIds = ids.splice(0, VANISH)
    const closedAt: number[] = []
    for (const page of closed) {
      await call(page, 'suppressGoodbye')
      closedAt.push(Date.now())
      await page.close()
    }
    const removed = async (): Promise<Array<Array<number | undefined>>> => Promise.all(pages.map(async p => Promise.all(closedIds.map(async id => call(p, 'removedTime', id)))))
    try {
      await waitFor(async () => (await removed()).every(row => row.every(t => t != null)), 'every survivor dropped every closed page', VANISH_TIMEOUT, 250)
    } catch {
      return { form, formEach, vanish: null }
    }
    const vanish = Math.max(...(await removed()).flatMap(row => row.map((t, j) => ((t as number) - closedAt[j]) / 1000)))
    return { form, formEach, vanish }
  } finally {
    await Promise.allSettled(pages.map(async p => { await call(p, 'stop'); await p.close() }))
    await boot.stop()
  }
}
