import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { webSockets } from '@libp2p/websockets'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { serveDapp } from '../../src/cli/serve-dapp.js'
import { launchChromium } from '../fixtures/browser.js'
import { startStockTcpNode } from '../fixtures/stock.js'
import { waitFor } from '../fixtures/wait.js'
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
    // gossip and the map work: the bootstrap peer's record is on the page's map, linked to it
    await page.waitForFunction(() => /^(through the bootstrap peer only|linked to \d+ members?)/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 30_000 })
    return { page, errors }
  }

  it('two pages join through the bootstrap peer and chat over broadcast', async () => {
    const a = await open()
    const b = await open()
    // b names itself; the name is kept in localStorage and published in b's map record after the reload
    await b.page.fill('#alias', 'bea')
    await Promise.all([b.page.waitForNavigation(), b.page.click('#alias-form button[type=submit]')])
    await b.page.waitForFunction(() => /^(through the bootstrap peer only|linked to)/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 30_000 })
    assert.equal(await b.page.inputValue('#alias'), 'bea')
    const idA = await a.page.textContent('#self')
    assert.match(idA ?? '', /^12D3KooW/)
    // wait until the bootstrap peer forwards the chat topic for both pages
    await a.page.waitForFunction(() => {
      const node = (globalThis as unknown as { membrane: { services: { broadcast: { subscribers(t: string): unknown[] } } } }).membrane
      return node.services.broadcast.subscribers('membrane-chat').length > 0
    }, null, { timeout: 30_000 })

    await a.page.fill('#message', 'hello from page a')
    await a.page.click('#send-form button[type=submit]')
    await b.page.waitForFunction(() => document.getElementById('messages')?.textContent?.includes('hello from page a'), null, { timeout: 30_000 })
    // gossip and the map work (the default topology may already have linked the pages)
    assert.match(await a.page.textContent('#status') ?? '', /^(through the bootstrap peer only|linked to 1 member (directly|through relays))$/)
    // your own message is marked as yours; the bootstrap peer is not counted as a peer
    assert.equal(await a.page.textContent('#messages li.own .from'), 'you')
    await a.page.waitForFunction((bootId) => {
      const node = (globalThis as unknown as { membrane: { getPeers(): Array<{ toString(): string }> } }).membrane
      return document.getElementById('peer-count')?.textContent === String(node.getPeers().filter(p => p.toString() !== bootId).length)
    }, boot.peerId.toString(), { timeout: 30_000 })
    await a.page.screenshot({ path: `${ARTIFACTS}/dapp-page-a.png` })
    await b.page.screenshot({ path: `${ARTIFACTS}/dapp-page-b.png` })

    // the map on each page shows both pages and the bootstrap peer, linked
    for (const { page } of [a, b]) {
      await page.waitForFunction(() => Number(document.getElementById('map')?.dataset.nodes) >= 3 && Number(document.getElementById('map')?.dataset.edges) >= 2, null, { timeout: 30_000 })
    }
    const idB = await b.page.textContent('#self') as string

    // a direct message to the chosen peer, named by the alias b saved (it is in b's map record)
    await a.page.waitForFunction((id) => [...(document.getElementById('target') as HTMLSelectElement).options].some(o => o.value === id && o.text === 'direct to bea'), idB, { timeout: 30_000 })
    await a.page.selectOption('#target', idB)
    await a.page.fill('#message', 'just for b')
    await a.page.click('#send-form button[type=submit]')
    await b.page.waitForFunction(() => [...document.querySelectorAll('#messages li.direct')].some(li => li.textContent?.includes('just for b')), null, { timeout: 30_000 })
    // the target goes back to everyone after a direct message
    await a.page.waitForFunction(() => (document.getElementById('target') as HTMLSelectElement).value === '', null, { timeout: 30_000 })
    // the direct message made a member link: a join notice, a peer counted, and the status says so
    await a.page.waitForFunction(() => [...document.querySelectorAll('#messages li.info')].some(li => li.textContent === 'bea joined'), null, { timeout: 30_000 })
    await a.page.waitForFunction(() => document.getElementById('peer-count')?.textContent === '1', null, { timeout: 30_000 })
    // connect() upgrades the link to WebRTC
    await a.page.waitForFunction(() => document.getElementById('status')?.textContent === 'linked to 1 member directly', null, { timeout: 30_000 })

    await a.page.screenshot({ path: `${ARTIFACTS}/dapp-desktop.png`, fullPage: true })
    await b.page.setViewportSize({ width: 390, height: 844 })
    await b.page.waitForTimeout(500)
    await b.page.screenshot({ path: `${ARTIFACTS}/dapp-phone.png`, fullPage: true })
    const overflow = await b.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    assert.ok(overflow <= 0, `no horizontal scrolling at phone width (overflow ${overflow}px)`)
    assert.deepEqual([...a.errors, ...b.errors], [])
  })

  it('an unreachable bootstrap address: a clear message, and retries with growing delays', async () => {
    const page = await browser.context.newPage()
    // a closed port on loopback, the bootstrap peer's own id
    await page.goto(`${url}?bootstrap=${encodeURIComponent(`/ip4/127.0.0.1/tcp/9/ws/p2p/${boot.peerId.toString()}`)}`)
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('retrying in 1 s'), null, { timeout: 30_000 })
    assert.match(await page.textContent('#status') ?? '', /^offline — /)
    assert.ok(await page.$eval('#status', el => el.classList.contains('error')))
    // the cause is named (a browser cannot tell refused from unreachable), never "unknown error"
    assert.match(await page.textContent('#status') ?? '', /cannot reach the network: no bootstrap peer answered \(1 tried\): connection failed: refused or unreachable/)
    // backoff: the next round waits longer
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('retrying in 2 s'), null, { timeout: 30_000 })
    await page.screenshot({ path: `${ARTIFACTS}/dapp-unreachable.png` })
    await page.close()
  })

  it('a bootstrap peer that accepts the connection but negotiates nothing: the status never says working, and names the cause', async () => {
    // a stock libp2p node on WebSockets with no identify and no handlers: the page connects, every protocol is refused
    const silent = await startStockTcpNode({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] }, transports: [webSockets()] })
    let opened = 0
    silent.addEventListener('connection:open', () => { opened++ })
    const page = await browser.context.newPage()
    try {
      await page.goto(`${url}?bootstrap=${encodeURIComponent(silent.getMultiaddrs()[0].toString())}`)
      // a connection exists, but neither gossip nor the map works: not "connected"
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'joining — no chat peer yet, not on the map yet', null, { timeout: 30_000 })
      // first contact closes it after its protocol deadline and says why
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('negotiated no protocol within 10000 ms'), null, { timeout: 40_000 })
      assert.ok(await page.$eval('#status', el => el.classList.contains('error')))
      assert.deepEqual(await page.$eval('#status', el => ({ map: el.dataset.map, gossip: el.dataset.gossip })), { map: 'false', gossip: 'false' })
      // and redials
      await waitFor(() => opened >= 2, 'the page redialled the silent peer', 30_000)
      await page.screenshot({ path: `${ARTIFACTS}/dapp-no-protocol.png` })
    } finally {
      await page.close()
      await silent.stop()
    }
  })

  it('a malformed bootstrap address: the page says so and does not hang', async () => {
    const page = await browser.context.newPage()
    await page.goto(`${url}?bootstrap=not-a-multiaddr`)
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('malformed'), null, { timeout: 30_000 })
    assert.match(await page.textContent('#status') ?? '', /bootstrap address "not-a-multiaddr" is malformed/)
    await page.close()
  })
})
