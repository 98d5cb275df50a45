import { DefaultAdmission } from './admission.js'
import type { ComponentLogger, Metrics, PeerId, PrivateKey, Startable } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { PROTOCOL as ADMISSION_PROTOCOL, BASE_DIFFICULTY, MAX_DIFFICULTY, MAX_ACCEPTED_DIFFICULTY } from './constants.js'
export { AdmissionFailedError, DifficultyTooHighError } from './errors.js'
export { solveWork, verifyWork, difficultyForLoad } from './pow.js'

/**
 * Load relative to the server's thresholds: below 1 nothing is asked; at 1 the
 * base difficulty; each doubling harder.
 */
export type LoadFunction = () => number

export interface AdmissionInit {
  /**
   * Server side: how loaded this node is. When it returns ≥ 1 every new inbound
   * peer must solve a proof-of-work challenge. Members leave it unset: they
   * only answer challenges.
   *
   * @default undefined (never challenge)
   */
  load?: LoadFunction
  /** @default 12 */
  baseDifficulty?: number
  /** @default 4 */
  difficultyPerDoubling?: number
  /** @default 22 */
  maxDifficulty?: number
  /**
   * Member side: refuse challenges harder than this
   *
   * @default 24
   */
  maxAcceptedDifficulty?: number
  /**
   * Deadline for the whole exchange, in ms
   *
   * @default 20000
   */
  timeout?: number
  /**
   * Peers never challenged (e.g. other bootstrap peers)
   *
   * @default []
   */
  exempt?: PeerId[]
}

export interface AdmissionStats {
  challenged: number
  admitted: number
  rejected: number
}

export interface Admission extends Startable {
  /** Counters since start */
  readonly stats: AdmissionStats
  /** Whether a peer that failed admission is still barred */
  isBarred(peer: PeerId): boolean
  /** The difficulty a new peer would be asked for now (0 = none) */
  currentDifficulty(): number
}

export interface AdmissionComponents {
  peerId: PeerId
  privateKey: PrivateKey
  registrar: Registrar
  connectionManager: ConnectionManager
  events: EventTarget
  logger: ComponentLogger
  metrics?: Metrics
}

/**
 * Load-scaled proof-of-work admission (`/membrane/admission/1.0.0`). On a
 * bootstrap peer with a `load` function, new inbound peers are asked to solve
 * a SHA-256 puzzle bound to their PeerId and a fresh server nonce whenever load
 * ≥ 1; the difficulty rises with load; a peer that fails is disconnected and
 * barred for a minute. On members it answers such challenges.
 *
 * @example
 * ```ts
 * services: { admission: admission({ load: () => connections / 200 }) }
 * ```
 */
export function admission (init: AdmissionInit = {}): (components: AdmissionComponents) => Admission {
  return (components) => new DefaultAdmission(components, init)
}
