export const PROTOCOL = '/membrane/admission/1.0.0'

/** Challenge, solution and verdict are each a few dozen bytes */
export const MAX_MESSAGE_SIZE = 256

/**
 * The whole exchange, including the member's work, must finish within this
 * time; a member that cannot solve in time is disconnected.
 */
export const DEFAULT_ADMISSION_TIMEOUT = 20_000

/** Difficulty asked at load 1 (≈ 4 096 hashes: a few ms in Node, tens of ms in a browser) */
export const BASE_DIFFICULTY = 12

/** Every doubling of load adds this many bits (×16 the work) */
export const DIFFICULTY_PER_DOUBLING = 4

/** Never ask for more than this (≈ 4 M hashes: seconds in a browser) */
export const MAX_DIFFICULTY = 22

/**
 * A member refuses challenges harder than this rather than burn its CPU: the
 * server's own cap, so an honest bootstrap peer is always answered
 */
export const MAX_ACCEPTED_DIFFICULTY = MAX_DIFFICULTY

/** Challenges a member solves at once (one per bootstrap peer it is joining, a few at most) */
export const MAX_CONCURRENT_SOLVES = 2

/** A peer that failed admission may not reconnect for this long */
export const REJECT_BACKOFF = 60_000

/** How long a member stays admitted after passing (reconnects within it are free) */
export const ADMITTED_TTL = 10 * 60_000

/** Bounds on the admitted / rejected caches */
export const MAX_REMEMBERED_PEERS = 10_000

/** Hashes between yields to the event loop while solving, so pages stay responsive */
export const HASHES_PER_YIELD = 4096
