/** The lower degree bound: three member links keep a member connected when any two fail */
export const DEFAULT_MIN_PEERS = 3

/**
 * How often the policy runs, in ms, and the jitter around it (a fraction of
 * the interval). Jitter spreads members' rounds so they act on each other's
 * fresh map records instead of all at once on the same stale view.
 */
export const DEFAULT_INTERVAL = 3_000
export const DEFAULT_JITTER = 0.5

/** A lost link or a lost map edge runs a round this soon (debounced), so healing starts at once, not at the next timer round */
export const HEAL_DELAY = 200


/** Deadline for one link attempt (a direct dial, or a WebRTC upgrade through the mesh) */
export const DEFAULT_DIAL_TIMEOUT = 10_000

/**
 * New links started per round when below `minPeers`. Two, not the whole
 * deficit: the peers dialed also gain a link, and the next round sees that
 * in the map before adding more (no overshoot past `maxPeers`).
 */
export const DEFAULT_MAX_ADDS_PER_ROUND = 2

/**
 * Per-peer back-off after a failed link attempt: base × 2^failures, capped.
 * A peer that cannot be reached is not hammered; one that comes back is
 * tried again within a minute.
 */
export const DEFAULT_BACKOFF_BASE = 2_000
export const DEFAULT_BACKOFF_MAX = 60_000

/** A link this young is never trimmed: its other end chose it for a reason the map may not show yet */
export const DEFAULT_GRACE_PERIOD = 10_000

/**
 * A peer whose link was trimmed or lost is not re-added for this long unless
 * no other candidate exists: the hysteresis that stops two members dropping
 * and re-adding each other.
 */
export const DEFAULT_COOLDOWN = 30_000

/**
 * Bridging links (to map nodes our part of the mesh cannot reach without a
 * bootstrap peer) are started by about this many members of a part per round:
 * each member bridges with probability `BRIDGES_PER_ROUND / part size`, so a
 * part heals quickly without every member dialing across at once.
 */
export const BRIDGES_PER_ROUND = 2

/** The peer store tag on kept member links, so libp2p's connection pruning keeps them too */
export const TOPOLOGY_TAG = 'membrane-topology'
export const TOPOLOGY_TAG_VALUE = 100

/** The network map role that marks a bootstrap peer */
export const BOOTSTRAP_ROLE = 'bootstrap'

/** Peers read from the peer store when the map knows no member yet (a peer exchange sample is at most 16) */
export const SAMPLE_SIZE = 32
