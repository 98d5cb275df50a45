/**
 * A Membrane member in a Chromium page inside a lab namespace. Chromium runs
 * under `ip netns exec`; the page and the library bundle are served by the
 * test through request interception, so nothing listens anywhere for them.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS } from '../fixtures/browser.js'
import type { LabPeer } from './peers.js'
import type { BrowserContext, Page } from 'playwright-core'

const ORIGIN = 'http://membrane.lab'
const BUNDLE = fileURLToPath(new URL('../../browser/membrane.js', import.meta.url))

/**
 * The in-page side: the same commands as peer-process.ts, on the browser
 * build. Runs in the page (serialised by playwright), so it imports nothing.
 */
function installCommands (): void {
  const TOPIC = 'nat-lab'
  const broadcasts: string[] = []
  const directs: string[] = []
  let node: any // eslint-disable-line @typescript-eslint/no-explicit-any
  const until = async (predicate: () => boolean, what: string, timeout: number): Promise<void> => {
    const deadline = Date.now() + timeout
    while (!predicate()) {
      if (Date.now() > deadline) { throw new Error(`timed out after ${timeout} ms waiting for ${what}`) }
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  }
  const peer = (id: string): any => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const known = node.services.networkMap.nodes().find((m: any) => m.id.toString() === id)?.id ?? // eslint-disable-line @typescript-eslint/no-explicit-any
      node.getConnections().find((c: any) => c.remotePeer.toString() === id)?.remotePeer // eslint-disable-line @typescript-eslint/no-explicit-any
    if (known == null) { throw new Error(`peer ${id} is not on this page's map`) }
    return known
  }
  const kind = (addr: string): string => addr.includes('/membrane-circuit') ? 'circuit' : addr.includes('/webrtc') ? 'webrtc' : addr.includes('/p2p-circuit') ? 'relay' : 'direct'
  const commands: Record<string, (...args: any[]) => unknown> = { // eslint-disable-line @typescript-eslint/no-explicit-any
    async startMember (init: { bootstrap: string[], iceServers?: RTCIceServer[] }) {
      // @ts-expect-error served by the test
      const { createMembrane } = await import('/membrane.js')
      node = await createMembrane({
        bootstrap: init.bootstrap,
        allowLocalDial: true,
        topics: [TOPIC],
        webrtc: { rtcConfiguration: { iceServers: init.iceServers ?? [] } }
      })
      node.services.broadcast.addEventListener('message', (evt: any) => { broadcasts.push(new TextDecoder().decode(evt.detail.data)) }) // eslint-disable-line @typescript-eslint/no-explicit-any
      node.services.directMessages.addEventListener('message', (evt: any) => { directs.push(new TextDecoder().decode(evt.detail.data)) }) // eslint-disable-line @typescript-eslint/no-explicit-any
      return node.peerId.toString()
    },
    async waitForPeer (id: string, timeout: number) {
      await until(() => node.services.networkMap.nodes().some((m: any) => m.id.toString() === id) && node.services.networkMap.path(peer(id)) != null, `a map path to ${id}`, timeout) // eslint-disable-line @typescript-eslint/no-explicit-any
    },
    async waitForIceServers (turn: boolean, timeout: number) {
      await until(() => node.services.iceServers.servers().some((s: any) => turn ? s.username != null : String(s.urls).startsWith('stun:')), 'ICE servers from the bootstrap peer', timeout) // eslint-disable-line @typescript-eslint/no-explicit-any
      return node.services.iceServers.servers().map((s: any) => String(s.urls)) // eslint-disable-line @typescript-eslint/no-explicit-any
    },
    async connect (id: string, timeout: number) {
      const started = Date.now()
      // connect() hands back the circuit first; the scenario reports the link it ends with
      const usable = await node.services.meshCircuits.connect(peer(id), { signal: AbortSignal.timeout(timeout) })
      const usableMs = Date.now() - started
      const result = await usable.upgrade
      return { kind: result.kind, ms: Date.now() - started, usableKind: usable.kind, usableMs, remoteAddr: result.connection.remoteAddr.toString() }
    },
    async sendDirect (id: string, text: string, timeout: number) {
      const result = await node.services.directMessages.send(peer(id), new TextEncoder().encode(text), { signal: AbortSignal.timeout(timeout) })
      return { kind: kind(result.connection.remoteAddr.toString()), remoteAddr: result.connection.remoteAddr.toString() }
    },
    async waitForSubscriber (id: string, timeout: number) {
      await until(() => node.services.broadcast.subscribers(TOPIC).some((p: any) => p.toString() === id), `${id} subscribed`, timeout) // eslint-disable-line @typescript-eslint/no-explicit-any
    },
    async publish (text: string) {
      await node.services.broadcast.publish(TOPIC, new TextEncoder().encode(text))
    },
    async waitForBroadcast (text: string, timeout: number) {
      await until(() => broadcasts.includes(text), `broadcast "${text}"`, timeout)
    },
    async waitForDirect (text: string, timeout: number) {
      await until(() => directs.includes(text), `direct message "${text}"`, timeout)
    },
    async waitForDisconnect (id: string, timeout: number) {
      await until(() => node.getConnections().every((c: any) => c.remotePeer.toString() !== id), `no connection to ${id}`, timeout) // eslint-disable-line @typescript-eslint/no-explicit-any
    },
    circuitStats () {
      return node.services.meshCircuits.stats()
    },
    async stop () {
      await node?.stop()
    }
  }
  Object.assign(globalThis, { labCommands: commands })
}

