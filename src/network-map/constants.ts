/**
 * The protocol map exchanges run on: one long-lived stream per neighbour and
 * direction, and a summary sync on connect (`channel.ts`)
 */
export const PROTOCOL_NAME = 'netmap'
export const PROTOCOL_VERSION = '2.0.0'
export const PROTOCOL = `/membrane/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/**
 * 2.0.0 plus record deltas on a PUSH (`delta.ts`): a new version as what
 * changed against the one the neighbour holds. Our stream asks for it first
 * and falls back to 2.0.0, so a 2.0.0 peer gets full records as before.
 */
export const DELTA_PROTOCOL = `/membrane/${PROTOCOL_NAME}/2.1.0`

/**
 * How long a new version keeps its delta (ms): its flood leaves within
 * `floodDelay` of its arrival, so this only covers queued and slow writes.
 * Held longer, every record would keep ≈ 200 B more than it needs; a
 * neighbour that links later syncs whole records.
 */
export const DELTA_HOLD = 10_000

/**
 * How long the syncs of a newcomer's other links wait for its first sync's
 * answer (ms), so that it downloads the map once, not once per link
 */
export const BOOTSTRAP_WAIT = 2_000

/**
 * The protocol before it (a stream per push, a full digest on connect:
 * `sync.ts`). It is still served, and spoken to a neighbour that does not
 * speak 2.0.0, so a 1.0.0 peer keeps its behaviour and its place in the map.
 */
export const LEGACY_PROTOCOL = `/membrane/${PROTOCOL_NAME}/1.0.0`

/**
 * Signed envelope domain and payload type of a map record. A distinct domain
 * means a signature made for any other libp2p record (peer records, gossipsub
 * messages) can never be replayed as a map record.
 */
export const RECORD_DOMAIN = 'membrane-netmap-record'
export const RECORD_PAYLOAD_TYPE = new TextEncoder().encode('/membrane/netmap/record')

/**
 * How long a record stays valid. Records are re-issued at a random point
 * between `REFRESH_MIN` and `REFRESH_MAX` of this (see {@link refreshDelay}).
 * A node that vanished without a goodbye leaves the maps when its neighbours
 * drop their edges to it (it is then unreachable, `DEFAULT_UNREACHABLE_TIMEOUT`);
 * expiry is only the backstop. Floods lost on the way are repaired by each
 * link's periodic summary (`DEFAULT_RESYNC_INTERVAL`), not by refreshes, so
 * the TTL is long: refreshes were 86 % of the map's steady traffic at 300
 * nodes with a 5 min TTL (issue 19, BENCHMARKS.md), and every one floods to
 * every node.
 */
export const DEFAULT_RECORD_TTL = 30 * 60_000

/**
 * Every 2.0.0 link is checked about this often, in ms (each node picks a
 * random point in ±25 % of it per round, so links do not check in step): we
 * send the neighbour our summary's count and root (a SUMMARY of about 20
 * bytes); a neighbour holding other versions answers with its bucket summary
 * and the connect-time sync runs from there. A record version lost on the way
 * (a push refused on a full queue, a stream reset under a write, a version
 * that arrived while its node was pruned) is then in every map within about
 * this long plus a flood, whatever the TTL.
 */
export const DEFAULT_RESYNC_INTERVAL = 60_000

/** When to check our links next, in ms from now */
export function resyncDelay (interval: number, random = Math.random()): number {
  return interval * (0.75 + 0.5 * random)
}

/**
 * Refreshes are spread over this share of the TTL, at random: after a mass
 * start, nodes that all issued their first record within seconds would
 * otherwise all re-issue within the same seconds (a refresh storm). The
 * latest refresh leaves a third of the TTL for the new record to spread.
 */
export const REFRESH_MIN = 0.3
export const REFRESH_MAX = 0.65

/** When to re-issue a record of ours that nothing else changes, in ms from now */
export function refreshDelay (recordTtl: number, random = Math.random()): number {
  return recordTtl * (REFRESH_MIN + (REFRESH_MAX - REFRESH_MIN) * random)
}

/** The longest validity accepted from others; later expiries are clamped, so a far-future record cannot pin a node in the map */
export const DEFAULT_MAX_RECORD_TTL = 60 * 60_000

/** Neighbour changes within this window are folded into one new record (connection storms cost one signature, one flood) */
export const DEFAULT_PUBLISH_DELAY = 100

/**
 * Link- and address-caused re-issues: a burst of this many `DEFAULT_PUBLISH_DELAY`
 * apart, then one per `DEFAULT_PUBLISH_INTERVAL` ms (a token bucket). During a
 * mass start a node's links change for as long as the wiring takes; each
 * re-issue floods to every node, so without the limit the map's start costs
 * N × (link changes per node) floods.
 */
export const DEFAULT_PUBLISH_INTERVAL = 2_000
export const DEFAULT_PUBLISH_BURST = 3

/**
 * A link-caused re-issue whose timer fires this many ms late is held for
 * another `publishInterval` (issue 19, mass start): our event loop is that far
 * behind, and a new version now would cost every node one more signature
 * check. Measured at a 300-node start over 2 worker processes: event-loop p99
 * 2–7 s, every node verifying ≈ 5 versions of every other node's record
 * (1 495 records issued, 297 k verified in 144 s), and those verifications
 * slowing the dials that cause the next versions. Link changes made while the
 * re-issue is held fold into it.
 */
export const PUBLISH_LATE = 500

/** The longest a link-caused re-issue is held for lateness: at most this, and at most a tenth of the record TTL */
export const MAX_PUBLISH_HOLD = 30_000

/** Records queued for a neighbour within this window travel in one stream */
export const DEFAULT_FLOOD_DELAY = 20

/**
 * A node that no chain of two-sided edges links to us for this long is dropped
 * from the map: it left or crashed, or sits in a partition we cannot reach.
 * Long enough to cover a join, when records arrive before the edges that reach them.
 */
export const DEFAULT_UNREACHABLE_TIMEOUT = 15_000

/**
 * A node that was reachable, is no longer, and that no node we reach claims as
 * a neighbour any more is dropped after this, in ms: it lost its last link.
 * Covers a re-issued record crossing the floods on a slow event loop, and keeps
 * "gone from every map" within about 2 s of the last link's loss.
 */
export const DEFAULT_LOST_TIMEOUT = 1_000

/**
 * A connection the registrar has not made a map link this long after it
 * opened is probed, in ms: we open our 2.0.0 stream on it with a summary, and a
 * peer that accepts it is a neighbour. The registrar links a peer only when
 * identify names the protocol, and libp2p runs identify once per connection
 * with a 5 s deadline, which an event loop seconds behind misses: without the
 * probe neither end of such a link lists it, and a node whose every identify
 * failed holds only itself and is missing from every other map.
 */
export const DEFAULT_LINK_PROBE_DELAY = 10_000

/** The largest signed record accepted: 256 neighbours of ~45 bytes plus addresses, key and signature */
export const DEFAULT_MAX_RECORD_SIZE = 32 * 1024

/** The most neighbours one record may list; a node with more lists its best links (direct first, then lowest RTT) */
export const DEFAULT_MAX_NEIGHBOURS = 256

/**
 * The most node records held (live, departed or pruned). A full map is what
 * every member holds and floods; past about this many nodes its memory and
 * traffic stop being small (docs/scaling.md). Records about further nodes are
 * refused until some expire, and the map says it is partial.
 */
export const DEFAULT_MAX_NODES = 1000

/** The largest frame on the wire. A sync reply is split into frames of at most this size */
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024

/** Public fields are small: they travel in every record */
export const MAX_ALIAS_LENGTH = 64
export const MAX_ROLES = 8
export const MAX_ROLE_LENGTH = 32
export const MAX_MULTIADDRS = 16

/** Every 1.0.0 stream (sync or push) must finish within this, in ms; so must every write on a 2.0.0 stream */
export const DEFAULT_STREAM_TIMEOUT = 10_000

/**
 * A 2.0.0 stream that carried no frame for this long is closed (and reopened
 * on the next write), in ms. At least the record TTL: a neighbour re-issues its
 * record within `REFRESH_MAX` of it, so a live link is never idle this long.
 */
export function channelIdleTimeout (recordTtl: number): number {
  return Math.max(recordTtl, 60_000)
}

/** Frame bytes queued on one 2.0.0 stream and not yet written, beyond which pushes are refused (the flood repairs later) */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024

/** How long a leaving node waits for its goodbye to reach its neighbours, in ms */
export const DEFAULT_GOODBYE_TIMEOUT = 2_000

/** Map streams per connection and protocol: 2.0.0 needs one each way (two while one is replaced); 1.0.0 a sync and a push each way with room for one more */
export const DEFAULT_MAX_INBOUND_STREAMS = 4
export const DEFAULT_MAX_OUTBOUND_STREAMS = 4

/**
 * Pushed records accepted per neighbour per second, and the burst allowed.
 * A neighbour forwards every record in the network, so the burst covers a
 * mass start of `DEFAULT_MAX_NODES` nodes; a peer above it is sending invented records.
 */
export const DEFAULT_MAX_RECORDS_PER_SECOND = 200
export const DEFAULT_RECORD_BURST = DEFAULT_MAX_NODES

/**
 * Penalty points per offence. Points halve every `PENALTY_HALF_LIFE` ms; a
 * peer at `DEFAULT_PENALTY_THRESHOLD` points is disconnected and its streams
 * refused until the points decay below the threshold. Only what an honest
 * peer never does costs points: a stale record costs them only when the same
 * stream had already carried (or listed) a newer version of it. Floods and
 * slow event loops deliver old versions late, and separate streams from one
 * honest neighbour are processed concurrently; within one stream an honest
 * sender's versions only grow. A full map and an expired record cost nothing.
 */
export const OFFENCE_POINTS: Record<string, number> = {
  MalformedFrameError: 5,
  FrameTooLargeError: 5,
  MalformedRecordError: 5,
  InvalidRecordError: 5,
  RecordTooLargeError: 5,
  RecordSignatureError: 5,
  RecordSignerMismatchError: 5,
  UnexpectedRecordError: 5,
  RecordRateLimitError: 5,
  StaleRecordError: 2,
  ExpiredRecordError: 0,
  MapFullError: 0
}
export const DEFAULT_PENALTY_THRESHOLD = 10
export const PENALTY_HALF_LIFE = 60_000

/** The latency assumed for an edge nobody measured, when `path()` weighs by latency */
export const UNMEASURED_RTT = 100

/**
 * The longest identity-multihash digest a PeerId may carry: libp2p inlines
 * public keys of at most 42 bytes, and hashes longer ones with sha2-256. Peer
 * ids on the wire are byte-checked against this before anything parses them.
 */
export const MAX_IDENTITY_DIGEST_LENGTH = 42

/** @deprecated the names before the house naming table (docs/STYLE.md) */
export const MAX_RECORD_SIZE = DEFAULT_MAX_RECORD_SIZE
/** @deprecated use {@link DEFAULT_MAX_NEIGHBOURS} */
export const MAX_NEIGHBOURS = DEFAULT_MAX_NEIGHBOURS
/** @deprecated use {@link DEFAULT_MAX_NODES} */
export const MAX_NODES = DEFAULT_MAX_NODES
