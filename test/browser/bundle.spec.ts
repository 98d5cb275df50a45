import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { describe, it } from 'node:test'
import { build } from 'esbuild'
import type { Metafile } from 'esbuild'

// dist/test/browser → package root
const ROOT = new URL('../../../', import.meta.url)
const BUILTINS = new Set(builtinModules.map(m => m.replace(/^node:/, '').split('/')[0]))

/** Node built-ins (or their npm polyfills, or esbuild's disabled stand-ins) a bundle pulled in or left as imports */
function nodeBuiltinsIn (meta: Metafile): string[] {
  const found: string[] = []
  for (const input of Object.keys(meta.inputs)) {
    const pkg = input.includes('node_modules/') ? input.split('node_modules/').pop()?.split('/')[0] : undefined
    if (input.startsWith('node:') || input.startsWith('(disabled):') || (pkg != null && BUILTINS.has(pkg))) {
      found.push(input)
    }
  }
  for (const output of Object.values(meta.outputs)) {
    for (const imported of output.imports) {
      if (imported.external && (imported.path.startsWith('node:') || BUILTINS.has(imported.path.split('/')[0]))) {
        found.push(imported.path)
      }
    }
  }
  return found
}

async function metafile (path: string): Promise<Metafile> {
  return JSON.parse(await readFile(new URL(path, ROOT), 'utf8')) as Metafile
}

describe('browser bundles', () => {
  it('the library bundle (dist/browser/membrane.js) contains no Node built-ins or polyfills', async () => {
    const meta = await metafile('dist/browser/membrane.meta.json')
    assert.ok(Object.keys(meta.inputs).some(i => i.includes('@libp2p/webrtc')), 'the metafile lists the bundle inputs')
    assert.deepEqual(nodeBuiltinsIn(meta), [])
  })

  it('the dapp bundle (dist/dapp/app.js) contains no Node built-ins or polyfills', async () => {
    const meta = await metafile('dist/dapp/app.meta.json')
    assert.deepEqual(nodeBuiltinsIn(meta), [])
  })

  it('the check finds a Node built-in when one is imported', async () => {
    const result = await build({
      stdin: { contents: 'import { randomBytes } from "node:crypto"; import { EventEmitter } from "events"; console.log(randomBytes, EventEmitter)' },
      bundle: true, write: false, metafile: true, platform: 'neutral', external: ['node:*', 'events'], logLevel: 'silent'
    })
    assert.deepEqual(nodeBuiltinsIn(result.metafile).sort(), ['events', 'node:crypto'])
  })
})
