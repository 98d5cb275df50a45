/** A configured bootstrap address could not be parsed or names no peer */
export class InvalidBootstrapAddressError extends Error {
  static name = 'InvalidBootstrapAddressError'
  name = 'InvalidBootstrapAddressError'
}

/** No bootstrap peer could be reached in one round of dials */
export class BootstrapUnreachableError extends Error {
  static name = 'BootstrapUnreachableError'
  name = 'BootstrapUnreachableError'
}

/** A bootstrap peer's connection opened but negotiated no protocol in time: it was closed and the bootstrap peers are redialled */
export class NoProtocolError extends Error {
  static name = 'NoProtocolError'
  name = 'NoProtocolError'
}
