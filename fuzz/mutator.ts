/**
 * A small seeded input generator for protobuf decoders and handlers:
 * protobuf-shaped random messages, and byte-level mutations of valid frames.
 * Deterministic for a given seed, so a failing input can be replayed.
 */
import { varint } from '../src/utils/length-prefix.js'

/** mulberry32: a tiny seeded PRNG, good enough to spread inputs */
export class Random {
  private state: number

  constructor (seed: number) {
    this.state = seed >>> 0
  }

  /** A float in [0, 1) */
  next (): number {
    this.state = (this.state + 0x6D2B79F5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n) */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  pick <T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      out[i] = this.int(256)
    }
    return out
  }
}

/** Values at the edges of what decoders check */
const INTERESTING_LENGTHS = [0, 1, 2, 31, 32, 33, 34, 38, 39, 44, 45, 64, 127, 128, 255, 256, 1023, 1024, 4096, 65535, 65536]

/** A varint near the edges: 0, small, 2^7/2^14/2^21/2^28/2^32 boundaries, up to 2^63 */
function edgyVarint (random: Random): number[] {
  switch (random.int(5)) {
    case 0: return [0]
    case 1: return [...varint(random.int(300))]
    case 2: return [...varint(2 ** random.pick([7, 14, 21, 28, 31, 32]) + random.int(3) - 1)]
    case 3: return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] // 2^64 - 1
    default: return [...random.bytes(random.int(10)).map(b => b | 0x80), random.int(0x80)]
  }
}

/**
 * A random message in protobuf wire format: fields 1-12 of every wire type,
 * length-delimited ones holding bytes, strings or nested messages.
 */
export function randomMessage (random: Random, depth = 0, budget = 2048): Uint8Array {
  const out: number[] = []
  const fields = random.int(depth === 0 ? 8 : 4)
  for (let i = 0; i < fields && out.length < budget; i++) {
    const field = 1 + random.int(12)
    const wireType = random.pick([0, 0, 2, 2, 2, 1, 5])
    out.push(...varint(field * 8 + wireType))
    if (wireType === 0) {
      out.push(...edgyVarint(random))
    } else if (wireType === 1) {
      out.push(...random.bytes(8))
    } else if (wireType === 5) {
      out.push(...random.bytes(4))
    } else {
      let body: Uint8Array
      const kind = random.int(depth < 3 ? 4 : 3)
      if (kind === 0) {
        body = random.bytes(random.pick(INTERESTING_LENGTHS.filter(n => n <= budget / 4)))
      } else if (kind === 1) {
        body = new TextEncoder().encode(random.pick(['', 'a', '{}', '{"a":1}', '12D3KooW', '/ip4/127.0.0.1/tcp/9', '\u0000', '\uffff', 'x'.repeat(random.int(200))]))
      } else if (kind === 2) {
        body = random.bytes(random.int(40))
      } else {
        body = randomMessage(random, depth + 1, budget / 4)
      }
      out.push(...varint(body.byteLength), ...body)
    }
  }
  return Uint8Array.from(out)
}

/** One mutation of `input`: flip, insert, delete, duplicate, overwrite with edge bytes, truncate or splice */
export function mutate (random: Random, input: Uint8Array, other?: Uint8Array): Uint8Array {
  const bytes = [...input]
  const rounds = 1 + random.int(4)
  for (let r = 0; r < rounds; r++) {
    const at = bytes.length === 0 ? 0 : random.int(bytes.length)
    switch (random.int(8)) {
      case 0: if (bytes.length > 0) { bytes[at] ^= 1 << random.int(8) } break
      case 1: bytes.splice(at, 0, ...random.bytes(1 + random.int(8))); break
      case 2: bytes.splice(at, 1 + random.int(8)); break
      case 3: if (bytes.length > 0) { bytes.splice(at, 0, ...bytes.slice(at, at + 1 + random.int(16))) } break
      case 4: if (bytes.length > 0) { bytes[at] = random.pick([0x00, 0x7f, 0x80, 0xff]) } break
      case 5: bytes.length = at; break
      case 6: bytes.splice(at, 0, ...edgyVarint(random)); break
      default: if (other != null && other.byteLength > 0) { bytes.splice(at, 0, ...other.subarray(random.int(other.byteLength))) }
    }
  }
  return Uint8Array.from(bytes)
}

/** An input for a decoder: a fresh random message, or a mutation of one from the corpus */
export function nextInput (random: Random, corpus: Uint8Array[]): Uint8Array {
  if (corpus.length === 0 || random.next() < 0.25) {
    return randomMessage(random)
  }
  return mutate(random, random.pick(corpus), random.pick(corpus))
}
