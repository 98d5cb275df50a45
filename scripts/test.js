// Runs the compiled test suites with node's test runner. `--only <dir>` limits
// the run to dist/<dir> (e.g. `--only interop`).
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const args = process.argv.slice(2)
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined
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
// --test-force-exit: node-datachannel (WebRTC in Node) can keep a finished test file's event loop alive
const result = spawnSync(process.execPath, [
  '--test', '--test-force-exit', '--test-concurrency=1', '--test-timeout=300000', '--test-reporter=spec',
  ...files
], { stdio: 'inherit' })
process.exit(result.status ?? 1)
