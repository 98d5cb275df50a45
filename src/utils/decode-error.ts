/**
 * A peer's bytes that do not decode are refused with the protocol's own typed
 * error: protons throws a plain `Error` (bad wire type, bad length) or a
 * `RangeError` (truncated), and a runtime `TypeError` may escape a decoder;
 * these are wrapped by `wrap`. Typed errors (`UnexpectedEOFError`,
 * `InvalidDataLengthError`, an `AbortError`, the protocol's own) pass through.
 */
export function typedDecodeError (err: unknown, wrap: (message: string) => Error): Error {
  if (err instanceof Error && err.name !== 'Error' && err.name !== 'RangeError' && err.name !== 'TypeError') {
    return err
  }
  return wrap(`does not decode: ${err instanceof Error ? err.message : String(err)}`)
}
