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
