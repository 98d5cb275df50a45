/** The mesh circuit protocol: open a byte stream to a peer through other members */
export const CIRCUIT_PROTOCOL = '/membrane/circuit/1.0.0'

/**
 * The multiaddr protocol that names a mesh circuit, e.g.
 * `/p2p/<hop1>/p2p/<hop2>/membrane-circuit/p2p/<target>`. The code is in the
 * multicodec private-use range (0x300000–0x3fffff), so it clashes with no
 * registered protocol.
 */
export const CIRCUIT_MULTIADDR_NAME = 'membrane-circuit'
export const CIRCUIT_MULTIADDR_CODE = 0x3f4d43 // "?MC"

const second = 1000
const minute = 60 * second

/**
 * The most relaying peers between the two ends. Each hop adds a round trip to
 * setup and to every signaling message; six covers any path in a mesh of a few
 * thousand members with degree 6 and keeps the WebRTC handshake well inside
 * its timeouts.
 */
export const DEFAULT_MAX_HOPS = 6

/**
 * Signaling circuits carry only the WebRTC offer, answer and ICE candidates
 * (a few KiB), identify and the Noise handshake. The budget is libp2p circuit
 * relay v2's default (128 KiB, 2 min), so a member relaying signaling spends
 * no more than a stock relay server would.
 */
export const DEFAULT_SIGNALING_LIMIT = { bytes: 128 * 1024, duration: 2 * minute }

/**
 * Relay circuits carry application data when WebRTC cannot connect. They are
 * bounded (8 MiB both directions together, 10 minutes) so a member lends a
 * little bandwidth, not a permanent tunnel; the initiator opens a new circuit
 * when one ends.
 */
export const DEFAULT_RELAY_LIMIT = { bytes: 8 * 1024 * 1024, duration: 10 * minute }

/**
 * Circuits one neighbour may have open through this hop at once, counted
 * separately for circuits it sent us (in) and circuits we forward to it (out).
 * Eight lets a neighbour signal to a full mesh of peers at once.
 */
export const DEFAULT_MAX_CIRCUITS_PER_PEER = 8

/** Circuits this node relays at once, all neighbours together */
export const DEFAULT_MAX_CIRCUITS = 64

/**
 * Relay circuits this node carries at once. Relaying data costs bandwidth, so
 * fewer are allowed than signaling circuits.
 */
export const DEFAULT_MAX_RELAY_CIRCUITS = 8

/**
 * Circuit requests one neighbour may send per `rateWindow`; beyond this the
 * request is refused with RATE_LIMITED. One connect() costs one request (two
 * with the relay fallback), so 30 per minute is generous for a well-behaved
 * member and cheap to refuse for a flooder.
 */
export const DEFAULT_FORWARD_RATE = 30

/** The window of `forwardRate`, in ms */
export const DEFAULT_RATE_WINDOW = minute

/**
 * The largest circuit request accepted: 2 × (max hops + 1) peer id
 * multihashes (RSA ids are 34 bytes, inline Ed25519 ids 38) plus framing fit
 * well inside 4 KiB.
 */
export const MAX_REQUEST_SIZE = 4096

/** The largest circuit response accepted (status, 256-char reason, one peer id) */
export const MAX_RESPONSE_SIZE = 1024

/** The longest reason string sent back in a response */
export const MAX_REASON_LENGTH = 256

/** How long a hop or target waits for the circuit request after the stream opens */
export const DEFAULT_REQUEST_TIMEOUT = 5 * second

/**
 * How long a hop waits for the rest of the path to answer. Each further hop
 * waits the same, so a stalled peer is reported by its upstream neighbour
 * before the opener's own (longer) deadline.
 */
export const DEFAULT_RESPONSE_TIMEOUT = 10 * second

/**
 * How long `connect()` or a dial may spend opening the circuit and running
 * Noise + yamux over it
 */
export const DEFAULT_OPEN_TIMEOUT = 20 * second

/**
 * How long one WebRTC attempt over the circuit may take before it is abandoned
 * and retried. On a mesh of healthy links SDP + ICE finish in well under a
 * second per hop; the cap stops the @libp2p/webrtc init-channel race (the
 * dialer waiting for an `open` that never comes) from costing the whole dial.
 */
export const DEFAULT_WEBRTC_ATTEMPT_TIMEOUT = 4 * second

/**
 * With a measured circuit round trip, one WebRTC attempt may take this many
 * of them. An attempt is about six circuit round trips when it goes well
 * (offer/answer, trickled candidates, ICE checks, DTLS, SCTP and the init
 * channel, the direct ones no slower than the circuit); twenty leaves room for
 * a slow candidate and a DTLS retransmit without waiting on a dead attempt.
 */
export const WEBRTC_ATTEMPT_RTTS = 20

/**
 * The least an adaptive attempt deadline may be: on loopback or a LAN the
 * circuit round trip is a few ms, but ICE gathering and libdatachannel's 1 s
 * DTLS retransmit timer (issue 14) are not scaled by it.
 */
export const MIN_WEBRTC_ATTEMPT_TIMEOUT = 2 * second

/**
 * The most an adaptive attempt deadline may be: past this a path is too slow
 * for WebRTC to beat the circuit it would replace, and the circuit is kept.
 */
export const MAX_WEBRTC_ATTEMPT_TIMEOUT = 10 * second

/**
 * How long a circuit that `connect()` replaced with a WebRTC link stays open
 * for the streams already on it (a message in flight, identify, the
 * answerer's signaling stream) before it is closed. New streams go to the
 * WebRTC link at once (bestConnection prefers it); long-lived ones (gossipsub)
 * never drain and reopen on it when the circuit closes, so this is short: many
 * round trips of a healthy mesh, and a message cut off is resent over the new
 * link (direct messages retry once with the same id). The hops' relay slots
 * are freed that much sooner.
 */
export const DEFAULT_CIRCUIT_DRAIN_TIMEOUT = 1 * second

/**
 * How long to let the answerer finish its signaling stream before the circuit
 * closes (@libp2p/webrtc closes the new peer connection if that stream fails
 * to close, so cutting the circuit under it would undo the upgrade), and how
 * long closing a drained circuit may take before it is aborted
 */
export const DEFAULT_SIGNALING_DRAIN_TIMEOUT = 2 * second

/**
 * WebRTC attempts per `connect()` before falling back to a relay circuit. In
 * Chromium about 1 attempt in 30 still times out after the init-channel guard
 * (the answerer finds its signaling stream closed); three independent attempts
 * made 100 of 100 page-to-page connects here (test/browser/connect-trials.spec.ts).
 */
export const DEFAULT_WEBRTC_ATTEMPTS = 3

/** Streams of the circuit protocol one connection may carry in each direction */
export const MAX_STREAMS_PER_CONNECTION = 32

/**
 * The longest public key libp2p puts inline in a peer id (an identity
 * multihash); longer keys are hashed with sha2-256. A peer id field longer
 * than either is refused before it is decoded.
 */
export const MAX_INLINE_KEY_LENGTH = 42

/**
 * Points a malformed circuit request costs its sender from the forwarding
 * budget (`forwardRate` per `rateWindow`), so a peer that sends garbage is
 * soon refused before its requests are parsed at all.
 */
export const MALFORMED_REQUEST_PENALTY = 5
