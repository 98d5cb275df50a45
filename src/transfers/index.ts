import { DefaultTransfers } from './transfers.js'
import type { LinkMaker } from '../direct-messages/index.js'
import type { ComponentLogger, Connection, PeerId, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { PROTOCOL as TRANSFER_PROTOCOL, DEFAULT_WINDOW_SIZE, DEFAULT_IDLE_TIMEOUT, DEFAULT_RESUME_TIMEOUT, MAX_CHUNK_SIZE as TRANSFER_CHUNK_SIZE, MAX_META_SIZE as TRANSFER_MAX_META_SIZE } from './constants.js'
export { TransferCancelledError, TransferRefusedError, TransferTooLargeError, TransferInterruptedError, TransferTimeoutError, TransferIntegrityError, MalformedTransferError } from './errors.js'
export { contentHash, ContentHasher } from './hash.js'

/** What a transfer can be sent from. Chunks must not be changed after they are yielded (they are kept until acknowledged) */
export type TransferSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Blob | Uint8Array

export interface TransferProgress {
  /** Bytes sent (sender) or received (receiver) so far */
  bytes: number
  /** Total bytes, when known */
  size?: number
  /** Links the transfer has resumed over after a drop */
  resumes: number
}

export interface SendTransferOptions {
  /** Cancels the transfer; the receiver's source fails with TransferCancelledError */
  signal?: AbortSignal
  /** Called as bytes are sent */
  onProgress?(progress: TransferProgress): void
  /**
   * Total bytes, announced in the offer (the receiver refuses more than its
   * `maxSize` at once, and checks the count at the end)
   *
   * @default the Blob's or Uint8Array's size; unknown for iterables
   */
  size?: number
  /**
   * Application metadata for the receiver (a file name, a type), at most 4096 bytes
   *
   * @default empty
   */
  meta?: Uint8Array
}

export interface TransferResult {
  /** The transfer id (hex) */
  id: string
  /** Bytes transferred */
  bytes: number
  /** The content hash the receiver verified (hex; see `contentHash`) */
  digest: string
  /** How many times a dropped link was replaced */
  resumes: number
  /** The connection that carried the end of it */
  connection: Connection
}

export interface IncomingTransferEvents {
  progress: CustomEvent<TransferProgress>
}

/** A transfer arriving at this node */
export interface IncomingTransfer extends TypedEventTarget<IncomingTransferEvents> {
  /** The transfer id (hex) */
  readonly id: string
  /** The sender, authenticated by the connection's encryption (Noise) */
  readonly from: PeerId
  readonly name: string
  /** Total bytes when the sender announced it */
  readonly size?: number
  /** The sender's application metadata */
  readonly meta: Uint8Array
  /**
   * The bytes, in order, once each (also across resumed links). Ends only
   * after the content hash matched; throws TransferIntegrityError,
   * TransferCancelledError, TransferInterruptedError or TransferTimeoutError
   * otherwise. Read it once; leaving the loop early cancels the transfer.
   */
  readonly source: AsyncIterable<Uint8Array>
  /** Bytes received so far */
  readonly received: number
  /** Stop the transfer; the sender's `send()` rejects with TransferCancelledError */
  cancel(reason?: string): void
}

/**
 * Consume `transfer.source`. Throwing, or returning before the source ended,
 * cancels the transfer (the sender gets TransferCancelledError with the message).
 */
export type TransferHandler = (transfer: IncomingTransfer) => void | Promise<void>

export interface HandleTransferOptions {
  /**
   * The largest transfer accepted, in bytes: a larger announced size is
   * refused before any data, an unannounced one is cancelled when it passes it
   *
   * @default Infinity
   */
  maxSize?: number
}

export interface TransfersStats {
  /** Transfers this node sent that the receiver verified */
  transfersSent: number
  /** Transfers this node received and verified */
  transfersReceived: number
  /** Transfers that ended otherwise (either side) */
  transfersFailed: number
  /** Links this node's sends resumed over */
  resumes: number
  /** Times a send moved to a better link mid-way (a circuit, then the WebRTC link made behind it) */
  linkUpgrades: number
  /** Resumes this node accepted as a receiver */
  resumesAccepted: number
  /** Offers answered BUSY */
  transfersBusy: number
  /** Frames that broke the protocol (the stream was reset) */
  malformedFrames: number
  /** Receivers cut off because the sender sent nothing while it had credit */
  stalledSenders: number
  bytesSent: number
  bytesReceived: number
  /** The most bytes one incoming transfer held for its application at once */
  maxBuffered: number
  /** The most bytes one outgoing transfer kept for resending at once */
  maxRetained: number
  /** Incoming transfers in progress (or waiting for their sender to resume) */
  incoming: number
}

export interface Transfers {
  /**
   * Stream `source` to `peer` under the application name `name`, with
   * credit-based backpressure (at most `windowSize` bytes unacknowledged), and
   * resolve once the receiver verified the content hash. When the link drops
   * mid-way it re-links (best connection, else `connect()`) and resumes where
   * the receiver stopped.
   *
   * @example
   * ```ts
   * const file = new Blob([bytes])
   * const { digest } = await node.services.transfers.send(peerId, 'files', file, {
   *   onProgress: ({ bytes, size }) => { bar.value = bytes / (size ?? 1) }
   * })
   * ```
   */
  send(peer: PeerId, name: string, source: TransferSource, options?: SendTransferOptions): Promise<TransferResult>

  /**
   * Receive transfers sent under `name`; returns a function that removes the handler.
   *
   * @example
   * ```ts
   * node.services.transfers.handle('files', async (transfer) => {
   *   transfer.addEventListener('progress', ({ detail }) => { console.log(detail.bytes, detail.size) })
   *   for await (const chunk of transfer.source) { await sink.write(chunk) }
   * }, { maxSize: 1024 ** 3 })
   * ```
   */
  handle(name: string, handler: TransferHandler, options?: HandleTransferOptions): () => void

  stats(): TransfersStats
}

export interface TransfersInit {
  /**
   * Bytes a sender may have unacknowledged (what each end buffers per transfer), as a receiver grants it
   *
   * @default 4194304
   */
  windowSize?: number
  /**
   * No progress for this long fails a transfer, in ms
   *
   * @default 30000
   */
  idleTimeout?: number
  /**
   * Opening a stream and getting the receiver's answer, in ms
   *
   * @default 15000
   */
  offerTimeout?: number
  /**
   * After a link drops: how long a sender tries to re-link and a receiver keeps a transfer, in ms
   *
   * @default 30000
   */
  resumeTimeout?: number
  /**
   * Re-links per transfer
   *
   * @default 5
   */
  maxResumes?: number
  /**
   * Incoming transfers per peer at once (more are answered BUSY)
   *
   * @default 4
   */
  maxTransfersPerPeer?: number
  /**
   * Incoming transfers at once
   *
   * @default 32
   */
  maxTransfers?: number
  /** How to reach a peer with no connection (`createMembrane` plugs in `connect()`) */
  makeLink?: LinkMaker
}

export interface TransfersComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/**
 * Transfers of any size (`/membrane/transfer/1.0.0`): streamed with
 * backpressure, progress on both ends, cancellable from either end, resumed
 * over a new link when one drops, verified by a content hash.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({ services: { transfers: transfers() } })
 * ```
 */
export function transfers (init: TransfersInit = {}): (components: TransfersComponents) => Transfers {
  return (components) => new DefaultTransfers(components, init)
}
