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
