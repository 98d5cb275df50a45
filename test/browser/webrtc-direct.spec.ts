import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebRTCDirect } from '@multiformats/multiaddr-matcher'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { launchChromium } from '../fixtures/browser.js'
import { serveTestPage } from '../fixtures/browser-server.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { TestPageServer } from '../fixtures/browser-server.js'

describe('a Chromium page joins a bootstrap peer over WebRTC-direct', () => {
  let boot: BootstrapPeer
  let browser: Browser
  let site: TestPageServer

  before(async () => {
    boot = await createBootstrapPeer({ port: 0 })
    site = await serveTestPage()
    browser = await launchChromium()
  })

  after(async () => {
    await browser?.close()
    await site?.close()
    await boot?.stop()
  })

  it('connects with only a certhash address offered (no ws://) and exchanges broadcasts with a Node peer', async () => {
    const direct = boot.getMultiaddrs().filter(ma => WebRTCDirect.matches(ma)).map(String)
    assert.equal(direct.length, 1)
    const page = await browser.context.newPage()
    await page.goto(site.url)
    const result = await page.evaluate(async (bootstrap) => {
      // @ts-expect-error served by the test server
      const { createMembrane } = await import('/membrane.js')
      const node = await createMembrane({ bootstrap, allowLocalDial: true, webrtc: { rtcConfiguration: { iceServers: [] } } })
      Object.assign(globalThis, { node, inbox: [] })
      node.services.broadcast.subscribe('over-direct', (msg: { data: Uint8Array }) => {
        (globalThis as unknown as { inbox: string[] }).inbox.push(new TextDecoder().decode(msg.data))
      })
      const deadline = Date.now() + 20_000
      while (node.getConnections().length === 0 && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      return { peerId: node.peerId.toString(), remotes: node.getConnections().map((c: { remoteAddr: { toString(): string } }) => c.remoteAddr.toString()) }
    }, direct)
    assert.equal(result.remotes.length, 1, `connected: ${JSON.stringify(result.remotes)}`)
    assert.match(result.remotes[0], /\/webrtc-direct\/certhash\//)
    assert.ok(!result.remotes[0].includes('/ws'))

    // the bootstrap peer publishes; the page receives over the WebRTC-direct connection
    await waitFor(() => boot.services.broadcast.subscribers('over-direct').some(p => p.toString() === result.peerId), 'page subscription reached the bootstrap peer', 20_000)
    boot.services.broadcast.subscribe('over-direct')
    // the page sees the bootstrap peer join the topic, so gossipsub will route to it
    await page.waitForFunction(() => (globalThis as unknown as { node: { services: { broadcast: { subscribers(t: string): unknown[] } } } }).node.services.broadcast.subscribers('over-direct').length > 0, null, { timeout: 20_000 })
    await new Promise(resolve => setTimeout(resolve, 1500))
    await boot.services.broadcast.publish('over-direct', new TextEncoder().encode('hello https page'))
    await page.waitForFunction(() => (globalThis as unknown as { inbox: string[] }).inbox.includes('hello https page'), null, { timeout: 20_000 })
  })
})
