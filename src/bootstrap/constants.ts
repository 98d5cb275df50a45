/** Default TCP port of a bootstrap peer; WebSockets listens on the next port */
export const DEFAULT_PORT = 4001

/** Loopback by default: an operator opts in to exposure with --host */
export const DEFAULT_HOST = '127.0.0.1'

/**
 * Relay limits for members' signaling connections, the same as circuit relay
 * v2's defaults: enough for SDP + ICE exchange, not for bulk data.
 */
export const DEFAULT_RELAY_MAX_RESERVATIONS = 128
export const DEFAULT_RELAY_DURATION_LIMIT = 2 * 60 * 1000
export const DEFAULT_RELAY_DATA_LIMIT = 128n * 1024n

/** The bootstrap peer forwards at most this many topics it joined on members' behalf */
export const DEFAULT_MAX_RELAYED_TOPICS = 1024

/** Connections a bootstrap peer holds at once (members are meant to move on to each other) */
export const DEFAULT_MAX_CONNECTIONS = 512

/** Simultaneous inbound connections from one IP: room for a NAT full of members, not a flood */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 16
