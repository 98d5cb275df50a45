/** A peer-exchange response was malformed, oversize or named invalid peers */
export class InvalidPeerExchangeError extends Error {
  static name = 'InvalidPeerExchangeError'
  name = 'InvalidPeerExchangeError'
}

/** Peer exchange was asked of a peer no configured bootstrap peer vouches for */
export class UntrustedPeerError extends Error {
  static name = 'UntrustedPeerError'
  name = 'UntrustedPeerError'
}
