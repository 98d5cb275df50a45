/**
 * The content hash of a transfer: a SHA-256 hash list. The bytes are cut into
 * fixed blocks of HASH_BLOCK_SIZE; each block is hashed natively (Node's
 * crypto, synchronously; Web Crypto in browsers, off the page's thread), and
 * the root is SHA-256 over the block digests in order. It does not depend on
 * how the bytes were chunked, and costs little CPU next to moving the bytes (a
 * pure-JS SHA-256 over the whole content would cap a fast transfer).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { HASH_BLOCK_SIZE, MAX_PENDING_DIGESTS } from './constants.js'
import type * as NodeCrypto from 'node:crypto'

/** Node's crypto when running in Node (found at run time, so browser bundles carry no Node built-in) */
const nodeCrypto = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process?.getBuiltinModule?.('node:crypto') as typeof NodeCrypto | undefined
const subtle: SubtleCrypto | undefined = globalThis.crypto?.subtle

function blockDigest (block: Uint8Array<ArrayBuffer>): Uint8Array | Promise<Uint8Array> {
  if (nodeCrypto != null) {
    return nodeCrypto.createHash('sha256').update(block).digest()
  }
  if (subtle != null) {
    return subtle.digest('SHA-256', block).then(digest => new Uint8Array(digest))
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
  private readonly pending: Array<Uint8Array | Promise<Uint8Array>> = []

  /** block digests folded into the root so far, in order */
  private folding: Promise<void> = Promise.resolve()
  /** no asynchronous fold is under way */
  private idle = true

  /**
   * Add bytes. The copy is synchronous, so calls that do not await each
   * other still hash in call order; resolves at once unless too many block
   * digests are in flight.
   */
  async update (data: Uint8Array): Promise<void> {
    if (this.filled === 0 && data.byteLength === HASH_BLOCK_SIZE) {
      // a whole block (the usual chunk): hashed as it is, no copy
      this.pending.push(blockDigest(data as Uint8Array<ArrayBuffer>))
    } else {
      this.copy(data)
    }
    if (this.pending.length > MAX_PENDING_DIGESTS) {
      await this.fold()
    }
  }

  private copy (data: Uint8Array): void {
    let offset = 0
    while (offset < data.byteLength) {
      const n = Math.min(HASH_BLOCK_SIZE - this.filled, data.byteLength - offset)
      this.block.set(data.subarray(offset, offset + n), this.filled)
      this.filled += n
      offset += n
      if (this.filled === HASH_BLOCK_SIZE) {
        const digest = blockDigest(this.block)
        this.pending.push(digest)
        if (digest instanceof Promise) {
          // Web Crypto reads the block later: the next one needs its own
          this.block = new Uint8Array(HASH_BLOCK_SIZE)
        }
        this.filled = 0
      }
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
    if (this.idle && batch.every(d => d instanceof Uint8Array)) {
      // Node: digests are ready at once, nothing to wait for
      for (const digest of batch as Uint8Array[]) {
        this.root.update(digest)
      }
      return
    }
    this.idle = false
    this.folding = this.folding.then(async () => {
      for (const digest of batch) {
        this.root.update(await digest)
      }
    })
    const folding = this.folding
    await folding
    if (this.folding === folding) {
      this.idle = true
    }
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
