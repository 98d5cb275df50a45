import { createBootstrapPeer } from '../dist/src/bootstrap/index.js'
import { launchChromium } from '../dist/test/fixtures/browser.js'
import { serveTestPage } from '../dist/test/fixtures/browser-server.js'
import { call, openHarnessPage } from '../dist/test/fixtures/pages.js'
import { waitFor } from '../dist/test/fixtures/wait.js'
const N = Number(process.argv[2] ?? 20)
const mode = process.argv[3] ?? 'both'
const boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false, load: { cpu: Infinity, eventLoopLag: Infinity } })
const bootstrap = boot.getMultiaddrs().map(String).filter(a => a.includes('/ws/'))
const site = await serveTestPage()
const browser = await launchChromium()
if (process.env.LOG) await browser.context.addInitScript((d) => { localStorage.setItem('debug', d) }, process.env.LOG)
const logs = []
if (process.env.TRACE) await browser.context.addInitScript(() => {
  const Orig = RTCPeerConnection
  let n = 0
  globalThis.RTCPeerConnection = class extends Orig {
    constructor (...a) {
      super(...a); const id = ++n; const t0 = performance.now(); const log = (m) => console.log(`PC${id} +${Math.round(performance.now() - t0)} ${m}`)
      this.__log = log
      this.addEventListener('connectionstatechange', () => log('conn ' + this.connectionState))
      this.addEventListener('signalingstatechange', () => log('sig ' + this.signalingState))
      this.addEventListener('iceconnectionstatechange', () => log('ice ' + this.iceConnectionState))
      this.addEventListener('datachannel', (e) => { const c = e.channel; log('remote dc ' + c.label + ' ' + c.id + ' ' + c.readyState); c.addEventListener('close', () => log('remote dc close ' + c.label + ' ' + c.id)); c.addEventListener('open', () => log('remote dc open ' + c.label + ' ' + c.id)) })
    }
  }
  const cdc = Orig.prototype.createDataChannel
  Orig.prototype.createDataChannel = function (label, init) {
    const c = cdc.call(this, label, init); const log = this.__log ?? console.log
    log('create dc ' + label + ' ' + c.id)
    c.addEventListener('open', () => log('dc open ' + label + ' ' + c.id)); c.addEventListener('close', () => log('dc close ' + label + ' ' + c.id + ' isTrusted=?'))
    return c
  }
})
async function page () { const p = await openHarnessPage(browser, site.url); const tag = String(Math.random()).slice(2, 5); p.on('console', m => { if (process.env.LOG || process.env.TRACE) logs.push(tag + ' ' + m.text()) }); return p }
function sum (name, r) { console.log(name, r.filter(x => x.ok).length + '/' + r.length, 'first', r.filter(x => x.ok && x.attempts === 1).length, JSON.stringify(r.filter(x => !x.ok).map(x => [Math.round(x.ms), x.attempts, x.error])), 'ms ok', r.filter(x=>x.ok).map(x=>Math.round(x.ms)).join(',')) }
if (mode !== 'stock') {
  const [x, m, y] = [await page(), await page(), await page()]
  const xId = await call(x, 'startMember', { bootstrap })
  const mId = await call(m, 'startMember', { bootstrap, circuit: { forwardRate: 10000 } })
  const yId = await call(y, 'startMember', { bootstrap })
  for (const to of [x, y]) {
    await waitFor(async () => (await call(to, 'webrtcAddress')) != null, 'res', 20000)
    const a = await call(to, 'webrtcAddress')
    for (let i = 0; i < 3; i++) { try { console.log('link', await call(m, 'dial', a)); break } catch (e) { console.log('link fail', e.message) } }
  }
  await waitFor(async () => (await call(x, 'mapNodes')).includes(yId), 'map', 20000)
  sum('membrane', await call(x, 'connectTrials', yId, [mId], N))
}
if (mode !== 'membrane') {
  const [s1, s2] = [await page(), await page()]
  await call(s1, 'startStock', bootstrap); await call(s2, 'startStock', bootstrap)
  await waitFor(async () => (await call(s2, 'stockWebrtcAddress')) != null, 'res', 20000)
  sum('stock', await call(s1, 'stockTrials', await call(s2, 'stockWebrtcAddress'), N, 5000))
}
if (process.env.LOG || process.env.TRACE) (await import('node:fs')).writeFileSync('/tmp/page.log', logs.join('\n'))
await browser.close(); await site.close(); await boot.stop(); process.exit(0)
