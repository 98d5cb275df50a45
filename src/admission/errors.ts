/** The member did not solve the challenge, answered wrongly, or too late */
export class AdmissionFailedError extends Error {
  static name = 'AdmissionFailedError'
  name = 'AdmissionFailedError'
}

/** The server asked for more work than this member accepts */
export class DifficultyTooHighError extends Error {
  static name = 'DifficultyTooHighError'
  name = 'DifficultyTooHighError'
}

/**
 * A peer sent a challenge this member did not expect: it is not a bootstrap
 * peer the member dialed, the connection's admission window is over, or it
 * already answered one on this connection
 */
export class UnexpectedChallengeError extends Error {
  static name = 'UnexpectedChallengeError'
  name = 'UnexpectedChallengeError'
}
