import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, reloadHarnessPage, startDefaultPage, startPageLab, waitMeshed } from '../fixtures/pages.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { TestPageServer } from '../fixtures/browser-server.js'
import type { PageLab } from '../fixtures/pages.js'
import type { Page } from 'playwright-core'

/** Pages in the mesh: one Chromium, six tabs */
const PAGES = 6

/** Indexes of two pages whose removal leaves the rest connected by the member links `links[i]` (peer ids) */
function survivablePair (ids: string[], links: string[][]): number[] | undefined {
  for (let a = 0; a < ids.length; a++) {
    for (let b = a + 1; b < ids.length; b++) {
      const rest = ids.filter((_, i) => i !== a && i !== b)
      const seen = new Set([rest[0]])
      for (let grew = true; grew;) {
        grew = false
        for (const [i, id] of ids.entries()) {
          if (!rest.includes(id)) { continue }
          for (const other of links[i]) {
            if (rest.includes(other) && (seen.has(id) !== seen.has(other))) {
              seen.add(id)
              seen.add(other)
              grew = true
            }
          }
        }
      }
      if (seen.size === rest.length) { return [a, b] }
    }
  }
  return undefined
}

/**
 * Six Chromium pages started with default options (`{ bootstrap, allowLocalDial,
 * topics }`, no public STUN) link to each other over WebRTC, keep talking once
 * the bootstrap peer is gone, and drop pages that vanish without a goodbye.
 */
describe('Chromium pages with default options form a mesh of their own', () => {
  let boot: BootstrapPeer
  let browser: Browser
  let site: TestPageServer
  let bootstrap: string[]
  let lab: PageLab | undefined
  const pages: Page[] = []
  const ids: string[] = []

  const mapOf = async (page: Page): Promise<string[]> => call(page, 'mapNodes')

  before(async () => {
    lab = await startPageLab()
    ;({ boot, bootstrap, site, browser } = lab)
  })

  after(async () => {
    await Promise.allSettled(pages.map(async page => call(page, 'stop')))
    await lab?.close()
  })

  it('six pages link to each other: every page holds at least two direct member links and maps all six', async () => {
    for (let i = 0; i < PAGES; i++) {
      const { page, id } = await startDefaultPage(browser, site.url, bootstrap)
      pages.push(page)
      ids.push(id)
    }
    await waitMeshed(pages, 120_000)
    for (const page of pages) {
      await waitFor(async () => { const map = await mapOf(page); return ids.every(id => map.includes(id)) }, 'the page maps all six pages', 30_000)
      // the bootstrap peer is never a member link
      assert.ok((await call(page, 'memberLinks')).every(l => l.id !== boot.peerId.toString()))
    }
    assert.deepEqual(await Promise.all(pages.map(async page => call(page, 'pageErrors'))), pages.map(() => []))
  })

  it('a reloaded page rejoins: a new member with its own member links, on every map, the old one gone', async () => {
    const i = PAGES - 1
    const old = ids[i]
    // a reload fires pagehide: the old node says goodbye
    await reloadHarnessPage(pages[i])
    ids[i] = await call(pages[i], 'startMember', { bootstrap })
    assert.notEqual(ids[i], old)
    await waitMeshed([pages[i]], 120_000)
    for (const page of pages) {
      await waitFor(async () => { const map = await mapOf(page); return map.includes(ids[i]) && !map.includes(old) }, 'the page maps the rejoined page, not its old node', 30_000)
    }
  })

  it('with the bootstrap peer stopped, each page\'s broadcast reaches every other page', async () => {
    await boot.stop()
    for (const page of pages) {
      await waitFor(async () => !(await mapOf(page)).includes(boot.peerId.toString()), 'the bootstrap peer left the map', 30_000)
      await waitFor(async () => (await call(page, 'subscribers')).length > 0, 'the page has topic peers without the bootstrap peer', 30_000)
    }
    await Promise.all(pages.map(async (page, i) => { await call(page, 'publish', `serverless ${i}`) }))
    for (const [i, page] of pages.entries()) {
      const expected = pages.map((_, j) => j).filter(j => j !== i).map(j => `serverless ${j}`)
      await waitFor(async () => { const got = await call(page, 'received'); return expected.every(m => got.includes(m)) }, `page ${i} received every other page's broadcast`, 30_000)
    }
  })

  it('after two pages close without a goodbye, the survivors still deliver and their maps drop the closed pages', async () => {
    // two pages whose loss leaves the other four linked among themselves: a page whose every link went to the
    // two closed ones would be cut off for good (no bootstrap peer left to re-enter through), which no
    // topology can heal. The mesh usually offers such a pair; wait for one while the managers add links
    let closed: number[] = []
    await waitFor(async () => {
      const links = await Promise.all(pages.map(async page => (await call(page, 'memberLinks')).map(l => l.id)))
      closed = survivablePair(ids, links) ?? []
      return closed.length === 2
    }, 'two pages whose loss leaves the others linked', 60_000)
    const closedIds = closed.map(i => ids[i])
    for (const i of closed) {
      await call(pages[i], 'suppressGoodbye')
      await pages[i].close()
    }
    const survivors = pages.filter((_, i) => !closed.includes(i))
    const survivorIds = ids.filter((_, i) => !closed.includes(i))
    pages.splice(0, pages.length, ...survivors)
    ids.splice(0, ids.length, ...survivorIds)
    for (const page of survivors) {
      await waitFor(async () => { const map = await mapOf(page); return closedIds.every(id => !map.includes(id)) }, 'the closed pages left the survivor\'s map', 60_000)
      assert.ok((await call(page, 'mapEdges')).every(e => !closedIds.includes(e.from) && !closedIds.includes(e.to)), 'no edge to a closed page')
    }
    for (const page of survivors) {
      await waitFor(async () => (await call(page, 'subscribers')).length > 0, 'the survivor has topic peers', 30_000)
    }
    await Promise.all(survivors.map(async (page, i) => { await call(page, 'publish', `survivor ${i}`) }))
    for (const [i, page] of survivors.entries()) {
      const expected = survivors.map((_, j) => j).filter(j => j !== i).map(j => `survivor ${j}`)
      await waitFor(async () => { const got = await call(page, 'received'); return expected.every(m => got.includes(m)) }, `survivor ${i} received every other survivor's broadcast`, 30_000)
    }
  })
})
