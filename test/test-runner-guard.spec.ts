/**
 * The suite's runner guard (scripts/blocking-report.js, nodejs/node#64833):
 * with --test-force-exit, every result a test file's process sends reaches the
 * runner. Real `node --test` runs over generated files whose processes stay
 * alive after their tests (as node-datachannel keeps ours), with the preload
 * scripts/test.js installs.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'

const FILES = 12
const TESTS = 50

async function runGuarded (dir: string): Promise<{ code: number | null, tap: string }> {
  const files = Array.from({ length: FILES }, (_, i) => join(dir, `f${i}.spec.js`))
  const child = spawn(process.execPath, ['--test', '--test-force-exit', '--test-concurrency=4', '--test-reporter=tap', ...files], {
    cwd: dir,
    // a runner of its own: without this file's NODE_TEST_CONTEXT, which would make it report to this runner instead
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, NODE_OPTIONS: `--import=${pathToFileURL(resolve('scripts/blocking-report.js')).href}` },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const chunks: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
  const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
  return { code, tap: Buffer.concat(chunks).toString('utf8') }
}

describe('test runner guard: no result lost at a forced exit', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'membrane-force-exit-'))
    // long test names fill the report pipe; the interval keeps each process alive, so only the forced exit ends it
    const body = Array.from({ length: TESTS }, (_, j) => `test(${JSON.stringify(`t${j} ${'x'.repeat(2000)}`)}, () => {})`).join('\n')
    for (let i = 0; i < FILES; i++) {
      await writeFile(join(dir, `f${i}.spec.js`), `import { test } from 'node:test'\n${body}\nsetInterval(() => {}, 1000)\n`)
    }
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it(`reports all ${FILES * TESTS} results of ${FILES} files, twice`, async () => {
    for (let run = 0; run < 2; run++) {
      const { code, tap } = await runGuarded(dir)
      assert.equal(code, 0)
      assert.match(tap, new RegExp(`^# tests ${FILES * TESTS}$`, 'm'), `run ${run + 1}: ${tap.split('\n').filter(l => l.startsWith('# ')).join(', ')}`)
      assert.match(tap, /^# pass 600$/m)
    }
  })
})
