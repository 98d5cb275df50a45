/** A frame is not a valid NetmapMessage protobuf */
export class MalformedFrameError extends Error {
  static name = 'MalformedFrameError'
  name = 'MalformedFrameError'
}

/** A frame is larger than `maxFrameSize` */
export class FrameTooLargeError extends Error {
  static name = 'FrameTooLargeError'
  name = 'FrameTooLargeError'
}

/** A record is not a valid signed envelope or its payload is not a valid NetmapRecord */
export class MalformedRecordError extends Error {
  static name = 'MalformedRecordError'
  name = 'MalformedRecordError'
}

/** A record decodes but breaks a rule (payload type, field limits, too many neighbours) */
export class InvalidRecordError extends Error {
  static name = 'InvalidRecordError'
  name = 'InvalidRecordError'
}

/** A signed record is larger than `maxRecordSize` */
export class RecordTooLargeError extends Error {
  static name = 'RecordTooLargeError'
  name = 'RecordTooLargeError'
}

/** The envelope signature does not verify */
export class RecordSignatureError extends Error {
  static name = 'RecordSignatureError'
  name = 'RecordSignatureError'
}

/** The record is about a different PeerId than the key that signed it */
export class RecordSignerMismatchError extends Error {
  static name = 'RecordSignerMismatchError'
  name = 'RecordSignerMismatchError'
}

/** A newer record from the same node is already known */
export class StaleRecordError extends Error {
  static name = 'StaleRecordError'
  name = 'StaleRecordError'
}

/** The record's expiry has passed */
export class ExpiredRecordError extends Error {
  static name = 'ExpiredRecordError'
  name = 'ExpiredRecordError'
}

/** `maxNodes` nodes are tracked already */
export class MapFullError extends Error {
  static name = 'MapFullError'
  name = 'MapFullError'
}

/** A record arrived that nobody asked for (a sync answer outside the `want` list) */
export class UnexpectedRecordError extends Error {
  static name = 'UnexpectedRecordError'
  name = 'UnexpectedRecordError'
}

/** A neighbour pushed records faster than `maxRecordsPerSecond` allows */
export class RecordRateLimitError extends Error {
  static name = 'RecordRateLimitError'
  name = 'RecordRateLimitError'
}

/** Our stream to a neighbour is closed, or holds more unwritten frames than allowed: the frames were not sent */
export class ChannelFullError extends Error {
  static name = 'ChannelFullError'
  name = 'ChannelFullError'
}

/** A neighbour's 2.0.0 stream carried no frame for `idleTimeout`: closed, no offence */
export class ChannelIdleError extends Error {
  static name = 'ChannelIdleError'
  name = 'ChannelIdleError'
}
