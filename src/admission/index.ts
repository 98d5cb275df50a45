import { DefaultAdmission } from './admission.js'
import type { ComponentLogger, Metrics, PeerId, PrivateKey, Startable } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { PROTOCOL as ADMISSION_PROTOCOL, BASE_DIFFICULTY, MAX_DIFFICULTY, MAX_ACCEPTED_DIFFICULTY } from './constants.js'
export { AdmissionFailedError, DifficultyTooHighError, UnexpectedChallengeError } from './errors.js'
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
   * @default 22 (the server's `maxDifficulty` default)
   */
  maxAcceptedDifficulty?: number
  /**
   * Member side: whether `peer` is a bootstrap peer this node joins (configured,
   * or learnt from a configured one). Challenges are answered only from such a
   * peer, on a connection this node dialed, within `timeout` of it opening,
   * once per connection; any other challenge closes the connection.
   *
   * @default () => false (answer no challenge)
   */
  isBootstrapPeer?(peer: PeerId): boolean
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
  /** Server side: inbound peers asked for work */
  challenged: number
  /** Server side: inbound peers that solved it */
  admitted: number
  /** Server side: inbound peers that failed and were barred */
  rejected: number
  /** Member side: challenges solved for bootstrap peers */
  solved: number
  /** Member side: challenges refused (unexpected, too hard, malformed, or too many at once) */
  refused: number
}

export interface Admission extends Startable {
  /** Counters since start (a fresh copy per call) */
  stats(): AdmissionStats
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
