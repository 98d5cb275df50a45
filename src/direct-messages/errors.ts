/** No acknowledgement arrived before the deadline */
export class DirectMessageTimeoutError extends Error {
  static name = 'DirectMessageTimeoutError'
  name = 'DirectMessageTimeoutError'
}

/** The receiver refused the message (its handler threw, it was too large, or the sender is over its rate) */
export class DirectMessageRefusedError extends Error {
  static name = 'DirectMessageRefusedError'
  name = 'DirectMessageRefusedError'
  constructor (message: string, readonly status: string) {
    super(message)
  }
}

/** No link to the peer exists or could be made */
export class PeerUnreachableError extends Error {
  static name = 'PeerUnreachableError'
  name = 'PeerUnreachableError'
}

/** The payload is larger than `maxMessageSize` */
export { MessageTooLargeError } from '../broadcast/errors.js'

/** A peer's direct message stream carried bytes that are not a direct message */
export class MalformedDirectMessageError extends Error {
  static name = 'MalformedDirectMessageError'
  name = 'MalformedDirectMessageError'
}

/** A sender opened too many refused streams (over its rate, or malformed): its connection is closed */
export class DirectMessageAbuseError extends Error {
  static name = 'DirectMessageAbuseError'
  name = 'DirectMessageAbuseError'
}
