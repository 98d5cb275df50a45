import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createMembrane } from '../src/index.js'
import type { MembraneOptions } from '../src/index.js'

describe('createMembrane options', () => {
  it('refuses the old `circuit` option by name instead of ignoring its limits', async () => {
    // an object that is not a fresh literal escapes TypeScript's excess-property check, as a config file would
    const options = { circuit: { maxHops: 1 }, allowLocalDial: true } as unknown as MembraneOptions
    await assert.rejects(createMembrane(options), (err: Error) => {
      assert.equal(err.name, 'TypeError')
      assert.match(err.message, /`circuit` option is now `meshCircuits`/)
      return true
    })
  })
})
