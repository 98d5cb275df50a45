import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { toString } from 'uint8arrays/to-string'
import * as C from './constants.js'
import { InvalidChannelError, InvalidMessageError } from './errors.js'
import type { PeerId } from '@libp2p/interface'

/** Multihash codes a peer id may use: the public key inline, or its SHA-256 */
const IDENTITY = 0x00
const SHA2_256 = 0x12

export function assertChannelName (name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidChannelError('channel name must be a non-empty string')
  }
  if (name.length > C.MAX_CHANNEL_NAME_LENGTH) {
    throw new InvalidChannelError(`channel name is ${name.length} characters, the limit is ${C.MAX_CHANNEL_NAME_LENGTH}`)
  }
}

/**
 * Check that `bytes` can be a peer id's multihash before any work is spent on
 * it: at most {@link C.MAX_PEER_ID_SIZE} bytes, an identity or SHA-256 code,
 * and a digest of the length its header states.
 */
export function assertPeerIdBytes (bytes: Uint8Array, what: string): void {
  if (bytes.byteLength === 0 || bytes.byteLength > C.MAX_PEER_ID_SIZE) {
    throw new InvalidMessageError(`${what} is ${bytes.byteLength} bytes, a peer id is 1-${C.MAX_PEER_ID_SIZE}`)
  }
  // both codes and every digest length allowed fit in one varint byte
  const code = bytes[0]
  const size = bytes[1]
  if ((code !== IDENTITY && code !== SHA2_256) || size == null || size + 2 !== bytes.byteLength || (code === SHA2_256 && size !== 32)) {
    throw new InvalidMessageError(`${what} is not an identity or sha256 multihash`)
  }
}

/** A table key for a checked peer id's bytes; cheap, unlike base58 */
export function peerKey (bytes: Uint8Array): string {
  return toString(bytes, 'base64')
}

/**
 * The author of a routed message, from its length-checked multihash bytes.
 * Only identity multihashes embed the public key that verifies a signature.
 */
export function parseAuthor (bytes: Uint8Array): PeerId & { publicKey: NonNullable<PeerId['publicKey']> } {
  assertPeerIdBytes(bytes, 'author')
  let author: PeerId
  try {
    author = peerIdFromMultihash(Digest.decode(bytes))
  } catch (err) {
    throw new InvalidMessageError(`author is not a peer id: ${(err as Error).message}`)
  }
  if (author.publicKey == null) {
    throw new InvalidMessageError('the author\'s peer id does not embed a public key')
  }
  return author as PeerId & { publicKey: NonNullable<PeerId['publicKey']> }
}
