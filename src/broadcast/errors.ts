/** The payload given to `publish()` or received on a topic is larger than `maxMessageSize` */
export class MessageTooLargeError extends Error {
  static name = 'MessageTooLargeError'
  name = 'MessageTooLargeError'
}

/** The topic is empty, too long or not a string */
export class InvalidTopicError extends Error {
  static name = 'InvalidTopicError'
  name = 'InvalidTopicError'
}

/** No connected peer is subscribed to the topic, so the message would reach nobody */
export class NoSubscribersError extends Error {
  static name = 'NoSubscribersError'
  name = 'NoSubscribersError'
}

/** The broadcast service is not started */
export class NotStartedError extends Error {
  static name = 'NotStartedError'
  name = 'NotStartedError'
}
