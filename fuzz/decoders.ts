/**
 * Decoder-level fuzzing: every protobuf decoder under src/<protocol>/pb/,
 * found at run time (so a new or moved protocol is fuzzed without editing
 * this file), fed random protobuf-shaped messages and mutations of the inputs
 * it accepted.
 */
import { readdirSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { nextInput, Random } from './mutator.js'

export interface Decoder {
  /** `<protocol>/<Message>` */
  name: string
  decode(bytes: Uint8Array): unknown
  encode(value: any): Uint8Array // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface DecoderOutcome {
  decoder: string
  inputs: number
  accepted: number
  /** Rejections by error name */
  rejected: Record<string, number>
  /** Inputs that threw something other than a decode rejection (TypeError, stack overflow, non-Error) */
  crashes: number
  /** The first crash's input (hex) and message, for replay */
  firstCrash?: { input: string, error: string }
  ms: number
  inputsPerSecond: number
  /** heapUsed growth over the run, MB (after a GC when --expose-gc is on) */
  heapGrowthMb: number
}

/** Errors a protobuf decoder rejects malformed bytes with; anything else is a crash */
const DECODE_REJECTIONS = new Set(['RangeError', 'Error', 'MaxLengthError', 'MaxSizeError', 'InvalidDataLengthError'])

/** Every message codec of every protocol's generated protobuf module */
export async function findDecoders (srcDir = fileURLToPath(new URL('../src/', import.meta.url))): Promise<Decoder[]> {
  const decoders: Decoder[] = []
  for (const protocol of readdirSync(srcDir).sort()) {
    const pb = join(srcDir, protocol, 'pb')
    if (!existsSync(pb)) {
      continue
    }
    for (const file of readdirSync(pb).filter(f => f.endsWith('.js')).sort()) {
      const module = await import(join(pb, file)) as Record<string, unknown>
      for (const [name, value] of Object.entries(module)) {
        const codec = value as Partial<Decoder> | undefined
        if (typeof codec?.decode === 'function' && typeof codec.encode === 'function') {
          decoders.push({ name: `${protocol}/${name}`, decode: codec.decode.bind(codec), encode: codec.encode.bind(codec) })
        }
      }
    }
  }
  return decoders
}

function gc (): void {
  (globalThis as { gc?: () => void }).gc?.()
}

function isCrash (err: unknown): boolean {
  if (!(err instanceof Error)) {
    return true
  }
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return true
  }
  return !DECODE_REJECTIONS.has(err.name)
}

/** Feed `decoder` `inputs` inputs from `seed`; accepted inputs join a bounded corpus and are mutated further */
export function fuzzDecoder (decoder: Decoder, inputs: number, seed: number): DecoderOutcome {
  const random = new Random(seed)
  const corpus: Uint8Array[] = []
  // the default message, re-encoded, is always valid
  try {
    corpus.push(decoder.encode(decoder.decode(new Uint8Array(0))))
  } catch {}
  const outcome: DecoderOutcome = { decoder: decoder.name, inputs, accepted: 0, rejected: {}, crashes: 0, ms: 0, inputsPerSecond: 0, heapGrowthMb: 0 }
  gc()
  const heapBefore = process.memoryUsage().heapUsed
  const started = performance.now()
  for (let i = 0; i < inputs; i++) {
    const input = nextInput(random, corpus)
    try {
      decoder.decode(input)
      outcome.accepted++
      if (corpus.length < 256) {
        corpus.push(input)
      } else if (random.int(16) === 0) {
        corpus[random.int(corpus.length)] = input
      }
    } catch (err) {
      if (isCrash(err)) {
        outcome.crashes++
        outcome.firstCrash ??= { input: Buffer.from(input).toString('hex'), error: String(err) }
      } else {
        const name = (err as Error).name
        outcome.rejected[name] = (outcome.rejected[name] ?? 0) + 1
      }
    }
  }
  outcome.ms = Math.round(performance.now() - started)
  outcome.inputsPerSecond = Math.round(inputs / Math.max(outcome.ms, 1) * 1000)
  corpus.length = 0
  gc()
  outcome.heapGrowthMb = Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e5) / 10
  return outcome
}
