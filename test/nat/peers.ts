/**
 * The test's side of the lab processes: a Node member or bootstrap peer in a
 * namespace (test/nat/peer-process.ts), and coturn.
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { INET_HOST } from './lab.js'
import type { Lab } from './lab.js'
import type { ChildProcess } from 'node:child_process'

const PEER_PROCESS = fileURLToPath(new URL('./peer-process.js', import.meta.url))

/** How long one request to a lab process may take unless the call says otherwise */
const DEFAULT_CALL_TIMEOUT = 60_000

export class LabProcessError extends Error {
  static name = 'LabProcessError'
  name = 'LabProcessError'
}

/** Anything the scenarios drive: a Node process or a Chromium page */
export interface LabPeer {
  readonly label: string
  call<T = unknown>(cmd: string, ...args: unknown[]): Promise<T>
  /** The last lines the peer logged, for failure messages */
  log(): string
  close(): Promise<void>
}

/** A Node process in a lab namespace running peer-process.js */
export class NodePeer implements LabPeer {
  readonly label: string
  private readonly child: ChildProcess
  private readonly pending = new Map<number, { cmd: string, resolve(v: unknown): void, reject(e: Error): void }>()
  private readonly stderr: string[] = []
  private nextId = 0
  private readonly ready: Promise<void>

  constructor (lab: Lab, ns: string, label: string, env?: Record<string, string>) {
    this.label = label
    this.child = lab.spawn(ns, process.execPath, [PEER_PROCESS], env)
    this.child.stderr?.setEncoding('utf8')
    // NAT_LAB_LOG=<dir>: keep each lab process's whole stderr there (set DEBUG for libp2p's logs)
    const logDir = process.env.NAT_LAB_LOG
    const logFile = logDir == null ? undefined : createWriteStream(join(logDir, `${label.replace(/\W+/g, '-')}-${Date.now()}.log`))
    this.child.stderr?.on('data', (chunk: string) => {
      logFile?.write(chunk)
      this.stderr.push(...chunk.split('\n'))
      this.stderr.splice(0, Math.max(0, this.stderr.length - 40))
    })
    let readyResolve: () => void
    let readyReject: (err: Error) => void
    this.ready = new Promise((resolve, reject) => { readyResolve = resolve; readyReject = reject })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: { id?: number, ready?: boolean, result?: unknown, error?: { name: string, message: string } }
      try { msg = JSON.parse(line) } catch { return }
      if (msg.ready === true) { readyResolve(); return }
      const waiter = msg.id == null ? undefined : this.pending.get(msg.id)
      if (waiter == null) { return }
      this.pending.delete(msg.id!)
      if (msg.error != null) {
        const err = new Error(`${label}: ${waiter.cmd}: ${msg.error.message}`)
        err.name = msg.error.name
        waiter.reject(err)
      } else {
        waiter.resolve(msg.result)
      }
    })
    this.child.once('exit', (code, signal) => {
      const err = new LabProcessError(`${label} exited (${code ?? signal})\n${this.log()}`)
      readyReject(err)
      for (const waiter of this.pending.values()) { waiter.reject(err) }
      this.pending.clear()
    })
  }

  async call<T = unknown>(cmd: string, ...args: unknown[]): Promise<T> {
    await this.ready
    const id = ++this.nextId
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new LabProcessError(`${this.label}: ${cmd} did not answer within ${DEFAULT_CALL_TIMEOUT} ms\n${this.log()}`))
      }, DEFAULT_CALL_TIMEOUT)
      this.pending.set(id, {
        cmd,
        resolve: (v) => { clearTimeout(timer); resolve(v as T) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.child.stdin?.write(JSON.stringify({ id, cmd, args }) + '\n')
    })
  }

  log (): string {
    return this.stderr.filter(l => l !== '').slice(-20).join('\n')
  }

  async close (): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null) { return }
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    await this.call('stop').catch(() => {})
    this.child.stdin?.end()
    const timer = setTimeout(() => { if (this.child.pid != null) { try { process.kill(this.child.pid, 'SIGKILL') } catch {} } }, 5000)
    await exited
    clearTimeout(timer)
  }
}

export const TURN_PORT = 3478
export const TURN_REALM = 'membrane.lab'

