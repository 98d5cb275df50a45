import type { CircuitMode } from './index.js'
import type { CircuitRequest } from './pb/circuit.js'
import type { SpliceLimit } from './relay.js'
import type { CircuitSlots } from './slots.js'
import type { Connection, ConnectionLimits, Logger, PeerId, Stream, Upgrader } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { ProtobufStream, RateLimiter } from '@libp2p/utils'

/** What the hop and target handlers use of the node, built once per start */
export interface CircuitNode {
  peerId: PeerId
  connectionManager: ConnectionManager
  upgrader: Upgrader
  log: Logger
  slots: CircuitSlots
  /** Circuit requests per neighbour; malformed requests are charged extra */
  rateLimiter: RateLimiter
  maxHops: number
  signalingLimit: SpliceLimit
  relayLimit: SpliceLimit
  /** How long to wait for the request on a new stream, in ms */
  requestTimeout: number
  /** How long a hop waits for the rest of the path to answer, in ms */
  responseTimeout: number
  /** Aborted when the service stops */
  shutdown: AbortSignal
  /** The router's path `[self, …, target]` avoiding `exclude`, or undefined */
  path(target: PeerId, exclude: PeerId[]): PeerId[] | undefined
}

/** One validated inbound circuit request, handed to the hop or the target */
export interface HopContext {
  /** The request stream, framed for protobuf */
  messages: ProtobufStream<Stream>
  stream: Stream
  /** The link the request arrived on */
  connection: Connection
  request: CircuitRequest
  target: PeerId
  /** Peers already on the path, opener first, ending with the sender */
  path: PeerId[]
  /** Relaying peers crossed so far, including those inside `connection` */
  hops: number
  /** The smaller of the opener's limit and this node's */
  maxHops: number
  mode: CircuitMode
  /** The request deadline, and the node's shutdown */
  signal: AbortSignal
}

/** Signaling circuits are limited connections (relay v2's budget); relay circuits are not */
export function connectionLimits (mode: CircuitMode, signalingLimit: SpliceLimit): ConnectionLimits | undefined {
  if (mode !== 'signaling') {
    return undefined
  }
  return { bytes: BigInt(signalingLimit.bytes), seconds: Math.round(signalingLimit.duration / 1000) }
}
