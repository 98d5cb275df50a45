export const PROTOCOL_NAME = 'request'
export const PROTOCOL_VERSION = '1.0.0'
/**
 * One libp2p protocol carries every application name (in the Request message):
 * one set of stream limits and one per-peer concurrency limit cover all of
 * them, and apps add names without touching the registrar or announcing them
 * in identify
 */
export const PROTOCOL = `/membrane/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/** The largest request a responder reads; larger payloads go by transfer */
export const DEFAULT_MAX_REQUEST_SIZE = 1024 * 1024
/** The largest response a requester reads */
export const DEFAULT_MAX_RESPONSE_SIZE = 1024 * 1024
/** Application protocol names are short identifiers, not payloads */
export const MAX_NAME_LENGTH = 256
/** Room for the name, status, reason and protobuf framing around the payload */
export const FRAME_OVERHEAD = 1024

/** From `request()` to the response, including making a link when none exists */
export const DEFAULT_REQUEST_TIMEOUT = 30_000
/** A responder waits this long for the request once a stream is open: a stalled sender is cut off */
export const DEFAULT_RECEIVE_TIMEOUT = 10_000
/** How long a handler may take to answer before the responder gives up */
export const DEFAULT_HANDLER_TIMEOUT = 30_000

/** Requests one peer may have in flight to this node at once (more are answered BUSY), and from it (more wait) */
export const DEFAULT_MAX_CONCURRENT_PER_PEER = 8

/** Streams per connection: a little above the per-peer concurrency, so BUSY can be answered */
export const MAX_INBOUND_STREAMS = 32
export const MAX_OUTBOUND_STREAMS = 32

/** A refusal reason is for logs, not a payload */
export const MAX_REASON_LENGTH = 200

/**
 * Bytes a stream may buffer beyond the largest frame: one transport message
 * can carry more than a whole small frame, and an oversize frame must reach
 * the length check (and its answer) rather than overflow the buffer first
 */
export const READ_AHEAD = 64 * 1024