export interface Coturn {
  /** `stun:` URL of the server */
  stunUrl: string
  /** `turn:` URL (UDP) */
  turnUrl: string
  /** TURN allocations coturn granted so far (from its log) */
  allocations(): Promise<number>
  close(): Promise<void>
}

/**
 * Start coturn in the lab's internet namespace with a static auth secret (the
 * REST API scheme); resolves once its UDP listener is open.
 */
export async function startCoturn (lab: Lab, secret: string): Promise<Coturn> {
  const dir = await mkdtemp(join(tmpdir(), 'membrane-coturn-'))
  // line-buffered stdout: coturn's log reaches the test as it happens
  const child = lab.spawn(lab.ns.inet, '/usr/bin/stdbuf', ['-oL', '/usr/bin/turnserver',
    '-n', '-v', '--no-cli', '--no-tls', '--no-dtls', '--no-tcp-relay',
    '--listening-ip', INET_HOST, '--relay-ip', INET_HOST, '--listening-port', String(TURN_PORT),
    '--min-port', '49152', '--max-port', '49407',
    '--use-auth-secret', '--static-auth-secret', secret, '--realm', TURN_REALM,
    '--fingerprint', '--no-multicast-peers', '--no-software-attribute',
    '--userdb', join(dir, 'turndb'), '--pidfile', join(dir, 'turn.pid'),
    '--log-file', 'stdout', '--simple-log'
  ])
  let log = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => { log += chunk })
  child.stderr?.resume()
  const read = async (): Promise<string> => log
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  const deadline = Date.now() + 10_000
  while (!/Total General servers/.test(await read())) {
    if (child.exitCode != null || Date.now() > deadline) {
      await rm(dir, { recursive: true, force: true })
      throw new Error(`coturn did not start (${child.exitCode ?? 'no listener within 10 s'})`)
    }
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  return {
    stunUrl: `stun:${INET_HOST}:${TURN_PORT}`,
    turnUrl: `turn:${INET_HOST}:${TURN_PORT}?transport=udp`,
    allocations: async () => ((await read()).match(/ALLOCATE processed, success/g) ?? []).length,
    close: async () => {
      if (child.exitCode == null && child.signalCode == null && child.pid != null) {
        process.kill(child.pid, 'SIGTERM')
        await exited
      }
      const log = process.env.NAT_LAB_LOG
      if (log != null) { await writeFile(join(log, `coturn-${Date.now()}.log`), await read()) }
      await rm(dir, { recursive: true, force: true })
    }
  }
}

const CLI = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url))

/**
 * A bootstrap peer run as operators run it: the `membrane bootstrap` CLI in
 * the lab's internet namespace, logging JSON
 */
export class CliBootstrap implements LabPeer {
  readonly label = 'bootstrap (CLI)'
  private readonly stderr: string[] = []
  private constructor (private readonly child: ChildProcess, readonly info: { peerId: string, addrs: string[] }) {
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => { this.stderr.push(chunk) })
  }

  static async start (lab: Lab, args: string[]): Promise<CliBootstrap> {
    const child = lab.spawn(lab.ns.inet, process.execPath, [CLI, 'bootstrap', '--log-format', 'json', ...args])
    const info = await new Promise<{ peerId: string, addrs: string[] }>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new LabProcessError('the bootstrap CLI did not start within 20 s')) }, 20_000)
      child.once('exit', (code) => { clearTimeout(timer); reject(new LabProcessError(`the bootstrap CLI exited (${code})`)) })
      createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          const event = JSON.parse(line) as { event: string, peerId?: string, addrs?: string[] }
          if (event.event === 'started' && event.peerId != null) {
            clearTimeout(timer)
            resolve({ peerId: event.peerId, addrs: (event.addrs ?? []).map(a => a.includes('/p2p/') ? a : `${a}/p2p/${event.peerId}`) })
          }
        } catch {}
      })
    })
    return new CliBootstrap(child, info)
  }

  async call<T = unknown>(cmd: string): Promise<T> {
    throw new LabProcessError(`the CLI bootstrap peer takes no command (${cmd})`)
  }

  log (): string {
    return this.stderr.join('').split('\n').slice(-20).join('\n')
  }

  /** SIGTERM, as systemd stops it */
  async close (): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null || this.child.pid == null) { return }
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    process.kill(this.child.pid, 'SIGTERM')
    await exited
  }
}
