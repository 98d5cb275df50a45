import { readFile, writeFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { InvalidKeyFileError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Load the libp2p private key (protobuf bytes) stored at `path`, or create an
 * Ed25519 key there, readable by its owner only, when no file exists.
 *
 * @example
 * ```ts
 * const privateKey = await loadOrCreateKey('./bootstrap.key')
 * ```
 */
export async function loadOrCreateKey (path: string): Promise<PrivateKey> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new InvalidKeyFileError(`cannot read key file ${path}: ${(err as Error).message}`)
    }
    const key = await generateKeyPair('Ed25519')
    try {
      // 'wx' never overwrites a key another process wrote meanwhile
      await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        return loadOrCreateKey(path)
      }
      throw new InvalidKeyFileError(`cannot create key file ${path}: ${(err as Error).message}`)
    }
    return key
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidKeyFileError(`key file ${path} does not hold a libp2p private key: ${(err as Error).message}`)
  }
}
