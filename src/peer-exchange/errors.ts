/** A peer-exchange response was malformed, oversize or named invalid peers */
export class InvalidPeerExchangeError extends Error {
  static name = 'InvalidPeerExchangeError'
  name = 'InvalidPeerExchangeError'
}
