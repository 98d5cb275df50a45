import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { InvalidKeyFileError } from './errors.js'
import type { AbortOptions } from '@libp2p/interface'

/**
 * Where `@libp2p/webrtc` keeps its WebRTC-direct certificate and
 * `@libp2p/keychain` the certificate's private key (and its key info)
 */
const PERSISTED_PREFIXES = ['/libp2p/webrtc-direct/', '/pkcs8/', '/info/']

interface StoreFile {
  version: 1
  /** datastore key → base64 value */
  entries: Record<string, string>
}

/**
 * The bootstrap peer's datastore: memory for everything (peer store, …),
 * except the entries under which `@libp2p/webrtc` keeps its WebRTC-direct
 * certificate and the keychain that certificate's private key. Those are also
 * written to one file (mode 0600, replaced atomically), so the certificate,
 * and so the certhash in the peer's addresses, survives restarts until
 * `@libp2p/webrtc` renews it.
 */
export class CertificateFileDatastore extends MemoryDatastore {
  private readonly path: string
  /** the persisted entries, as written to the file */
  private readonly persistedEntries = new Map<string, Uint8Array>()

  constructor (path: string) {
    super()
    this.path = path
    let stored: StoreFile | undefined
    try {
      stored = JSON.parse(readFileSync(path, 'utf8')) as StoreFile
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new InvalidKeyFileError(`cannot read WebRTC-direct certificate file ${path}: ${(err as Error).message}`)
      }
    }
    if (stored != null) {
      if (stored.version !== 1 || stored.entries == null || typeof stored.entries !== 'object') {
        throw new InvalidKeyFileError(`${path} is not a WebRTC-direct certificate file`)
      }
      for (const [key, value] of Object.entries(stored.entries)) {
        if (typeof value === 'string' && PERSISTED_PREFIXES.some(p => key.startsWith(p))) {
          const bytes = uint8ArrayFromString(value, 'base64')
          this.persistedEntries.set(key, bytes)
          void super.put(new Key(key), bytes)
        }
      }
    }
  }

  put (key: Key, value: Uint8Array, options?: AbortOptions): Key | Promise<Key> {
    const result = super.put(key, value, options)
    if (this.persisted(key)) {
      this.persistedEntries.set(key.toString(), value)
      this.save()
    }
    return result
  }

  delete (key: Key, options?: AbortOptions): void | Promise<void> {
    const result = super.delete(key, options)
    if (this.persisted(key) && this.persistedEntries.delete(key.toString())) {
      this.save()
    }
    return result
  }

  private persisted (key: Key): boolean {
    const name = key.toString()
    return PERSISTED_PREFIXES.some(p => name.startsWith(p))
  }

  /** Rare (a new or renewed certificate), so synchronous: the file is never half written */
  private save (): void {
    const entries: Record<string, string> = {}
    for (const [key, value] of this.persistedEntries) {
      entries[key] = uint8ArrayToString(value, 'base64')
    }
    const file: StoreFile = { version: 1, entries }
    const temporary = `${this.path}.${process.pid}.tmp`
    writeFileSync(temporary, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 })
    renameSync(temporary, this.path)
  }
}
