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
