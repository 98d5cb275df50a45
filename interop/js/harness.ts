/**
 * Drives the stock peers (interop/js/stock-peer.ts, interop/go, interop/rust):
 * builds them, starts one process per cell, reads its JSON events and sends
 * it JSON commands.
 */

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

export type Impl = 'js' | 'go' | 'rust'

export interface StockEvent {
  event: string
  [field: string]: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The repository root (this file runs from dist/interop/js) */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

/** How long a cold build may take: rust-libp2p from scratch on two cores */
export const BUILD_TIMEOUT = 30 * 60_000

/** How long a stock peer may take to start and print `ready` */
const START_TIMEOUT = 20_000

/** How long one expected event may take to arrive */
export const EVENT_TIMEOUT = 20_000

async function run (command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += String(chunk) })
    child.stderr.on('data', (chunk) => { stderr += String(chunk) })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) {
        resolve(stdout)
      } else {
        reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr.slice(-4000)}`))
      }
    })
  })
}

const builds = new Map<Impl, Promise<string[]>>()

/**
 * The command line that starts `impl`'s stock peer, building it first (go and
 * rust) with interop/build.sh. Rejects when the toolchain is missing: a missing
 * toolchain fails the matrix, it is never skipped.
 */
export async function stockPeerCommand (impl: Impl): Promise<string[]> {
  let build = builds.get(impl)
  if (build == null) {
    build = impl === 'js'
      ? Promise.resolve([process.execPath, join(ROOT, 'dist/interop/js/stock-peer.js')])
      : run('bash', [join(ROOT, 'interop/build.sh'), impl]).then(out => [out.trim().split('\n').pop() ?? ''])
    builds.set(impl, build)
  }
  return build
}

/** A running stock peer process */
export class StockPeer {
  readonly impl: Impl
  readonly events: StockEvent[] = []
  peerId = ''
  private readonly child: ChildProcessWithoutNullStreams
  private stderr = ''
  private exit?: { code: number | null, signal: NodeJS.Signals | null }
  private readonly waiters = new Set<() => void>()

  private constructor (impl: Impl, command: string[]) {
    this.impl = impl
    this.child = spawn(command[0], command.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line))
      } catch {
        this.events.push({ event: 'unparsed', line })
      }
      this.wake()
    })
    this.child.stderr.on('data', (chunk) => { this.stderr = (this.stderr + String(chunk)).slice(-8000) })
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal }
      this.wake()
    })
    this.child.on('error', (err) => {
      this.stderr += `\nspawn error: ${err.message}`
      this.exit = { code: -1, signal: null }
      this.wake()
    })
  }

  /** Start `impl`'s stock peer with these flags and wait for it to be ready */
  static async start (impl: Impl, flags: string[]): Promise<StockPeer> {
    const peer = new StockPeer(impl, [...await stockPeerCommand(impl), ...flags])
    const ready = await peer.waitEvent(e => e.event === 'ready', 'ready', START_TIMEOUT)
    peer.peerId = ready.peer
    return peer
  }

  /** True while the process runs */
  alive (): boolean {
    return this.exit == null && this.child.exitCode == null
  }

  /** Send one command on stdin */
  send (command: Record<string, string>): void {
    this.child.stdin.write(JSON.stringify(command) + '\n')
  }

  /**
   * The first event (already received or still to come) matching `predicate`.
   * Fails early when the process exits.
   */
  async waitEvent (predicate: (e: StockEvent) => boolean, what: string, timeout = EVENT_TIMEOUT): Promise<StockEvent> {
    const deadline = Date.now() + timeout
    while (true) {
      const found = this.events.find(predicate)
      if (found != null) {
        return found
      }
      if (!this.alive()) {
        throw new Error(`[${this.impl}] stock peer exited (${JSON.stringify(this.exit)}) before: ${what}\n${this.diagnostics()}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new Error(`[${this.impl}] timed out after ${timeout} ms waiting for: ${what}\n${this.diagnostics()}`)
      }
      await new Promise<void>(resolve => {
        const wake = (): void => { clearTimeout(timer); this.waiters.delete(wake); resolve() }
        const timer = setTimeout(wake, left)
        this.waiters.add(wake)
      })
    }
  }

  /** The stock peer's listen address for a transport, with its /p2p suffix */
  async address (transport: 'tcp' | 'ws'): Promise<string> {
    const isWs = (a: string): boolean => a.includes('/ws')
    const listening = await this.waitEvent(e => e.event === 'listening' && e.addr.startsWith('/ip4/127.0.0.1/') &&
      !e.addr.includes('/p2p-circuit') && (transport === 'ws') === isWs(e.addr), `a ${transport} listen address`)
    const addr: string = listening.addr
    return addr.includes('/p2p/') ? addr : `${addr}/p2p/${this.peerId}`
  }

  /** Ask the stock peer to ping `peer` and wait for the result */
  async ping (peer: string, timeout = EVENT_TIMEOUT): Promise<number> {
    const seen = this.events.length
    this.send({ cmd: 'ping', peer })
    const result = await this.waitEvent(e => this.events.indexOf(e) >= seen && (e.event === 'ping' || (e.event === 'error' && e.context === 'ping')) && (e.peer === peer || e.peer == null),
      `ping result for ${peer}`, timeout)
    if (result.event === 'error') {
      throw new Error(`[${this.impl}] ping ${peer} failed: ${result.error}`)
    }
    return Number(result.rtt)
  }

  /** Recent events and stderr, for failure messages */
  diagnostics (): string {
    return `events:\n${this.events.slice(-25).map(e => JSON.stringify(e)).join('\n')}\nstderr:\n${this.stderr.slice(-3000)}`
  }

  /** Close stdin (the peer exits), then signal it if it lingers */
  async stop (): Promise<void> {
    if (!this.alive()) {
      return
    }
    const exited = new Promise<void>(resolve => this.child.once('exit', () => { resolve() }))
    this.child.stdin.end()
    const timer = setTimeout(() => { this.child.kill('SIGTERM') }, 5_000)
    const hard = setTimeout(() => { this.child.kill('SIGKILL') }, 10_000)
    await exited
    clearTimeout(timer)
    clearTimeout(hard)
  }

  private wake (): void {
    for (const wake of [...this.waiters]) {
      wake()
    }
  }
}
