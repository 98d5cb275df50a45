/**
 * How long a WebRTC connection may stay open while its peer connection is not
 * `connected`, in ms. Stock `@libp2p/webrtc` finishes an inbound connection
 * once signaling ends, connected or not; an honest dialer closes signaling only
 * after its init channel opened and closed, which needs the answerer's DTLS to
 * be done. So a connection still not connected here has a dialer that gave up.
 * 2 s leaves room for one DTLS retransmit (1 s) on a loaded host; stock leaves
 * such connections until ICE gives up, 10–30 s later.
 */
export const DEFAULT_PEER_CONNECTION_TIMEOUT = 2000

/**
 * How long after the answer is applied the dialer holds its ICE candidates
 * while its own ICE is not yet connected, in ms. Until the dialer's ICE is
 * connected its DTLS transport does not exist, and a ClientHello from an
 * answerer whose own checks won meets libdatachannel's replay bug (a 1 s
 * stall). The answerer still connects on the dialer's checks (as a
 * peer-reflexive candidate); the candidates are needed only where the
 * answerer must open its own NAT first. 100 ms is two of libjuice's 50 ms
 * check pacing slots.
 */
export const DEFAULT_CANDIDATE_HOLD_TIMEOUT = 100
