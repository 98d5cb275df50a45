/**
 * `npm run fuzz [-- --inputs N --seed S --network SECONDS]`: the decoder,
 * handler and network fuzzers. One JSON line per decoder, handler and
 * attacked protocol; exits non-zero on any crash.
 */
import { parseArgs } from 'node:util'
import { findDecoders, fuzzDecoder } from './decoders.js'
import { fuzzRouteHandler } from './handlers.js'
import { fuzzNetwork } from './network.js'
import { fuzzServiceHandlers } from './services.js'

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '100000' },
    'handler-inputs': { type: 'string', default: '20000' },
    'service-inputs': { type: 'string', default: '100000' },
    only: { type: 'string', multiple: true },
    seed: { type: 'string', default: '1' },
    network: { type: 'string', default: '5' },
    'skip-decoders': { type: 'boolean', default: false }
  }
})
const inputs = Number(values.inputs)
const seed = Number(values.seed)
let crashes = 0

for (const decoder of values['skip-decoders'] ? [] : await findDecoders()) {
  const outcome = fuzzDecoder(decoder, inputs, seed)
  crashes += outcome.crashes
  process.stdout.write(JSON.stringify({ kind: 'decoder', ...outcome }) + '\n')
}
if (Number(values['handler-inputs']) > 0) {
  const handler = await fuzzRouteHandler(Number(values['handler-inputs']), seed)
  crashes += handler.crashes
  process.stdout.write(JSON.stringify({ kind: 'handler', ...handler }) + '\n')
}

const serviceInputs = Number(values['service-inputs'])
if (serviceInputs > 0) {
  await fuzzServiceHandlers({
    inputs: serviceInputs,
    seed,
    only: values.only,
    onOutcome: (outcome) => {
      crashes += outcome.crashes
      process.stdout.write(JSON.stringify({ kind: 'service', ...outcome }) + '\n')
    }
  })
}

const seconds = Number(values.network)
if (seconds > 0) {
  const run = await fuzzNetwork({ secondsPerProtocol: seconds, seed, only: values.only })
  for (const outcome of run.outcomes) {
    process.stdout.write(JSON.stringify({ kind: 'network', ...outcome }) + '\n')
  }
  process.stdout.write(JSON.stringify({ kind: 'memory', rssMb: run.rss, heapUsedMb: run.heapUsed }) + '\n')
}
process.stdout.write(JSON.stringify({ kind: 'summary', crashes }) + '\n')
process.exit(crashes === 0 ? 0 : 1)
