import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { serveDapp } from '../../src/cli/serve-dapp.js'
import { launchChromium } from '../fixtures/browser.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { Server } from 'node:http'
import type { Page } from 'playwright-core'

const ARTIFACTS = 'test-artifacts'

describe('example dapp in Chromium', () => {
  let boot: BootstrapPeer
  let server: Server
  let url: string
  let browser: Browser

  before(async () => {
    boot = await createBootstrapPeer({ port: 0 })
    const served = await serveDapp(boot, { port: 0 })
    server = served.server
    url = served.url
    browser = await launchChromium()
    await mkdir(ARTIFACTS, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    server?.closeAllConnections()
    server?.close()
    await boot?.stop()
  })

  async function open (): Promise<{ page: Page, errors: string[] }> {
    const page = await browser.context.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => { errors.push(err.message) })
    await page.goto(url)
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected', null, { timeout: 30_000 })
    return { page, errors }
  }

  it('two pages join through the bootstrap peer and chat over broadcast', async () => {
    const a = await open()
    const b = await open()
    const idA = await a.page.textContent('#self')
    assert.match(idA ?? '', /^12D3KooW/)
    // wait until the bootstrap peer forwards the chat topic for both pages
    await a.page.waitForFunction(() => {
      const node = (globalThis as unknown as { membrane: { services: { broadcast: { subscribers(t: string): unknown[] } } } }).membrane
      return node.services.broadcast.subscribers('membrane-chat').length > 0
    }, null, { timeout: 30_000 })

    await a.page.fill('#message', 'hello from page a')
    await a.page.click('button[type=submit]')
    await b.page.waitForFunction(() => document.getElementById('messages')?.textContent?.includes('hello from page a'), null, { timeout: 30_000 })
    assert.equal(await a.page.textContent('#status'), 'connected')
    await a.page.screenshot({ path: `${ARTIFACTS}/dapp-page-a.png` })
    await b.page.screenshot({ path: `${ARTIFACTS}/dapp-page-b.png` })
    assert.deepEqual([...a.errors, ...b.errors], [])
  })
})
