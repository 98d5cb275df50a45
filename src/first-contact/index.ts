import { FirstContact as FirstContactClass } from './first-contact.js'
import type { ComponentLogger, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export { DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY, DEFAULT_DIAL_TIMEOUT } from './constants.js'
export { InvalidBootstrapAddressError, BootstrapUnreachableError } from './errors.js'

/** One failed round of first contact */
export interface BootstrapErrorDetail {
  /** `InvalidBootstrapAddressError` (never retried) or `BootstrapUnreachableError` (cause: the last dial error) */
  error: Error
  /** The address concerned, for a malformed one; otherwise every address tried */
  addresses: string[]
  /** Rounds tried so far */
  attempt: number
  /** ms until the next round, absent when nothing is left to retry */
  retryIn?: number
}

export interface FirstContactEvents {
  /** A round of dials to the bootstrap peers failed, or an address is malformed */
  'bootstrap:error': CustomEvent<BootstrapErrorDetail>
  /** A bootstrap peer is connected */
  'bootstrap:connect': CustomEvent<PeerId>
}

export interface FirstContactInit {
  /**
   * Bootstrap multiaddrs, each ending in `/p2p/<peer id>`
   *
   * @default []
   */
  bootstrap?: string[]
  /** @default 1000 */
  initialDelay?: number
  /** @default 60000 */
  maxDelay?: number
  /** @default 10000 */
  dialTimeout?: number
}

export interface FirstContactComponents {
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface FirstContact extends TypedEventTarget<FirstContactEvents>, Startable {
  /** True once a bootstrap peer was reached (the mesh takes over from there) */
  readonly connected: boolean
  /** The latest failure, until a bootstrap peer is reached */
  readonly lastError?: BootstrapErrorDetail
}

/**
 * First contact: dials the bootstrap peers until one answers, doubling the
 * wait between rounds (1 s → 60 s), and reports every failed round as a
 * `bootstrap:error` event, so an app can say what is wrong instead of
 * waiting silently. Malformed addresses are reported once and skipped.
 * `createMembrane({ bootstrap })` installs it as `node.services.firstContact`.
 *
 * @example
 * ```ts
 * node.services.firstContact.addEventListener('bootstrap:error', (evt) => {
 *   console.warn(evt.detail.error.message, 'retry in', evt.detail.retryIn)
 * })
 * ```
 */
export function firstContact (init: FirstContactInit = {}): (components: FirstContactComponents) => FirstContact {
  return (components) => new FirstContactClass(components, init)
}
