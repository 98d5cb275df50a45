import { sha256 } from '@noble/hashes/sha2.js'

/** The hash input: server nonce, member PeerId bytes, big-endian 8-byte counter */
function input (nonce: Uint8Array, peerId: Uint8Array): { buf: Uint8Array, view: DataView, offset: number } {
  const buf = new Uint8Array(nonce.byteLength + peerId.byteLength + 8)
  buf.set(nonce, 0)
  buf.set(peerId, nonce.byteLength)
  return { buf, view: new DataView(buf.buffer), offset: nonce.byteLength + peerId.byteLength }
}

/** Whether `hash` starts with at least `bits` zero bits */
export function leadingZeroBits (hash: Uint8Array, bits: number): boolean {
  let i = 0
  for (; bits >= 8; bits -= 8, i++) {
    if (hash[i] !== 0) {
      return false
    }
  }
  return bits === 0 || (hash[i] >> (8 - bits)) === 0
}

/** One hash: whether `counter` solves the puzzle */
export function verifyWork (nonce: Uint8Array, peerId: Uint8Array, difficulty: number, counter: bigint): boolean {
  const { buf, view, offset } = input(nonce, peerId)
  view.setBigUint64(offset, counter)
  return leadingZeroBits(sha256(buf), difficulty)
}

/**
 * Find a counter such that SHA-256(nonce || peerId || counter) has `difficulty`
 * leading zero bits. Yields to the event loop every `hashesPerYield` hashes and
 * stops when `signal` aborts.
 */
export async function solveWork (nonce: Uint8Array, peerId: Uint8Array, difficulty: number, options: { signal?: AbortSignal, hashesPerYield?: number } = {}): Promise<bigint> {
  const { buf, view, offset } = input(nonce, peerId)
  const perYield = options.hashesPerYield ?? 4096
  for (let counter = 0n; ; counter++) {
    view.setBigUint64(offset, counter)
    if (leadingZeroBits(sha256(buf), difficulty)) {
      return counter
    }
    if (counter % BigInt(perYield) === 0n) {
      options.signal?.throwIfAborted()
      await new Promise(resolve => setTimeout(resolve, 0))
    }
  }
}

/**
 * Difficulty for a load figure (1 = at threshold): none below 1, then `base`
 * plus `perDoubling` bits for each doubling, capped at `max`.
 */
export function difficultyForLoad (load: number, base: number, perDoubling: number, max: number): number {
  if (!(load >= 1)) {
    return 0
  }
  return Math.min(max, base + Math.floor(Math.log2(load) * perDoubling))
}
