import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { serveDapp } from '../../src/cli/serve-dapp.js'
import { contentHash } from '../../src/transfers/hash.js'
import { launchChromium } from '../fixtures/browser.js'
import { tcpAddress } from '../fixtures/nodes.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { Server } from 'node:http'
import type { Page } from 'playwright-core'

interface PageNode { getConnections(): Array<{ remotePeer: { toString(): string }, remoteAddr: { toString(): string } }>, peerId: { toString(): string } }

/** A page's open connections, as `peer via address`, for a failure's message */
async function linksOf (page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as { membrane: PageNode }).membrane.getConnections().map(c => `${c.remotePeer.toString().slice(-6)} via ${c.remoteAddr.toString()}`))
}

describe('the self-hosting demo in Chromium: publish on one page, fetch from another after the host\'s bootstrap peer stopped', () => {
  // the first page's bootstrap peer, and the one the other pages use; they mesh with each other
  let first: BootstrapPeer
  let second: BootstrapPeer
  const servers: Server[] = []
  let browser: Browser
  const pages: Page[] = []
  const ids: string[] = []
  const errors: string[] = []
  const big = new Uint8Array(3 * 1024 * 1024)
  for (let i = 0; i < big.byteLength; i += 65536) {
    crypto.getRandomValues(big.subarray(i, i + 65536))
  }

  before(async () => {
    // admission as deployed: the load is this process's own, so driving Chromium from here does not count
    first = await createBootstrapPeer({ port: 0, webrtcDirectPort: false })
    second = await createBootstrapPeer({ port: 0, webrtcDirectPort: false, peers: [tcpAddress(first)] })
    await waitFor(() => second.getConnections(first.peerId).length > 0, 'the bootstrap peers mesh', 20_000)
    browser = await launchChromium()
    const urls: string[] = []
    for (const boot of [first, second]) {
      const served = await serveDapp(boot, { port: 0 })
      servers.push(served.server)
      urls.push(served.url)
    }
    for (const url of [urls[0], urls[1], urls[1]]) {
      const page = await browser.context.newPage()
      page.on('pageerror', (err) => { errors.push(err.message) })
      await page.goto(`${url}self-hosting/`)
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected', null, { timeout: 30_000 })
      ids.push(await page.textContent('#self') ?? '')
      pages.push(page)
    }
  })

  after(async () => {
    await browser?.close()
    for (const server of servers) {
      server.closeAllConnections()
      server.close()
    }
    await Promise.allSettled([first?.stop(), second?.stop()])
  })

  it('lists what the first page publishes on the others, and serves it after its bootstrap peer is gone', async () => {
    const [host, reader] = pages
    const hostId = ids[0]
    await host.fill('#res-name', 'hello.txt')
    await host.fill('#res-text', 'hello from the first page')
    await host.click('#publish-button')
    await host.fill('#res-name', 'big.bin')
    await host.setInputFiles('#res-file', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.from(big) })
    await host.click('#publish-button')
    assert.equal(await host.locator('#mine li').count(), 2)

    // the lists spread on the channel to both other pages
    for (const page of pages.slice(1)) {
      await page.waitForSelector(`#resources li[data-host="${hostId}"][data-name="big.bin"]`, { timeout: 30_000 })
      await page.waitForSelector(`#resources li[data-host="${hostId}"][data-name="hello.txt"]`, { timeout: 30_000 })
    }
    // the topology manager links the pages to each other
    await host.waitForFunction((others) => {
      const node = (globalThis as unknown as { membrane: PageNode }).membrane
      return node.getConnections().some(c => others.includes(c.remotePeer.toString()))
    }, ids.slice(1), { timeout: 60_000 })

    await first.stop()
    await host.waitForFunction((boot) => {
      const node = (globalThis as unknown as { membrane: PageNode }).membrane
      return !node.getConnections().some(c => c.remotePeer.toString() === boot)
    }, first.peerId.toString(), { timeout: 20_000 })

    // small: by request (the list still shows the host: its page republishes over the page links)
    await reader.waitForSelector(`#resources li[data-host="${hostId}"][data-name="hello.txt"]`, { timeout: 30_000 })
    await reader.click(`#resources li[data-host="${hostId}"][data-name="hello.txt"] button`)
    await reader.waitForSelector('#viewer[data-state="done"], #viewer[data-state="failed"]', { timeout: 30_000 })
    assert.equal(await reader.getAttribute('#viewer', 'data-state'), 'done', `the reader says: ${await reader.textContent('#viewer-status')}`)
    assert.equal(await reader.textContent('#content'), 'hello from the first page')
    assert.match(await reader.textContent('#viewer-status') ?? '', /by request/)

    // large: by transfer, with the progress bar moving
    await reader.evaluate(() => {
      const seen: number[] = []
      Object.assign(globalThis, { progressSeen: seen })
      const bar = document.getElementById('progress') as HTMLProgressElement
      new MutationObserver(() => { seen.push(bar.value) }).observe(bar, { attributes: true, attributeFilter: ['value'] })
    })
    await reader.click(`#resources li[data-host="${hostId}"][data-name="big.bin"] button`)
    // done, or failed with its reason shown; either way the assertion below names what the page says
    await reader.waitForSelector('#viewer[data-state="done"][data-digest], #viewer[data-state="failed"]', { timeout: 60_000 })
    assert.equal(await reader.getAttribute('#viewer', 'data-state'), 'done', `the reader says: ${await reader.textContent('#viewer-status')}; the host says: ${await host.textContent('#status')}; ` +
      `host ${hostId.slice(-6)} links: ${(await linksOf(host)).join(', ')}; reader links: ${(await linksOf(reader)).join(', ')}`)
    assert.match(await reader.textContent('#viewer-status') ?? '', /3145728 bytes by transfer, hash verified/)
    assert.equal(await reader.getAttribute('#viewer', 'data-digest'), uint8ArrayToString(await contentHash(big), 'base16'))
    const seen = await reader.evaluate(() => (globalThis as unknown as { progressSeen: number[] }).progressSeen)
    assert.ok(seen.some(v => v > 0 && v < 1), `intermediate progress, saw ${seen.length} values`)
    assert.equal(seen.at(-1), 1)
    assert.deepEqual(errors, [])
    // admission ran as deployed throughout: it turned no page away
    for (const boot of [first, second]) {
      assert.equal(boot.services.admission.stats().rejected, 0, `admission ${JSON.stringify(boot.services.admission.stats())}, load ${JSON.stringify(boot.services.loadMonitor.figures())}`)
    }
  })
})
