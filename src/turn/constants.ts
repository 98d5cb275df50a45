export const PROTOCOL_NAME = 'ice'
export const PROTOCOL_VERSION = '1.0.0'
export const PROTOCOL = `/membrane/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/** A request is one varint; anything longer is not ours */
export const MAX_REQUEST_SIZE = 32

/** A response: a few TURN URLs and a credential pair */
export const MAX_RESPONSE_SIZE = 4096

/** TURN URLs an operator may list, and the longest accepted */
export const MAX_TURN_URLS = 8
export const MAX_URL_LENGTH = 256

/** The whole exchange, proof-of-work included (admission allows the same) */
export const DEFAULT_REQUEST_TIMEOUT = 20_000

/**
 * Lifetime of TURN credentials, in seconds. Short, so a leaked pair is worth
 * little; members fetch new ones at half-life while connected. An allocation
 * made with them lives on until its next refresh after expiry.
 */
export const DEFAULT_CREDENTIAL_TTL = 3600

/** Requests one peer may make per `DEFAULT_RATE_WINDOW` (a member asks once per connection and at half-life) */
export const DEFAULT_MAX_REQUESTS_PER_PEER = 5
export const DEFAULT_RATE_WINDOW = 60_000

/** Bootstrap peers whose servers a member keeps (the most recently reached win) */
export const MAX_SOURCES = 4

/** Streams per connection: one exchange at a time */
export const MAX_INBOUND_STREAMS = 1
export const MAX_OUTBOUND_STREAMS = 1
