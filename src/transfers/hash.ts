/**
 * The content hash of a transfer: a SHA-256 hash list. The bytes are cut into
 * fixed blocks of HASH_BLOCK_SIZE; each block is hashed with Web Crypto
 * (native, and in Node off the event loop), and the root is SHA-256 over the
 * block digests in order. It does not depend on how the bytes were chunked,
 * and costs the sender and the receiver little CPU next to moving the bytes
 * (a pure-JS SHA-256 over the whole content would cap a WebRTC transfer).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { HASH_BLOCK_SIZE, MAX_PENDING_DIGESTS } from './constants.js'

const subtle: SubtleCrypto | undefined = globalThis.crypto?.subtle

async function blockDigest (block: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  if (subtle != null) {
    return new Uint8Array(await subtle.digest('SHA-256', block))
  }
  // pages on plain http (no secure context) have no Web Crypto
  return sha256(block)
}

/**
 * The transfer content hash, computed incrementally (what a receiver or
 * sender can use to check content against a `TransferResult.digest`)
 *
 * @example
 * ```ts
 * const hasher = new ContentHasher()
 * for await (const chunk of transfer.source) { await hasher.update(chunk) }
 * const digest = await hasher.digest()
 * ```
 */
export class ContentHasher {
  private readonly root = sha256.create()
  private block = new Uint8Array(HASH_BLOCK_SIZE)
  private filled = 0
  /** block digests not yet folded into the root, in order */
  private readonly pending: Array<Promise<Uint8Array>> = []

  /** block digests folded into the root so far, in order */
  private folding: Promise<void> = Promise.resolve()

  /**
   * Add bytes. The copy is synchronous, so calls that do not await each
   * other still hash in call order; resolves at once unless too many block
   * digests are in flight.
   */
  async update (data: Uint8Array): Promise<void> {
    if (this.filled === 0 && data.byteLength === HASH_BLOCK_SIZE) {
      // a whole block (the usual chunk): hashed as it is, no copy
      this.pending.push(blockDigest(data as Uint8Array<ArrayBuffer>))
      if (this.pending.length > MAX_PENDING_DIGESTS) {
        await this.fold()
      }
      return
    }
    let offset = 0
    while (offset < data.byteLength) {
      const n = Math.min(HASH_BLOCK_SIZE - this.filled, data.byteLength - offset)
      this.block.set(data.subarray(offset, offset + n), this.filled)
      this.filled += n
      offset += n
      if (this.filled === HASH_BLOCK_SIZE) {
        this.pending.push(blockDigest(this.block))
        this.block = new Uint8Array(HASH_BLOCK_SIZE)
        this.filled = 0
      }
    }
    if (this.pending.length > MAX_PENDING_DIGESTS) {
      await this.fold()
    }
  }

  /** The root over every byte added (call once) */
  async digest (): Promise<Uint8Array> {
    if (this.filled > 0) {
      this.pending.push(blockDigest(this.block.slice(0, this.filled)))
      this.filled = 0
    }
    await this.fold()
    return this.root.digest()
  }

  /** Fold every digest pending now into the root, after the folds already under way */
  private async fold (): Promise<void> {
    const batch = this.pending.splice(0)
    this.folding = this.folding.then(async () => {
      for (const digest of batch) {
        this.root.update(await digest)
      }
    })
    await this.folding
  }
}

/**
 * The content hash of `data` in one call
 *
 * @example
 * ```ts
 * const digest = toString(await contentHash(bytes), 'base16')   // equals TransferResult.digest
 * ```
 */
export async function contentHash (data: Uint8Array): Promise<Uint8Array> {
  const hasher = new ContentHasher()
  await hasher.update(data)
  return hasher.digest()
}
