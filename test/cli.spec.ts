import assert from 'node:assert/strict'
import { execFile, spawn, spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url))
// node --test marks its children through this variable; the CLI must run as a plain process
const { NODE_TEST_CONTEXT: _ignored, ...ENV } = process.env

/**
 * An old Node: Debian's system node (v20 on this machine) when it is older
 * than 22; otherwise this Node made to report v20.0.0, which exercises the same check
 */
const OLD_NODE = ((): { path: string, args: string[], version: string } => {
  const system = spawnSync('/usr/bin/node', ['-p', 'process.versions.node'], { encoding: 'utf8' })
  const version = system.status === 0 ? system.stdout.trim() : ''
  if (version !== '' && Number(version.split('.')[0]) < 22) {
    return { path: '/usr/bin/node', args: [], version }
  }
  const pretend = 'Object.defineProperty(process,"versions",{value:{...process.versions,node:"20.0.0"}});Object.defineProperty(process,"version",{value:"v20.0.0"})'
  return { path: process.execPath, args: ['--import', `data:text/javascript,${encodeURIComponent(pretend)}`], version: '20.0.0' }
})()

interface Running { child: ChildProcessWithoutNullStreams, peerId: string, addrs: string[], output: () => string }

/** Start the CLI and wait until it has printed its addresses */
async function startCli (args: string[], env: NodeJS.ProcessEnv = ENV): Promise<Running> {
  const child = spawn(process.execPath, [BIN, ...args], { env })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`CLI did not start: ${stdout} ${stderr}`)) }, 20_000)
    const onExit = (code: number | null): void => { clearTimeout(timer); reject(new Error(`CLI exited with ${code}: ${stderr}`)) }
    child.once('exit', onExit)
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      const addrs = [...stdout.matchAll(/^listening on (\S+)$/gm)].map(m => m[1])
      const peerId = /^membrane bootstrap peer (\S+)$/m.exec(stdout)?.[1]
      const webrtcDirect = args.includes('off') || addrs.some(a => a.includes('/webrtc-direct/'))
      if (peerId != null && addrs.length >= 2 && webrtcDirect) {
        clearTimeout(timer)
        child.off('exit', onExit)
        resolve({ child, peerId, addrs, output: () => stdout })
      }
    })
  })
}

async function stopCli (running: Running, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { running.child.kill('SIGKILL') }, 25_000)
    running.child.once('exit', (code) => { clearTimeout(timer); resolve(code) })
    running.child.kill(signal)
  })
}

interface CliResult { status: number | null, stdout: string, stderr: string }

function runCli (args: string[]): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, env: ENV })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** {@link runCli} without blocking, so independent invocations can overlap */
async function runCliAsync (args: string[]): Promise<CliResult> {
  return new Promise(resolve => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, env: ENV }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code
      resolve({ status: err == null ? 0 : typeof code === 'number' ? code : null, stdout, stderr })
    })
  })
}

/** Run `task` over `items`, at most `limit` at a time, results in order */
async function inBatches <T, R> (items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await task(items[i])
    }
  }))
  return results
}

