import { DecodeError, InvalidMessageError } from './errors.js'
import { assertSafeKey } from './query.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Encode a value as UTF-8 JSON; the default channel encoder */
export function encodeJson (value: unknown): Uint8Array {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (err) {
    throw new InvalidMessageError(`value cannot be encoded as JSON: ${(err as Error).message}`)
  }
  if (json === undefined) {
    throw new InvalidMessageError('value cannot be encoded as JSON')
  }
  return encoder.encode(json)
}

/**
 * Decode UTF-8 JSON; the default channel decoder. Objects with a
 * `__proto__`, `constructor` or `prototype` key are refused, so a received
 * value is safe to merge into app state.
 */
export function decodeJson (data: Uint8Array): unknown {
  let text: string
  try {
    text = decoder.decode(data)
  } catch {
    throw new DecodeError('payload is not valid UTF-8')
  }
  try {
    return JSON.parse(text, (key, value: unknown) => {
      assertSafeKey(key)
      return value
    })
  } catch (err) {
    if (err instanceof Error && err.name === 'UnsafeKeyError') {
      throw err
    }
    throw new DecodeError(`payload is not JSON: ${(err as Error).message}`)
  }
}
