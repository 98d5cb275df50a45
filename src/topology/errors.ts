/** `minPeers`/`maxPeers` are not integers with 0 ≤ minPeers ≤ maxPeers, maxPeers ≥ 1 */
export class TopologyOptionsError extends Error {
  static name = 'TopologyOptionsError'
  name = 'TopologyOptionsError'
}

/** A link the topology tried to make (dial, WebRTC upgrade) did not connect; the peer is backed off */
export class LinkAttemptError extends Error {
  static name = 'LinkAttemptError'
  name = 'LinkAttemptError'
}
