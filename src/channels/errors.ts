/** A query uses an operator outside the whitelist, one that runs code, or a malformed value */
export class InvalidQueryError extends Error {
  static name = 'InvalidQueryError'
  name = 'InvalidQueryError'
}

/** A query exceeds the size, depth or node limit */
export class QueryTooLargeError extends Error {
  static name = 'QueryTooLargeError'
  name = 'QueryTooLargeError'
}

/** A query or a decoded payload contains `__proto__`, `constructor` or `prototype` as a key */
export class UnsafeKeyError extends Error {
  static name = 'UnsafeKeyError'
  name = 'UnsafeKeyError'
}

/** A payload could not be decoded by the channel's codec */
export class DecodeError extends Error {
  static name = 'DecodeError'
  name = 'DecodeError'
}

/** A value could not be encoded, or the channel's `validate` refused it */
export class InvalidMessageError extends Error {
  static name = 'InvalidMessageError'
  name = 'InvalidMessageError'
}

/** The channel name is empty, too long or not a string, or already opened with another codec */
export class InvalidChannelError extends Error {
  static name = 'InvalidChannelError'
  name = 'InvalidChannelError'
}