export class PagePeer implements LabPeer {
  readonly label: string
  private readonly errors: string[] = []
  private constructor (label: string, private readonly context: BrowserContext, private readonly page: Page, private readonly dir: string) {
    this.label = label
    page.on('pageerror', (err) => { this.errors.push(err.message) })
    page.on('console', (msg) => { if (msg.type() === 'error') { this.errors.push(msg.text()) } })
  }

  /** Launch Chromium inside `ns` with one page holding the lab commands */
  /** `publicEndpoints`: `ip:port` of the lab's internet that Chromium must treat as public, as they stand for public hosts */
  static async launch (ns: string, label: string, publicEndpoints: string[] = []): Promise<PagePeer> {
    const dir = await mkdtemp(join(tmpdir(), 'membrane-nat-chromium-'))
    const wrapper = join(dir, 'chromium')
    await writeFile(wrapper, `#!/bin/sh\nexec /usr/sbin/ip netns exec '${ns}' '${CHROMIUM}' "$@"\n`)
    await chmod(wrapper, 0o755)
    try {
      const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
        executablePath: wrapper,
        headless: true,
        // private addresses stand for the public internet here; without this, Local Network Access blocks the page's dials
        args: [...CHROMIUM_ARGS, ...(publicEndpoints.length > 0 ? [`--ip-address-space-overrides=${publicEndpoints.map(e => `${e}=public`).join(',')}`] : [])]
      })
      const bundle = await readFile(BUNDLE)
      await context.route(`${ORIGIN}/**`, async (route) => {
        const path = new URL(route.request().url()).pathname
        if (path === '/membrane.js') {
          await route.fulfill({ status: 200, contentType: 'text/javascript', body: bundle })
        } else if (path === '/') {
          await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>nat lab</title>' })
        } else {
          await route.fulfill({ status: 404 })
        }
      })
      const page = context.pages()[0] ?? await context.newPage()
      await page.goto(`${ORIGIN}/`)
      await page.evaluate(installCommands)
      return new PagePeer(label, context, page, dir)
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  async call<T = unknown>(cmd: string, ...args: unknown[]): Promise<T> {
    try {
      return await this.page.evaluate(async ([name, argv]) => {
        const commands = (globalThis as unknown as { labCommands: Record<string, (...a: unknown[]) => unknown> }).labCommands
        return commands[name as string](...(argv as unknown[]))
      }, [cmd, args] as const) as T
    } catch (err) {
      throw new Error(`${this.label}: ${cmd}: ${(err as Error).message}`)
    }
  }

  log (): string {
    return this.errors.slice(-20).join('\n')
  }

  async close (): Promise<void> {
    await this.call('stop').catch(() => {})
    await this.context.close().catch(() => {})
    await rm(this.dir, { recursive: true, force: true })
  }
}
