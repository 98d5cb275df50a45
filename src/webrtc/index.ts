/**
 * Membrane's WebRTC guards: process-wide patches of the RTCPeerConnection
 * class `@libp2p/webrtc` uses, against races in stock dials, and a service
 * that trusts a WebRTC link only while its peer connection is connected.
 */
export { installInitChannelGuard } from './init-channel-guard.js'
export { installDialGuard, dialGuardStats } from './dial-guard.js'
export type { DialGuardOptions, DialGuardStats } from './dial-guard.js'
export { liveLinks } from './live-links.js'
export type { LiveLinks, LiveLinksInit, LiveLinksComponents, LiveLinksStats } from './live-links.js'
export { DEFAULT_PEER_CONNECTION_TIMEOUT, DEFAULT_CANDIDATE_HOLD_TIMEOUT } from './constants.js'
export { PeerConnectionFailedError, PeerConnectionTimeoutError, DataChannelClosedError } from './errors.js'
