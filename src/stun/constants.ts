/** RFC 5389: the fixed cookie in every STUN header */
export const MAGIC_COOKIE = 0x2112A442

/** RFC 5389 message types this service knows */
export const BINDING_REQUEST = 0x0001
export const BINDING_SUCCESS = 0x0101

/** RFC 5389 attribute types */
export const XOR_MAPPED_ADDRESS = 0x0020
export const FINGERPRINT = 0x8028
/** XORed into the CRC-32 of a FINGERPRINT attribute */
export const FINGERPRINT_XOR = 0x5354554E

export const HEADER_SIZE = 20

/**
 * Larger datagrams are dropped unread: a binding request carries at most a
 * few optional attributes (SOFTWARE, FINGERPRINT, ICE's), and 548 bytes is
 * the smallest IPv4 payload every path must carry (RFC 5389 §7.1)
 */
export const MAX_REQUEST_SIZE = 548

/**
 * Binding requests answered per source IP address per `DEFAULT_RATE_WINDOW`.
 * ICE sends one request (plus retransmits) per server per peer connection, so
 * this is a member opening a few peer connections a second, and caps what a
 * spoofed source can reflect towards one victim.
 */
export const DEFAULT_MAX_REQUESTS_PER_SOURCE = 50

/** The window of the per-source rate limit, in ms */
export const DEFAULT_RATE_WINDOW = 10_000

/** Binding requests answered per second over all sources together */
export const DEFAULT_MAX_REQUESTS_PER_SECOND = 2000

/**
 * Sources tracked by the rate limiter at once; past this, new sources are not
 * answered until old entries expire (a flood of spoofed sources cannot grow
 * memory without bound)
 */
export const MAX_TRACKED_SOURCES = 10_000

/** The conventional STUN port (RFC 5389 §18.4) */
export const DEFAULT_STUN_PORT = 3478
