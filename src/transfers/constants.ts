export const PROTOCOL_NAME = 'transfer'
export const PROTOCOL_VERSION = '1.0.0'
/** One libp2p protocol for every application name, as for requests */
export const PROTOCOL = `/membrane/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/** Bytes per data frame: large enough that framing costs nothing, small enough to interleave with other streams */
export const MAX_CHUNK_SIZE = 64 * 1024
/** Room for the frame's kind, digest, size, reason and protobuf framing */
export const FRAME_OVERHEAD = 1024
/** Application metadata in an offer (a file name, a type), not a payload */
export const MAX_META_SIZE = 4096
/** Application names are short identifiers */
export const MAX_NAME_LENGTH = 256
export const ID_LENGTH = 16
export const MAX_REASON_LENGTH = 200

/**
 * Bytes the sender may have unacknowledged: the most either end buffers for
 * one transfer (the receiver for its application, the sender to resend after a
 * dropped link). Several round trips of a fast link, so credit never stalls it
 */
export const DEFAULT_WINDOW_SIZE = 4 * 1024 * 1024
/** The receiver acknowledges after its application took this fraction of the window */
export const ACK_FRACTION = 8

/** No progress (no frame while credit is open, no acknowledgement while the sender waits) for this long fails the transfer */
export const DEFAULT_IDLE_TIMEOUT = 30_000
/** Opening a stream and getting the receiver's answer */
export const DEFAULT_OFFER_TIMEOUT = 15_000
/** After a link drops, how long the sender tries to re-link and the receiver keeps what it holds */
export const DEFAULT_RESUME_TIMEOUT = 30_000
/** Re-link attempts within the resume timeout */
export const DEFAULT_MAX_RESUMES = 5
/** The first pause between re-link attempts, doubled each time */
export const RESUME_BACKOFF = 250
export const MAX_RESUME_BACKOFF = 4000

/** Inbound transfers in flight per peer (more are answered BUSY), and in all */
export const DEFAULT_MAX_TRANSFERS_PER_PEER = 4
export const DEFAULT_MAX_TRANSFERS = 32
/** Streams per connection: a few above the per-peer limit, so BUSY and resumes can be answered */
export const MAX_INBOUND_STREAMS = 8
export const MAX_OUTBOUND_STREAMS = 8

/** Bytes per block of the content hash list (see hash.ts): one data frame, so a full frame is hashed without a copy */
export const HASH_BLOCK_SIZE = MAX_CHUNK_SIZE
/** Block digests in flight before the hasher waits (bounds the blocks it holds) */
export const MAX_PENDING_DIGESTS = 32
