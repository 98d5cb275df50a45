/** The other end cancelled the transfer, or the receiving application stopped reading */
export class TransferCancelledError extends Error {
  static name = 'TransferCancelledError'
  name = 'TransferCancelledError'
}

/** The receiver refused the offer: no handler for the name, or too many transfers from this peer */
export class TransferRefusedError extends Error {
  static name = 'TransferRefusedError'
  name = 'TransferRefusedError'
  /** `no-handler`, `busy`, `unknown` (a resume the receiver no longer holds) or `malformed` */
  readonly status: string
  constructor (message: string, status: string) {
    super(message)
    this.status = status
  }
}

/** The transfer is larger than the receiver's `maxSize` */
export class TransferTooLargeError extends Error {
  static name = 'TransferTooLargeError'
  name = 'TransferTooLargeError'
}

/** The link dropped and no new link could carry on within the resume timeout */
export class TransferInterruptedError extends Error {
  static name = 'TransferInterruptedError'
  name = 'TransferInterruptedError'
}

/** No progress within the idle timeout (a stalled sender, or a receiver that stopped acknowledging) */
export class TransferTimeoutError extends Error {
  static name = 'TransferTimeoutError'
  name = 'TransferTimeoutError'
}

/** The received bytes do not hash to the sender's digest (or their count differs from the size) */
export class TransferIntegrityError extends Error {
  static name = 'TransferIntegrityError'
  name = 'TransferIntegrityError'
}

/** A frame that does not decode or breaks the protocol; the stream is reset */
export class MalformedTransferError extends Error {
  static name = 'MalformedTransferError'
  name = 'MalformedTransferError'
}
