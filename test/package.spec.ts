import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

// dist/test → package root
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

describe('npm test set-up (scripts/setup.js)', () => {
  it('passes on a machine that has everything (this one: npm test ran it first)', () => {
    const result = spawnSync(process.execPath, ['scripts/setup.js', '--check'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
    assert.equal(result.status, 0, result.stderr)
    assert.equal(result.stderr, '')
  })

  it('fails and names what to install when a requirement is missing', () => {
    // an empty PATH hides chromium (through CHROMIUM_PATH) and openssl; --check never installs
    const result = spawnSync(process.execPath, ['scripts/setup.js', '--check'], {
      cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: { PATH: '/nonexistent', CHROMIUM_PATH: '/nonexistent/chromium' }
    })
    assert.equal(result.status, 1)
    assert.match(result.stderr, /chromium not found \(Debian package chromium\)/)
    assert.match(result.stderr, /openssl not found \(Debian package openssl\)/)
    assert.match(result.stderr, /apt-get install -y .*chromium.*openssl/)
  })
})
