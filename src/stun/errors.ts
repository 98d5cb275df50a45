/** A datagram that is not a well-formed RFC 5389 binding request; it is dropped, never answered */
export class MalformedStunMessageError extends Error {
  static name = 'MalformedStunMessageError'
  name = 'MalformedStunMessageError'
}

/** The STUN service could not bind its UDP socket */
export class StunListenError extends Error {
  static name = 'StunListenError'
  name = 'StunListenError'
}