describe('membrane bootstrap CLI', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'membrane-cli-'))
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('starts, prints TCP and WebSockets addresses, and stops cleanly on SIGINT and SIGTERM', async () => {
    const running = await startCli(['bootstrap', '--port', '0'])
    assert.ok(running.addrs.some(a => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(a)), running.output())
    assert.ok(running.addrs.some(a => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//.test(a)), running.output())
    assert.ok(running.addrs.every(a => a.endsWith(`/p2p/${running.peerId}`)))
    assert.equal(await stopCli(running, 'SIGINT'), 0)
    assert.match(running.output(), /stopped/)
    const again = await startCli(['bootstrap', '--port', '0'])
    assert.equal(await stopCli(again, 'SIGTERM'), 0)
  })

  it('runs its bootstrap peer with --optimize-for-size in the process it was started as, unless MEMBRANE_OPTIMIZE_FOR_SIZE=0', async () => {
    // the flag bounds the heap under attack (src/cli/memory-flags.ts); the CLI re-executes itself with it, keeping its PID
    const flagsOf = async (pid: number): Promise<string[]> => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
    const sized = await startCli(['bootstrap', '--port', '0'])
    const flags = await flagsOf(sized.child.pid!)
    assert.equal(await stopCli(sized), 0)
    assert.ok(flags.includes('--optimize-for-size'), flags.join(' '))
    const plain = await startCli(['bootstrap', '--port', '0'], { ...ENV, MEMBRANE_OPTIMIZE_FOR_SIZE: '0' })
    const plainFlags = await flagsOf(plain.child.pid!)
    assert.equal(await stopCli(plain), 0)
    assert.ok(!plainFlags.includes('--optimize-for-size'), plainFlags.join(' '))
  })

  it('creates the key file with mode 0600 and keeps the same PeerId and WebRTC-direct certhash across restarts', async () => {
    const keyFile = join(dir, 'bootstrap.key')
    const first = await startCli(['bootstrap', '--port', '0', '--key-file', keyFile])
    await stopCli(first)
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
    const second = await startCli(['bootstrap', '--port', '0', '--key-file', keyFile])
    await stopCli(second)
    assert.equal(second.peerId, first.peerId)
    // the WebRTC-direct certificate is kept beside the key file: same certhash after the restart
    const certhash = (running: Running): string | undefined => running.addrs.map(a => /\/certhash\/([^/]+)/.exec(a)?.[1]).find(c => c != null)
    assert.ok(certhash(first) != null, first.output())
    assert.equal(certhash(second), certhash(first))
    assert.equal((await stat(`${keyFile}.webrtc-direct.json`)).mode & 0o777, 0o600)
    const other = await startCli(['bootstrap', '--port', '0', '--key-file', join(dir, 'other.key')])
    await stopCli(other)
    assert.notEqual(other.peerId, first.peerId)
  })

  it('refuses bad input with one line on stderr and a non-zero exit, never a stack trace', async () => {
    const corrupt = join(dir, 'corrupt.key')
    await writeFile(corrupt, 'this is not a key')
    const unreadable = join(dir, 'a-directory.key')
    await (await import('node:fs/promises')).mkdir(unreadable)

    const busy = createServer()
    await new Promise<void>(resolve => busy.listen(0, '127.0.0.1', resolve))
    const busyPort = (busy.address() as { port: number }).port
    const busyUdp = createSocket('udp4')
    await new Promise<void>(resolve => { busyUdp.bind(0, '127.0.0.1', resolve) })
    const busyUdpPort = busyUdp.address().port

    try {
      const cases: Array<[string[], RegExp]> = [
        [['bootstrap', '--port', '70000'], /--port must be an integer/],
        [['bootstrap', '--port', 'abc'], /--port must be an integer/],
        [['bootstrap', '--host', 'not-an-ip'], /host must be an IPv4 or IPv6 address/],
        [['bootstrap', '--host', '192.0.2.1', '--port', '0'], /^membrane: cannot listen on 192\.0\.2\.1: not an address of this machine$/m],
        [['bootstrap', '--host', '192.0.2.1', '--port', '0', '--webrtc-direct-port', 'off'], /cannot listen on 192\.0\.2\.1: not an address of this machine/],
        [['bootstrap', '--host', '2001:db8::1', '--port', '0'], /cannot listen on 2001:db8::1: not an address of this machine/],
        [['bootstrap', '--wss-port', '0'], /--wss-port needs --tls-cert/],
        [['bootstrap', '--log-format', 'xml'], /--log-format must be/],
        [['bootstrap', '--key-file', corrupt, '--port', '0'], /does not hold a libp2p private key/],
        [['bootstrap', '--key-file', unreadable, '--port', '0'], /cannot read key file/],
        [['bootstrap', '--port', String(busyPort)], /address already in use/],
        [['bootstrap', '--port', '0', '--webrtc-direct-port', String(busyUdpPort)], new RegExp(`UDP port ${busyUdpPort} for WebRTC-direct: address already in use`)],
        [['bootstrap', '--no-such-flag'], /Unknown option/],
        [['launch'], /unknown command/]
      ]
      // each invocation loads the whole library before it refuses: two at a time (one per core) halves the wait
      const results = await inBatches(cases, 2, async ([args]) => runCliAsync(args))
      for (const [i, [args, expected]] of cases.entries()) {
        const result = results[i]
        assert.notEqual(result.status, 0, `${args.join(' ')} exits non-zero`)
        assert.match(result.stderr, expected, args.join(' '))
        assert.equal(result.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${result.stderr}`)
        assert.doesNotMatch(result.stderr, /\bat .+:\d+:\d+/, 'no stack trace')
        // node-datachannel's own WARN/ERROR/FATAL lines stay off the terminal
        assert.equal(result.stdout, '', `nothing on stdout for ${args.join(' ')}`)
      }
    } finally {
      busy.close()
      busyUdp.close()
    }
  })

  it('without a command prints usage on stderr and exits 2', () => {
    const result = runCli([])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /^Usage: membrane <command>/)
    assert.equal(result.stdout, '')
  })

  it('on Node < 22 fails at once with the version, exit 2, and writes nothing', async () => {
    const work = await mkdtemp(join(tmpdir(), 'membrane-old-node-'))
    try {
      for (const command of ['start', 'bootstrap']) {
        const result = spawnSync(OLD_NODE.path, [...OLD_NODE.args, BIN, command, '--key-file', 'bootstrap.key', '--port', '0'], { cwd: work, encoding: 'utf8', timeout: 20_000, env: ENV })
        assert.equal(result.status, 2, result.stderr)
        assert.equal(result.stderr, `Membrane needs Node ≥ 22 (found v${OLD_NODE.version})\n`)
        assert.deepEqual(await readdir(work), [], 'no key file, no .membrane folder')
      }
      // the library's Node entry points stop the same way
      for (const entry of ['../src/index.js', '../src/bootstrap/index.js']) {
        const url = new URL(entry, import.meta.url).href
        const result = spawnSync(OLD_NODE.path, [...OLD_NODE.args, '--input-type=module', '-e', `import ${JSON.stringify(url)}`], { cwd: work, encoding: 'utf8', timeout: 20_000, env: ENV })
        assert.equal(result.status, 2, result.stderr)
        assert.equal(result.stderr, `Membrane needs Node ≥ 22 (found v${OLD_NODE.version})\n`)
      }
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  })

  it('prints usage for --help', () => {
    const result = runCli(['--help'])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /membrane <command>/)
    assert.match(result.stdout, /--key-file/)
  })
})
