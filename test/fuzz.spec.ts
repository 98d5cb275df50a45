/**
 * The CI pass of `npm run fuzz`: the same fuzzers, seeded and small. A full
 * run (docs/fuzzing.md) sends 100 000 inputs to each decoder.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { findDecoders, fuzzDecoder } from '../fuzz/decoders.js'
import { fuzzRouteHandler } from '../fuzz/handlers.js'
import { fuzzNetwork } from '../fuzz/network.js'
import { fuzzServiceHandlers } from '../fuzz/services.js'

const SEED = 20261201

describe('fuzz (seeded CI pass)', () => {
  it('every protobuf decoder rejects 2 000 mutated inputs with decode errors only', async () => {
    const decoders = await findDecoders()
    assert.ok(decoders.length >= 20, `every protocol's decoders are found (${decoders.length})`)
    for (const decoder of decoders) {
      const outcome = fuzzDecoder(decoder, 2000, SEED)
      assert.equal(outcome.crashes, 0, `${decoder.name}: ${JSON.stringify(outcome.firstCrash)}`)
      assert.ok(outcome.accepted > 0 && outcome.accepted < outcome.inputs, `${decoder.name} took some inputs and refused others (${outcome.accepted})`)
    }
  })

  it('the route handler rejects every bad frame with a typed error', async () => {
    const outcome = await fuzzRouteHandler(400, SEED)
    assert.equal(outcome.crashes, 0, outcome.firstCrash)
    const rejected = Object.values(outcome.rejected).reduce((a, b) => a + b, 0)
    assert.ok(rejected > 0, 'some inputs were rejected')
    assert.ok(outcome.accepted + rejected <= outcome.inputs)
  })

  it('every registered protocol handler of a bootstrap peer and a member rejects mutated frames with typed errors only', async () => {
    const outcomes = await fuzzServiceHandlers({ inputs: 150, seed: SEED })
    const fuzzed = new Set(outcomes.map(o => `${o.target} ${o.protocol}`))
    for (const expected of [
      'bootstrap /membrane/admission/1.0.0', 'bootstrap /membrane/channels/route/1.0.0', 'bootstrap /membrane/circuit/1.0.0',
      'bootstrap /membrane/ice/1.0.0', 'bootstrap /membrane/netmap/1.0.0', 'bootstrap /membrane/netmap/2.0.0', 'bootstrap /membrane/netmap/2.1.0', 'bootstrap /membrane/px/1.0.0',
      'member /membrane/admission/1.0.0', 'member /membrane/channels/route/1.0.0', 'member /membrane/circuit/1.0.0',
      'member /membrane/dm/1.0.0', 'member /membrane/netmap/1.0.0', 'member /membrane/netmap/2.0.0', 'member /membrane/netmap/2.1.0', 'member /membrane/request/1.0.0', 'member /membrane/transfer/1.0.0'
    ]) {
      assert.ok(fuzzed.has(expected), `${expected} was fuzzed (${[...fuzzed].join(', ')})`)
    }
    for (const outcome of outcomes) {
      assert.equal(outcome.crashes, 0, `${outcome.target} ${outcome.protocol}: ${outcome.firstCrash}`)
      const rejected = Object.values(outcome.rejected).reduce((a, b) => a + b, 0)
      // every input ended one way: answered, closed, or rejected with a typed error
      assert.equal(outcome.answered + outcome.closed + rejected, outcome.inputs, `${outcome.target} ${outcome.protocol}: ${JSON.stringify(outcome)}`)
    }
  })

  it('a bootstrap peer and a member survive a short attack on every protocol over TCP', async () => {
    const run = await fuzzNetwork({ secondsPerProtocol: 0.5, seed: SEED, concurrency: 4, maxInputsPerProtocol: 200, settleMs: 0 })
    const protocols = new Set(run.outcomes.map(o => `${o.target} ${o.protocol}`))
    assert.ok(protocols.has('member /membrane/channels/route/1.0.0') && protocols.has('bootstrap /membrane/admission/1.0.0'), [...protocols].join(', '))
    for (const outcome of run.outcomes) {
      assert.ok(outcome.inputs > 0, `${outcome.target} ${outcome.protocol} was attacked`)
      // no input stalls a target: it answers an honest peer during every protocol's attack
      assert.ok(outcome.pingsAnswered > 0, `${outcome.target} answered honest pings during the ${outcome.protocol} attack (${JSON.stringify(outcome)})`)
    }
  })
})
