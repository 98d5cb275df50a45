export const PROTOCOL = '/membrane/px/1.0.0'

/** Peers in one response: enough to find another way in, too few to map the network */
export const MAX_PEERS = 16

/** Addresses kept per peer in a response */
export const MAX_ADDRS_PER_PEER = 8

/** 16 peers × 8 addresses × ~100 bytes, with room to spare */
export const MAX_MESSAGE_SIZE = 16 * 1024

/** Members in a sample, beside every known bootstrap peer */
export const DEFAULT_SAMPLE_SIZE = 8

/** Deadline for one exchange */
export const DEFAULT_EXCHANGE_TIMEOUT = 10_000

/** A peer may ask a server at most once per interval; more often is ignored and counted as an offence */
export const MIN_REQUEST_INTERVAL = 10_000

/** Bootstrap peers a member remembers for failover */
export const MAX_KNOWN_BOOTSTRAPS = 64

/** A peer id in a response is a multihash: identity-hashed keys (Ed25519, secp256k1) or sha256 of larger ones fit in this */
export const MAX_PEER_ID_SIZE = 64

/** The peer store tag marking bootstrap peers learned by exchange */
export const BOOTSTRAP_TAG = 'membrane-bootstrap'

/** Members and bootstrap peers ask a connected bootstrap peer again this often, to learn of ones that joined since */
export const REFRESH_INTERVAL = 5 * 60_000
