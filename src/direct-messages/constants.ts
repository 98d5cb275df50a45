export const PROTOCOL = '/membrane/dm/1.0.0'

/** Largest payload, as for broadcast: a direct message is not a file transfer */
export const MAX_MESSAGE_SIZE = 64 * 1024

/** Room for the id and protobuf framing around the payload */
export const FRAME_OVERHEAD = 64

/** From send to acknowledgement, including making a link when none exists */
export const DEFAULT_SEND_TIMEOUT = 30_000

/** A receiver waits this long for the message once a stream is open */
export const DEFAULT_RECEIVE_TIMEOUT = 10_000

/** Messages per sender per second, and the burst allowed */
export const RATE_LIMIT = 20
export const RATE_BURST = 50

/**
 * Refused streams (over the rate, or malformed) a sender may open within
 * `OFFENCE_WINDOW` seconds, as a multiple of its burst: past it, its
 * connection is closed. An honest sender over its rate gets a few refusals
 * and backs off; a flood of streams is cut off instead of answered.
 */
export const OFFENCES_PER_BURST = 4
export const OFFENCE_WINDOW = 10

/** Concurrent inbound message streams per connection (each carries one message) */
export const MAX_INBOUND_STREAMS = 32
export const MAX_OUTBOUND_STREAMS = 32

/** Message ids remembered so a resent message is acknowledged but not delivered twice */
export const SEEN_CACHE_SIZE = 4096
/** A resend comes within one send deadline; ids are kept well past it */
export const SEEN_TTL = 10 * 60_000
export const ID_LENGTH = 16
