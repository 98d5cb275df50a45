import { MAX_MESSAGE_SIZE as BROADCAST_MAX_MESSAGE_SIZE } from '../broadcast/constants.js'

/** A channel named `name` travels on the gossipsub topic `CHANNEL_TOPIC_PREFIX + name` */
export const CHANNEL_TOPIC_PREFIX = '/membrane/channel/1/'

/**
 * Every member joins this gossipsub topic; interest announcements flood on it,
 * and the neighbour each one first arrives from is the next hop towards its author
 */
export const INTEREST_TOPIC = '/membrane/channels/interest/1.0.0'

/** The protocol interest-routed channel messages are sent over, one message per stream */
export const ROUTE_PROTOCOL = '/membrane/channels/route/1.0.0'

/** Channel names travel in every message and key per-peer tables, so they are short */
export const MAX_CHANNEL_NAME_LENGTH = 128

/** The largest encoded channel message, the same as a broadcast payload */
export const MAX_MESSAGE_SIZE = BROADCAST_MAX_MESSAGE_SIZE

/** The most target peers one routed copy lists; a copy for more lists none and is matched at each hop instead */
export const MAX_TARGETS = 128

/**
 * The largest peer id multihash: libp2p inlines public keys of up to 42 bytes
 * (identity multihash, 2 header bytes); larger keys are hashed (sha256, 34 bytes)
 */
export const MAX_PEER_ID_SIZE = 44

/** The largest author signature: Ed25519 is 64 bytes, secp256k1 DER at most 72 */
export const MAX_SIGNATURE_SIZE = 128

/** A routed message is the payload plus channel, author, seqno, signature and targets (peer ids, each with a 2-byte field header) */
export const MAX_ROUTED_MESSAGE_SIZE = MAX_MESSAGE_SIZE + MAX_CHANNEL_NAME_LENGTH + 256 + MAX_TARGETS * (MAX_PEER_ID_SIZE + 2)

/**
 * The largest query, as JSON. Every peer on the path evaluates every announced
 * query against every message, so queries are kept small.
 */
export const MAX_QUERY_SIZE = 2048

/** The deepest nesting of objects and arrays in a query; bounds the matcher's recursion */
export const MAX_QUERY_DEPTH = 8

/** The most objects, arrays and values in one query; bounds validation and matching work */
export const MAX_QUERY_NODES = 256

/** The most queries one member may hold on one channel */
export const MAX_QUERIES_PER_CHANNEL = 8

/** The most channels one interest announcement may list */
export const MAX_INTEREST_CHANNELS = 32

/** The largest interest announcement (a gossipsub message payload) */
export const MAX_INTEREST_SIZE = 16 * 1024

/** Announcements are void this long after they are made unless refreshed */
export const INTEREST_TTL = 60_000

/** Members re-announce well within the TTL so one lost announcement does not drop a route */
export const INTEREST_REFRESH = 20_000

/** An announcement expiring further ahead than this is rejected (bounds replay and clock skew abuse) */
export const MAX_INTEREST_TTL = 5 * 60_000

/** A re-announcement prompted by a new neighbour waits this long, so joins in a burst cost one announcement */
export const ANNOUNCE_DEBOUNCE = 500

/** The most peers whose interests are kept; later ones are ignored until entries expire */
export const MAX_INTEREST_PEERS = 10_000

/** Content ids and routed message ids remembered for deduplication: how many, and for how long */
export const SEEN_CACHE_SIZE = 10_000
export const SEEN_TTL = 2 * 60_000

/** A routed message is dropped after this many forwarders (guards against transient routing loops) */
export const MAX_HOPS = 16

/** The deadline for opening, writing and closing one route stream, or reading one */
export const DEFAULT_ROUTE_TIMEOUT = 10_000

/** Route streams are short-lived, one per message; these bound the concurrent ones per connection */
export const MAX_INBOUND_STREAMS = 32
export const MAX_OUTBOUND_STREAMS = 64

/** The gossipsub behaviour penalty for an invalid routed message (gossipsub squares the sum) */
export const INVALID_ROUTED_PENALTY = 1

/** The domain separation prefix of routed message signatures */
export const SIGNATURE_PREFIX = 'membrane-channels:'
