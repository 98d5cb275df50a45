// Runs the compiled test suites with node's test runner. `--only <dir>` limits
// the run to dist/<dir> (e.g. `--only interop`).
//
// The files run in two lanes at once, each lane one file at a time, so that a
// 2-core machine is used while one lane waits on the network, a child process
// or Chromium:
//   - "processes": the suites that drive Chromium, network namespaces, the CLI,
//     the packed package, the multi-process map bench, stock go/rust/js
//     peers, a keep-alive peer process or a busy-loop process (each starts
//     processes of its own, and some bind the CLI's default ports, so they
//     never overlap one another);
//   - "nodes": every other suite (libp2p nodes inside the test process).
// Each lane's report is printed whole when the lane ends, then one summary.
// `--serial` runs everything in one lane (the order of the old runner).
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'

const args = process.argv.slice(2)
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined
const serial = args.includes('--serial')
const roots = only != null ? [join('dist', only)] : ['dist/test', 'dist/interop']

function specs (dir) {
  let out = []
  let entries
  try { entries = readdirSync(dir) } catch { return out }
  for (const name of entries) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out = out.concat(specs(path))
    else if (name.endsWith('.spec.js')) out.push(path)
  }
  return out
}

const files = roots.flatMap(specs).sort()
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}`)
  process.exit(1)
}

const PROCESS_DIRS = ['browser', 'nat'].map(d => `${sep}${d}${sep}`)
// keep-alive and admission start node processes of their own too; they also even out the lanes' lengths
const PROCESS_FILES = ['package.spec.js', 'cli.spec.js', 'network-map-bench.spec.js', 'keep-alive.spec.js', 'admission.spec.js']
const startsProcesses = (file) =>
  file.startsWith(join('dist', 'interop')) ||
  PROCESS_DIRS.some(d => file.includes(d)) ||
  PROCESS_FILES.some(f => file.endsWith(`${sep}${f}`))

const lanes = serial
  ? [{ name: 'all', files }]
  : [
      { name: 'processes', files: files.filter(startsProcesses) },
      { name: 'nodes', files: files.filter(f => !startsProcesses(f)) }
    ].filter(lane => lane.files.length > 0)

// each test file's process reports over a blocking pipe: see scripts/blocking-report.js (nodejs/node#64833)
const nodeOptions = [process.env.NODE_OPTIONS, `--import=${pathToFileURL(resolve('scripts/blocking-report.js')).href}`].filter(o => o != null && o !== '').join(' ')

/** Runs one lane's files with node's test runner; resolves with its exit code and whole report */
function run (lane) {
  // the runner's report goes to a file, which node flushes at its forced exit (a pipe it can cut short)
  const destination = join(reportDir, `${lane.name}.txt`)
  return new Promise((resolve) => {
    // --test-force-exit: node-datachannel (WebRTC in Node) can keep a finished test file's event loop alive
    const child = spawn(process.execPath, [
      '--test', '--test-force-exit', '--test-concurrency=1', '--test-timeout=300000',
      '--test-reporter=spec', `--test-reporter-destination=${destination}`,
      ...lane.files
    ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '0', NODE_OPTIONS: nodeOptions } })
    const chunks = []
    child.stdout.on('data', (chunk) => chunks.push(chunk))
    child.stderr.on('data', (chunk) => chunks.push(chunk))
    const started = Date.now()
    child.on('close', (code, signal) => {
      let report = ''
      try { report = readFileSync(destination, 'utf8') } catch (err) { report = `(no report: ${err.message})\n` }
      resolve({ lane, code: code ?? 1, signal, report: report + Buffer.concat(chunks).toString('utf8'), seconds: (Date.now() - started) / 1000 })
    })
  })
}

const reportDir = mkdtempSync(join(tmpdir(), 'membrane-test-'))
const started = Date.now()
const results = await Promise.all(lanes.map(async (lane) => {
  const result = await run(lane)
  process.stdout.write(`\n===== lane "${lane.name}": ${lane.files.length} files, ${result.seconds.toFixed(0)} s, exit ${result.code}${result.signal != null ? ` (${result.signal})` : ''} =====\n`)
  process.stdout.write(result.report)
  return result
}))

// the spec reporter ends each report with "ℹ tests N", "ℹ pass N", … lines
const totals = {}
for (const { report } of results) {
  for (const [, key, value] of report.matchAll(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) {
    totals[key] = (totals[key] ?? 0) + Number(value)
  }
}
rmSync(reportDir, { recursive: true, force: true })
const failed = results.filter(r => r.code !== 0)
process.stdout.write(`\n===== suite: ${Object.entries(totals).map(([k, v]) => `${k} ${v}`).join(', ')}; ${((Date.now() - started) / 1000).toFixed(0)} s; ` +
  `${failed.length === 0 ? 'every lane passed' : `failed lanes: ${failed.map(r => r.lane.name).join(', ')}`} =====\n`)
process.exit(failed.length === 0 ? 0 : 1)
