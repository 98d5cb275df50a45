import { hmac } from '@noble/hashes/hmac.js'
import { sha1 } from '@noble/hashes/legacy.js'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'

export interface TurnCredentials {
  /** `<expiry, unix seconds>:<peer id>` */
  username: string
  /** base64(HMAC-SHA1(secret, username)) */
  credential: string
  /** Unix time in seconds after which coturn refuses them */
  expiry: number
}

/**
 * TURN credentials in coturn's REST API scheme (`use-auth-secret` with
 * `static-auth-secret`): coturn recomputes the HMAC from its copy of the
 * secret, so nothing is stored per member.
 */
export function turnCredentials (secret: string, user: string, ttl: number, now = Date.now()): TurnCredentials {
  const expiry = Math.floor(now / 1000) + ttl
  const username = `${expiry}:${user}`
  const mac = hmac(sha1, uint8ArrayFromString(secret), uint8ArrayFromString(username))
  return { username, credential: uint8ArrayToString(mac, 'base64pad'), expiry }
}
