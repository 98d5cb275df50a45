import { DefaultRequests } from './requests.js'
import type { LinkMaker } from '../direct-messages/index.js'
import type { ComponentLogger, Connection, PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { PROTOCOL as REQUEST_PROTOCOL, DEFAULT_MAX_REQUEST_SIZE, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_MAX_CONCURRENT_PER_PEER } from './constants.js'
export { RequestRefusedError, RequestTimeoutError, RequestTooLargeError, ResponseTooLargeError, MalformedRequestError } from './errors.js'

export interface RequestOptions {
  /** Aborts the request (the promise rejects with the signal's reason) */
  signal?: AbortSignal
  /**
   * Deadline from the call to the response, in ms, including making a link
   *
   * @default the service's `requestTimeout` (30000)
   */
  timeout?: number
  /**
   * The largest response to accept, in bytes; the responder refuses to send a larger one
   *
   * @default the service's `maxResponseSize` (1048576)
   */
  maxResponseSize?: number
}

/** What a handler learns about a request besides its bytes */
export interface RequestContext {
  /** The requester, authenticated by the connection's encryption (Noise) */
  from: PeerId
  /** The application protocol name */
  name: string
  /** The connection it arrived on */
  connection: Connection
  /** Aborted when the handler's deadline passes or the node stops */
  signal: AbortSignal
}

/** Return the response bytes; throw to refuse (the requester gets RequestRefusedError with the message) */
export type RequestHandler = (request: Uint8Array, context: RequestContext) => Uint8Array | Promise<Uint8Array>

export interface HandleOptions {
  /**
   * The largest request this handler accepts, in bytes (at most the service's `maxRequestSize`)
   *
   * @default the service's `maxRequestSize`
   */
  maxRequestSize?: number
}

export interface RequestsStats {
  /** Requests this node sent that got an OK response */
  requestsAnswered: number
  /** Requests this node answered OK */
  requestsServed: number
  /** Inbound requests refused (no handler, handler threw, busy, too large, timeout) */
  requestsRefused: number
  /** Inbound requests refused because the peer already had `maxConcurrentPerPeer` in flight */
  requestsBusy: number
  /** Inbound requests whose length prefix exceeded the limit (refused before reading the body) */
  requestsTooLarge: number
  /** Inbound streams whose request did not arrive before the receive deadline */
  requestsStalled: number
  /** Frames that did not decode (the stream was reset) */
  malformedFrames: number
  /** Inbound requests in flight now */
  inFlight: number
}

export interface Requests {
  /**
   * Send `data` to `peer` under the application protocol `name` and resolve
   * with the response bytes. Uses the best open connection, else makes a link
   * (WebRTC through the mesh, else an end-to-end encrypted circuit).
   *
   * Rejects with `RequestRefusedError`, `RequestTimeoutError`,
   * `RequestTooLargeError`, `ResponseTooLargeError`, `PeerUnreachableError` or
   * `MalformedRequestError`.
   *
   * @example
   * ```ts
   * const reply = await node.services.requests.request(peerId, 'echo', new TextEncoder().encode('hi'), { timeout: 5000 })
   * ```
   */
  request(peer: PeerId, name: string, data: Uint8Array, options?: RequestOptions): Promise<Uint8Array>

  /**
   * Answer requests for the application protocol `name`; returns a function
   * that removes the handler. One handler per name.
   *
   * @example
   * ```ts
   * node.services.requests.handle('echo', async (data, { from }) => data)
   * ```
   */
  handle(name: string, handler: RequestHandler, options?: HandleOptions): () => void

  stats(): RequestsStats
}

export interface RequestsInit {
  /**
   * The largest request this node reads or sends, in bytes
   *
   * @default 1048576
   */
  maxRequestSize?: number
  /**
   * The largest response this node reads by default, in bytes
   *
   * @default 1048576
   */
  maxResponseSize?: number
  /**
   * Deadline of `request()`, in ms
   *
   * @default 30000
   */
  requestTimeout?: number
  /**
   * How long a responder waits for the request on a new stream, in ms
   *
   * @default 10000
   */
  receiveTimeout?: number
  /**
   * How long a handler may take, in ms
   *
   * @default 30000
   */
  handlerTimeout?: number
  /**
   * Requests in flight per peer, each way: more inbound are answered BUSY, more outbound wait
   *
   * @default 8
   */
  maxConcurrentPerPeer?: number
  /** How to reach a peer with no connection (`createMembrane` plugs in `connect()`) */
  makeLink?: LinkMaker
}

export interface RequestsComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/**
 * Request/response (`/membrane/request/1.0.0`) to a peer by PeerId over the
 * best available link, size-limited both ways, with deadlines and a per-peer
 * concurrency limit.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({ services: { requests: requests() } })
 * ```
 */
export function requests (init: RequestsInit = {}): (components: RequestsComponents) => Requests {
  return (components) => new DefaultRequests(components, init)
}
