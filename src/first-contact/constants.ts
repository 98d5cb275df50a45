/** The first retry after a failed round, ms: long enough not to hammer a restarting bootstrap peer */
export const DEFAULT_INITIAL_DELAY = 1000

/** The longest wait between retries, ms: a page left open finds the network within a minute of it returning */
export const DEFAULT_MAX_DELAY = 60_000

/** How long one dial to a bootstrap peer may take, ms (a WebSockets or WebRTC-direct handshake on a slow link) */
export const DEFAULT_DIAL_TIMEOUT = 10_000

/**
 * How long a new connection to a bootstrap peer may go without negotiating a
 * protocol (identify completing over it), ms. Identify takes milliseconds on
 * loopback and well under a second on a slow link, and gives up by itself
 * after 5 s (js-libp2p's default); a connection that has negotiated nothing
 * after twice that is dead (seen with WebRTC-direct from Chromium: the
 * connection opened, no stream ever did)
 */
export const DEFAULT_PROTOCOL_TIMEOUT = 10_000

/**
 * How often attachment is checked besides on link losses, ms: a safety net
 * for a loss no event announced (a map edge that expired)
 */
export const DEFAULT_CHECK_INTERVAL = 5_000

/**
 * A lost link is checked this soon, ms: the topology's own healing acts first,
 * so a member with links left stays off the bootstrap peers. Longer than the
 * topology's heal delay (`HEAL_DELAY` 200 ms × 0.5–1.5), so a heal's dials
 * have started when the check asks `topology.linking()`
 */
export const CHECK_DELAY = 400

/**
 * How long a node with no member link left lets the topology's heal dials
 * run before it redials a bootstrap peer anyway, ms. A member dial takes
 * milliseconds on a LAN and well under a second across the internet; one to a
 * dead peer can hang for the whole dial timeout, and this bounds that wait.
 * Without it, a member whose neighbours all died linked to the bootstrap
 * peer beside its new member links, and for the seconds until it dropped
 * that link again every map held the bootstrap peer
 */
export const DEFAULT_HEAL_WAIT = 2_000

/** Bootstrap peers dialled at once in one round: enough to get past a few dead ones, few enough not to flood */
export const MAX_PARALLEL_DIALS = 4

/** The peer store tag on configured bootstrap peers (as @libp2p/bootstrap's) */
export const BOOTSTRAP_TAG = 'bootstrap'
export const BOOTSTRAP_TAG_VALUE = 50
