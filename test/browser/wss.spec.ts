import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { launchChromium } from '../fixtures/browser.js'
import { serveTestPage } from '../fixtures/browser-server.js'
import { selfSignedCertificate } from '../fixtures/tls.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Browser } from '../fixtures/browser.js'
import type { TestPageServer } from '../fixtures/browser-server.js'

describe('a page served over https joins through secure WebSockets', () => {
  let boot: BootstrapPeer
  let browser: Browser
  let site: TestPageServer
  let tls: ReturnType<typeof selfSignedCertificate>

  before(async () => {
    tls = selfSignedCertificate()
    boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false, tls: { port: 0, cert: tls.cert, key: tls.key } })
    site = await serveTestPage({ cert: tls.cert, key: tls.key })
    // the test certificate is self-signed; a deployment uses a trusted one
    browser = await launchChromium(['--ignore-certificate-errors'])
  })

  after(async () => {
    await browser?.close()
    await site?.close()
    await boot?.stop()
    tls?.cleanup()
  })

  it('connects with only a /tls/ws address offered', async () => {
    const wss = boot.getMultiaddrs().map(String).filter(a => a.includes('/tls/ws'))
    assert.equal(wss.length, 1, `one secure WebSockets address in ${boot.getMultiaddrs().map(String).join(', ')}`)
    assert.ok(site.url.startsWith('https://'))
    const page = await browser.context.newPage()
    await page.goto(site.url)
    const remotes = await page.evaluate(async (bootstrap) => {
      // @ts-expect-error served by the test server
      const { createMembrane } = await import('/membrane.js')
      const node = await createMembrane({ bootstrap, allowLocalDial: true, webrtc: { rtcConfiguration: { iceServers: [] } } })
      const deadline = Date.now() + 20_000
      while (node.getConnections().length === 0 && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      return { secure: window.isSecureContext, addrs: node.getConnections().map((c: { remoteAddr: { toString(): string } }) => c.remoteAddr.toString()) }
    }, wss)
    assert.equal(remotes.secure, true, 'the page is a secure context')
    assert.equal(remotes.addrs.length, 1, JSON.stringify(remotes))
    assert.match(remotes.addrs[0], /\/tls\/ws/)
  })
})
