/**
 * Unsigned varints and length-prefixed frames, written by hand where a frame
 * goes out as one write (a last write after which nothing is read, early
 * data, a fuzzer's input) instead of through `lpStream`
 */

/** `n` (a non-negative safe integer) as an unsigned LEB128 varint */
export function varint (n: number): Uint8Array {
  const bytes: number[] = []
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  bytes.push(n)
  return Uint8Array.from(bytes)
}

/** `data` behind its length as a varint, as `lpStream` and `it-length-prefixed` write a frame */
export function lengthPrefixed (data: Uint8Array): Uint8Array {
  const prefix = varint(data.byteLength)
  const frame = new Uint8Array(prefix.byteLength + data.byteLength)
  frame.set(prefix)
  frame.set(data, prefix.byteLength)
  return frame
}
