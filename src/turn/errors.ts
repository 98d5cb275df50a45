/** A peer asked for ICE servers more often than the rate limit allows */
export class IceRateLimitError extends Error {
  static name = 'IceRateLimitError'
  name = 'IceRateLimitError'
}

/** A message of the ICE servers protocol broke its rules (size, fields, sequence) */
export class InvalidIceMessageError extends Error {
  static name = 'InvalidIceMessageError'
  name = 'InvalidIceMessageError'
}

/** The proof-of-work asked for TURN credentials was wrong, or harder than this member accepts */
export class IceWorkError extends Error {
  static name = 'IceWorkError'
  name = 'IceWorkError'
}

/** The TURN options of a bootstrap peer are malformed */
export class InvalidTurnOptionError extends Error {
  static name = 'InvalidTurnOptionError'
  name = 'InvalidTurnOptionError'
}
