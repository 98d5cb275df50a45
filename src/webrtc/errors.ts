/**
 * The peer connection under a WebRTC dial or link became `failed` or `closed`
 * before it was usable (ICE or DTLS failed, e.g. "certificate verify failed",
 * or the remote hung up)
 */
export class PeerConnectionFailedError extends Error {
  static name = 'PeerConnectionFailedError'
  name = 'PeerConnectionFailedError'
}

/** A WebRTC connection's peer connection did not reach `connected` within its deadline */
export class PeerConnectionTimeoutError extends Error {
  static name = 'PeerConnectionTimeoutError'
  name = 'PeerConnectionTimeoutError'
}

/** A data channel (a stream) closed before it ever opened: its peer connection is dead */
export class DataChannelClosedError extends Error {
  static name = 'DataChannelClosedError'
  name = 'DataChannelClosedError'
}
