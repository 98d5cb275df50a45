/**
 * Map record signatures checked with a public key imported once per signer.
 *
 * `@libp2p/crypto`'s Ed25519 `verify()` turns the raw key into a JWK and
 * imports it into `node:crypto` on every call (≈ 10 % of a verify, see
 * BENCHMARKS.md, issue 19). Under Node this keeps the imported `KeyObject`
 * per exact 32 key bytes in a bounded LRU: each new version of a node's
 * record is checked under the key imported for its first. Elsewhere (browsers,
 * or a Node without `process.getBuiltinModule`), and for any key that is not
 * Ed25519 or any signature that is not 64 bytes, it is the envelope's own
 * `validate()`: behaviour there is unchanged. `node:crypto` is reached through
 * `process.getBuiltinModule`, not an import, so the browser bundle does not
 * pull in a Node built-in.
 */
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import type { RecordEnvelope } from '@libp2p/peer-record'
import type { KeyObject } from 'node:crypto'

type NodeCrypto = typeof import('node:crypto')

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
const ED25519_KEY_LENGTH = 32
const ED25519_SIGNATURE_LENGTH = 64

function nodeCrypto (): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  try {
    return proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined
  } catch {
    return undefined
  }
}

function varint (n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return out
}

/** The bytes a libp2p signed envelope signs: length-prefixed domain, payload type and payload */
export function signaturePayload (domain: string, payloadType: Uint8Array, payload: Uint8Array): Uint8Array {
  const domainBytes = new TextEncoder().encode(domain)
  const parts = [Uint8Array.from(varint(domainBytes.byteLength)), domainBytes, Uint8Array.from(varint(payloadType.byteLength)), payloadType, Uint8Array.from(varint(payload.byteLength)), payload]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

export class SignerKeyCache {
  private readonly crypto: NodeCrypto | null
  private readonly keys = new Map<string, KeyObject>()

  /** `size` imported keys at most, the least recently used dropped first; `crypto` null: the envelope's own check always */
  constructor (readonly size: number, crypto: NodeCrypto | null = nodeCrypto() ?? null) {
    this.crypto = size > 0 ? crypto : null
  }

  /** Imported keys held now */
  get held (): number {
    return this.keys.size
  }

  /** True when the envelope's signature verifies under `domain` */
  async validate (signed: RecordEnvelope, domain: string): Promise<boolean> {
    const { crypto } = this
    const raw = signed.publicKey.raw
    if (crypto == null || signed.publicKey.type !== 'Ed25519' || raw.byteLength !== ED25519_KEY_LENGTH || signed.signature.byteLength !== ED25519_SIGNATURE_LENGTH) {
      return signed.validate(domain)
    }
    // the exact key bytes, never a name derived from them
    const id = uint8ArrayToString(raw, 'base64')
    let key = this.keys.get(id)
    if (key == null) {
      const der = new Uint8Array(ED25519_SPKI_PREFIX.byteLength + ED25519_KEY_LENGTH)
      der.set(ED25519_SPKI_PREFIX)
      der.set(raw, ED25519_SPKI_PREFIX.byteLength)
      try {
        key = crypto.createPublicKey({ key: Buffer.from(der.buffer), format: 'der', type: 'spki' })
      } catch {
        // whatever Node refuses to import, the envelope's own check answers as before
        return signed.validate(domain)
      }
      if (this.keys.size >= this.size) {
        this.keys.delete(this.keys.keys().next().value as string)
      }
    } else {
      this.keys.delete(id)
    }
    this.keys.set(id, key)
    return crypto.verify(null, signaturePayload(domain, signed.payloadType, signed.payload), key, signed.signature)
  }
}
