import { UnsupportedProtocolError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { MAX_INLINE_KEY_LENGTH } from './constants.js'
import {
  CircuitLimitError, CircuitLoopError, CircuitRateLimitError, CircuitRefusedError, CircuitTimeoutError,
  CircuitUpgradeError, HopLimitError, MalformedCircuitMessageError, NoRouteError
} from './errors.js'
import { CircuitResponse } from './pb/circuit.js'
import type { PeerId } from '@libp2p/interface'

export type Status = CircuitResponse.Status

/** A refusal to send back to the previous hop */
export class Refusal extends Error {
  static name = 'Refusal'
  name = 'Refusal'
  constructor (readonly status: Status, reason: string) {
    super(reason)
  }
}

/** The multihash codes a peer id may use: identity (an inline public key) or sha2-256 (of a larger key) */
const IDENTITY = 0x00
const SHA2_256 = 0x12
const SHA2_256_LENGTH = 32

/**
 * A peer id from the multihash bytes of a request or response field, or
 * undefined. The bytes are length-checked before anything is decoded: an
 * identity multihash of at most libp2p's inline key size, or a sha2-256 one.
 * No string encoding happens here, so the cost of a field is bounded by its
 * (small) size limit, however many a peer sends.
 */
export function peerIdFromBytes (multihash: Uint8Array): PeerId | undefined {
  if (multihash.byteLength < 2) {
    return undefined
  }
  const [code, length] = multihash
  const digestLength = multihash.byteLength - 2
  if (length !== digestLength || !((code === IDENTITY && length <= MAX_INLINE_KEY_LENGTH) || (code === SHA2_256 && length === SHA2_256_LENGTH))) {
    return undefined
  }
  try {
    return peerIdFromMultihash(Digest.decode(multihash))
  } catch {
    return undefined
  }
}

/** A peer id from a request field, or a MALFORMED refusal */
export function parsePeerId (multihash: Uint8Array, field: string): PeerId {
  const peer = peerIdFromBytes(multihash)
  if (peer == null) {
    throw new Refusal(CircuitResponse.Status.MALFORMED, `${field} is not a peer id`)
  }
  return peer
}

/** The typed error an opener sees for each refusal status */
export function errorFor (response: CircuitResponse, target: PeerId): Error {
  const by = response.from.byteLength > 0 ? ` by ${peerIdFromBytes(response.from)?.toString() ?? 'an unknown peer'}` : ''
  const message = `circuit to ${target} refused${by}: ${response.status} ${response.reason}`.trim()
  switch (response.status) {
    case CircuitResponse.Status.NO_ROUTE: return new NoRouteError(message)
    case CircuitResponse.Status.LIMIT_EXCEEDED: return new CircuitLimitError(message)
    case CircuitResponse.Status.RATE_LIMITED: return new CircuitRateLimitError(message)
    case CircuitResponse.Status.HOP_LIMIT: return new HopLimitError(message)
    case CircuitResponse.Status.LOOP: return new CircuitLoopError(message)
    case CircuitResponse.Status.MALFORMED: return new MalformedCircuitMessageError(message)
    case CircuitResponse.Status.TIMEOUT: return new CircuitTimeoutError(message)
    default: return new CircuitRefusedError(message)
  }
}

const CIRCUIT_ERRORS = [
  NoRouteError, CircuitLimitError, CircuitRateLimitError, HopLimitError, CircuitLoopError,
  MalformedCircuitMessageError, CircuitRefusedError, CircuitTimeoutError, CircuitUpgradeError
]

/** True for the typed errors of this package */
export function isCircuitError (err: unknown): err is Error {
  return CIRCUIT_ERRORS.some(E => err instanceof E)
}

/** The deadline (or shutdown) ended the operation */
export function isAbort (err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError'
}

/** The remote does not speak the protocol */
export function isUnsupportedProtocol (err: unknown): boolean {
  return err instanceof UnsupportedProtocolError
}
