/** The responder refused: its handler threw, it has no handler for the name, or the requester has too many requests in flight */
export class RequestRefusedError extends Error {
  static name = 'RequestRefusedError'
  name = 'RequestRefusedError'
  /** `refused`, `no-handler`, `busy` or `malformed` */
  readonly status: string
  constructor (message: string, status: string) {
    super(message)
    this.status = status
  }
}

/** No response arrived before the deadline (or the responder's handler ran past its own) */
export class RequestTimeoutError extends Error {
  static name = 'RequestTimeoutError'
  name = 'RequestTimeoutError'
}

/** The request is larger than the requester's or the responder's limit */
export class RequestTooLargeError extends Error {
  static name = 'RequestTooLargeError'
  name = 'RequestTooLargeError'
}

/** The response is larger than the requester accepts */
export class ResponseTooLargeError extends Error {
  static name = 'ResponseTooLargeError'
  name = 'ResponseTooLargeError'
}

/** A request or response frame that does not decode; the stream is reset */
export class MalformedRequestError extends Error {
  static name = 'MalformedRequestError'
  name = 'MalformedRequestError'
}

/** No link to the peer exists or could be made (shared with direct messages) */
export { PeerUnreachableError } from '../direct-messages/errors.js'
