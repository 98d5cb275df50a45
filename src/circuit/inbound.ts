import { pbStream } from '@libp2p/utils'
import { relayedHops } from './address.js'
import { MALFORMED_REQUEST_PENALTY, MAX_REASON_LENGTH, MAX_REQUEST_SIZE } from './constants.js'
import { CircuitTimeoutError } from './errors.js'
import { acceptCircuit } from './target.js'
import { relayHop } from './hop.js'
import { CircuitRequest, CircuitResponse } from './pb/circuit.js'
import { isAbort, parsePeerId, Refusal } from './wire.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { CircuitMode } from './index.js'
import type { CircuitNode, HopContext } from './context.js'
import type { Connection, Stream } from '@libp2p/interface'
import type { ProtobufStream } from '@libp2p/utils'

/** Send a refusal to the previous hop and end the stream */
async function refuse (node: CircuitNode, messages: ProtobufStream<Stream>, stream: Stream, connection: Connection, refusal: Refusal, signal: AbortSignal): Promise<void> {
  node.log('refusing circuit from %p: %s %s', connection.remotePeer, refusal.status, refusal.message)
  if (refusal.status === CircuitResponse.Status.MALFORMED) {
    node.rateLimiter.penalty(connection.remotePeer.toString(), MALFORMED_REQUEST_PENALTY)
  }
  try {
    await messages.write({ status: refusal.status, reason: refusal.message.slice(0, MAX_REASON_LENGTH), from: node.peerId.toMultihash().bytes }, CircuitResponse, { signal })
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err as Error)
  }
}

/** A peer past its whole forwarding budget (by requests or penalties) is refused before its request's fields are parsed */
function overBudget (node: CircuitNode, connection: Connection, points: number): boolean {
  const used = node.rateLimiter.get(connection.remotePeer.toString())?.consumedPoints ?? 0
  return used >= points
}

/** Check the request's fields and build the context the hop or target works with */
function validate (node: CircuitNode, request: CircuitRequest, messages: ProtobufStream<Stream>, stream: Stream, connection: Connection, signal: AbortSignal): HopContext {
  const target = parsePeerId(request.target, 'target')
  const path = request.path.map(p => parsePeerId(p, 'path entry'))
  if (path.length === 0 || !path[path.length - 1].equals(connection.remotePeer)) {
    throw new Refusal(CircuitResponse.Status.MALFORMED, 'the path must end with the sending peer')
  }
  const self = node.peerId
  if (path.some(p => p.equals(self)) || path.some(p => p.equals(target))) {
    throw new Refusal(CircuitResponse.Status.LOOP, `${self} is already on the path`)
  }
  const mode: CircuitMode = request.mode === CircuitRequest.Mode.RELAY ? 'relay' : 'signaling'
  return {
    messages,
    stream,
    connection,
    request,
    target,
    path,
    hops: request.hops + relayedHops(connection.remoteAddr),
    maxHops: Math.min(request.maxHops > 0 ? request.maxHops : node.maxHops, node.maxHops),
    mode,
    signal
  }
}

export interface CircuitStreamOptions {
  /** The forwarding budget per neighbour, to refuse a peer penalised past it */
  forwardRate: number
}

/**
 * The `/membrane/circuit/1.0.0` handler: read one size-limited request
 * before the deadline, validate it (peer ids length-checked, the path ends
 * with the sender, no loop), then act as the target or as a hop. Every
 * failure is a typed refusal to the sender; malformed ones cost it
 * `MALFORMED_REQUEST_PENALTY` points of its forwarding budget.
 */
export async function handleCircuitStream (node: CircuitNode, stream: Stream, connection: Connection, options: CircuitStreamOptions): Promise<void> {
  // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts);
  // nothing uses this signal once the handler returns (a spliced or accepted circuit runs on node.shutdown)
  const deadline = deadlineSignal(node.requestTimeout, node.shutdown)
  try {
    await serveCircuitStream(node, stream, connection, options, deadline.signal)
  } finally {
    deadline.clear()
  }
}

async function serveCircuitStream (node: CircuitNode, stream: Stream, connection: Connection, options: CircuitStreamOptions, signal: AbortSignal): Promise<void> {
  const messages = pbStream(stream, { maxDataLength: MAX_REQUEST_SIZE })

  let request: CircuitRequest
  try {
    request = await messages.read(CircuitRequest, { signal, limits: { route: node.maxHops + 1, path: node.maxHops + 1 } })
  } catch (err) {
    if (isAbort(err, signal)) {
      stream.abort(new CircuitTimeoutError('no circuit request before the deadline'))
      return
    }
    await refuse(node, messages, stream, connection, overBudget(node, connection, options.forwardRate)
      ? new Refusal(CircuitResponse.Status.RATE_LIMITED, `${connection.remotePeer} sent too many bad circuit requests`)
      : new Refusal(CircuitResponse.Status.MALFORMED, `unreadable request: ${(err as Error).message}`), signal)
    return
  }

  try {
    if (overBudget(node, connection, options.forwardRate)) {
      throw new Refusal(CircuitResponse.Status.RATE_LIMITED, `${connection.remotePeer} sent too many bad circuit requests`)
    }
    const ctx = validate(node, request, messages, stream, connection, signal)
    if (ctx.target.equals(node.peerId)) {
      await acceptCircuit(node, ctx)
    } else {
      await relayHop(node, ctx)
    }
  } catch (err) {
    if (err instanceof Refusal) {
      await refuse(node, messages, stream, connection, err, signal)
      return
    }
    throw err
  }
}
