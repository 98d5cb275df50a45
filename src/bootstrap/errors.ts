/** The key file exists but cannot be read or does not hold a libp2p private key */
export class InvalidKeyFileError extends Error {
  static name = 'InvalidKeyFileError'
  name = 'InvalidKeyFileError'
}

/** A bootstrap peer option is out of range or malformed */
export class InvalidBootstrapOptionError extends Error {
  static name = 'InvalidBootstrapOptionError'
  name = 'InvalidBootstrapOptionError'
}

/** The bootstrap peer could not listen on the requested address */
export class ListenError extends Error {
  static name = 'ListenError'
  name = 'ListenError'
}
