import { DefaultDirectMessages } from './direct-messages.js'
import type { ComponentLogger, Connection, PeerId, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { PROTOCOL as DIRECT_MESSAGE_PROTOCOL } from './constants.js'
export { DirectMessageTimeoutError, DirectMessageRefusedError, MalformedDirectMessageError, DirectMessageAbuseError, PeerUnreachableError } from './errors.js'

/** A message received from one named peer */
export interface ReceivedDirectMessage {
  /** The sender, authenticated by the connection's encryption (Noise) */
  from: PeerId
  data: Uint8Array
  /** The sender's message id (hex) */
  id: string
}

/** Return normally to accept; throw to refuse (the sender gets DirectMessageRefusedError) */
export type DirectMessageHandler = (message: ReceivedDirectMessage) => void | Promise<void>

export interface SendOptions {
  signal?: AbortSignal
}

export interface SendResult {
  /** The message id (hex) */
  id: string
  /** Milliseconds from sending to acknowledgement */
  rtt: number
  /** The connection it travelled over */
  connection: Connection
}

export interface DirectMessagesEvents {
  message: CustomEvent<ReceivedDirectMessage>
}

/**
 * How to reach a peer there is no connection to. `createMembrane` plugs in the
 * mesh-circuit `connect()`, which upgrades to WebRTC or falls back to an
 * end-to-end encrypted circuit.
 */
export type LinkMaker = (peer: PeerId, options: { signal: AbortSignal }) => Promise<Connection>

/** What the receiving side has handled since it started */
export interface DirectMessagesStats {
  /** Message streams opened by senders */
  received: number
  /** Messages delivered to the handlers (once per sender and id) */
  delivered: number
  /** Resent messages acknowledged again but not delivered twice */
  duplicates: number
  /** Refused by a handler, or larger than `maxMessageSize` */
  refused: number
  /** Refused because the sender was over its rate */
  rateLimited: number
  /** Unreadable frames, wrong id lengths, streams that broke mid-message */
  malformed: number
  /** Senders whose connection was closed for too many refused streams */
  disconnected: number
}

export interface DirectMessages extends TypedEventTarget<DirectMessagesEvents> {
  /** Counters of the receiving side, a fresh copy per call */
  stats(): DirectMessagesStats

  /**
   * Deliver `data` to `peer` and resolve when it acknowledged: over an existing
   * connection, else a new link (see `LinkMaker`).
   *
   * @example
   * ```ts
   * await node.services.directMessages.send(peerId, new TextEncoder().encode('hi'))
   * ```
   */
  send(peer: PeerId, data: Uint8Array, options?: SendOptions): Promise<SendResult>
  /**
   * Receive messages; returns a function that removes the handler. With no
   * handler registered every message is accepted and emitted as a `message` event.
   */
  handle(handler: DirectMessageHandler): () => void
}

export interface DirectMessagesInit {
  /** @default 65536 */
  maxMessageSize?: number
  /**
   * Deadline from send to acknowledgement, in ms
   *
   * @default 30000
   */
  timeout?: number
  /**
   * Messages accepted per sender per second (and the burst)
   *
   * @default 20 (burst 50)
   */
  rateLimit?: number
  rateBurst?: number
  /** How to reach a peer with no connection (see `LinkMaker`) */
  makeLink?: LinkMaker
}

export interface DirectMessagesComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/**
 * Direct messages (`/membrane/dm/1.0.0`): acknowledged delivery to one named
 * peer, sender authenticated by the connection, size- and rate-limited,
 * delivered once even when resent.
 */
export function directMessages (init: DirectMessagesInit = {}): (components: DirectMessagesComponents) => DirectMessages {
  return (components) => new DefaultDirectMessages(components, init)
}
