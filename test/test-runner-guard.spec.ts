/**
 * The suite's runner guard (scripts/blocking-report.js, nodejs/node#64833):
 * with --test-force-exit, every result a test file's process sends reaches the
 * runner. Real `node --test` runs over generated files whose processes stay
 * alive after their tests (as node-datachannel keeps ours), with the preload
 * scripts/test.js installs.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'

const FILES = 12
const TESTS = 50

/** This process's environment for a runner of its own: the guard preloaded, and without this file's NODE_TEST_CONTEXT (which would make it report to this runner instead) */
function runnerEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(resolve('scripts/blocking-report.js')).href}` }
  delete env.NODE_TEST_CONTEXT
  return env
}

async function runGuarded (dir: string, run: number): Promise<{ code: number | null, tap: string }> {
  const files = Array.from({ length: FILES }, (_, i) => join(dir, `f${i}.spec.js`))
  // the runner's own report goes to a file, which node flushes at a forced exit (a pipe it does not);
  // what is under test is the results each file's process sends the runner
  const report = join(dir, `report-${run}.tap`)
  const child = spawn(process.execPath, ['--test', '--test-force-exit', '--test-concurrency=4', '--test-reporter=tap', `--test-reporter-destination=${report}`, ...files], {
    cwd: dir,
    env: runnerEnv(),
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
  return { code, tap: await readFile(report, 'utf8') }
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
      const { code, tap } = await runGuarded(dir, run)
      assert.equal(code, 0)
      assert.match(tap, new RegExp(`^# tests ${FILES * TESTS}$`, 'm'), `run ${run + 1}: ${tap.split('\n').filter(l => /^# (tests|pass|fail) /.test(l)).join(', ') || 'no summary'} (${tap.length} bytes)`)
      assert.match(tap, /^# pass 600$/m)
    }
  })
})
