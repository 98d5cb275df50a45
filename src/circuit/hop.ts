import { pbStream } from '@libp2p/utils'
import { bestConnection } from '../utils/connections.js'
import { relayedHops } from './address.js'
import { CIRCUIT_PROTOCOL, MAX_REASON_LENGTH, MAX_RESPONSE_SIZE } from './constants.js'
import { CircuitRefusedError } from './errors.js'
import { CircuitRequest, CircuitResponse } from './pb/circuit.js'
import { spliceStreams } from './relay.js'
import { isAbort, isUnsupportedProtocol, parsePeerId, Refusal } from './wire.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { CircuitNode, HopContext } from './context.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { ProtobufStream } from '@libp2p/utils'

/** The next peer and the route beyond it, chosen from the request, a direct link or the router */
interface NextHop {
  next: PeerId
  rest: PeerId[]
  connection: Connection
}

function chooseNext (node: CircuitNode, ctx: HopContext): NextHop {
  const { target, path, mode } = ctx
  const allowLimited = mode === 'signaling'
  const route = ctx.request.route.map(r => parsePeerId(r, 'route entry'))
  const targetConnection = bestConnection(node.connectionManager.getConnections(target), { allowLimited })
  let next: PeerId
  let rest: PeerId[]
  if (route.length > 0) {
    next = route[0]
    rest = route.slice(1)
  } else if (targetConnection != null) {
    next = target
    rest = []
  } else {
    const found = node.path(target, path)
    if (found == null || found.length < 2) {
      throw new Refusal(CircuitResponse.Status.NO_ROUTE, `${node.peerId} has no route to ${target}`)
    }
    const hopsAhead = found[0].equals(node.peerId) ? found.slice(1) : found
    next = hopsAhead[0]
    rest = hopsAhead.slice(1).filter(p => !p.equals(target))
  }
  const ahead = [next, ...rest]
  const revisited = ahead.find(p => p.equals(node.peerId) || path.some(q => q.equals(p)) || ahead.filter(q => q.equals(p)).length > 1) ??
    rest.find(p => p.equals(target))
  if (revisited != null) {
    throw new Refusal(CircuitResponse.Status.LOOP, `the route returns to ${revisited}`)
  }
  const connection = next.equals(target) ? targetConnection : bestConnection(node.connectionManager.getConnections(next), { allowLimited })
  if (connection == null) {
    // never dial on someone else's behalf: only existing links are used
    throw new Refusal(CircuitResponse.Status.NO_ROUTE, `${node.peerId} is not connected to ${next}`)
  }
  return { next, rest, connection }
}

/** Send the request on to `next` and read its answer; failures become refusals for the previous hop */
async function askNext (node: CircuitNode, ctx: HopContext, hop: NextHop, signal: AbortSignal): Promise<{ onward: Stream, messages: ProtobufStream<Stream>, response: CircuitResponse }> {
  let onward: Stream | undefined
  let messages: ProtobufStream<Stream>
  try {
    // negotiateFully: false is meant to send the selection with the request, but
    // @libp2p/multistream-select 7.0.28 ignores it: the selection still costs a round trip
    onward = await hop.connection.newStream(CIRCUIT_PROTOCOL, { signal, runOnLimitedConnection: true, negotiateFully: false })
    messages = pbStream(onward, { maxDataLength: MAX_RESPONSE_SIZE })
    await messages.write({
      target: ctx.request.target,
      route: hop.rest.map(p => p.toMultihash().bytes),
      path: [...ctx.request.path, node.peerId.toMultihash().bytes],
      hops: ctx.hops + 1,
      maxHops: ctx.maxHops,
      mode: ctx.request.mode
    }, CircuitRequest, { signal })
  } catch (err) {
    onward?.abort(err as Error)
    if (isAbort(err, signal)) {
      throw new Refusal(CircuitResponse.Status.TIMEOUT, `${hop.next} did not answer within ${node.responseTimeout} ms`)
    }
    throw new Refusal(CircuitResponse.Status.CONNECTION_FAILED, `could not reach ${hop.next}: ${(err as Error).message}`)
  }
  try {
    const response = await messages.read(CircuitResponse, { signal })
    return { onward, messages, response }
  } catch (err) {
    onward.abort(err as Error)
    if (isAbort(err, signal)) {
      throw new Refusal(CircuitResponse.Status.TIMEOUT, `${hop.next} did not answer within ${node.responseTimeout} ms`)
    }
    // with the optimistic protocol selection, a peer that does not relay circuits says so here
    if (isUnsupportedProtocol(err)) {
      throw new Refusal(CircuitResponse.Status.CONNECTION_FAILED, `${hop.next} does not relay mesh circuits`)
    }
    // truncated, oversize or undecodable
    throw new Refusal(CircuitResponse.Status.MALFORMED, `${hop.next} sent a bad response`)
  }
}

/**
 * This node is a hop: check the rate and hop budgets, pick the next peer
 * (never dialling one), forward the request, pass the far end's answer back,
 * then splice the two streams within the mode's byte and time budget.
 * Throws a Refusal for the previous hop.
 */
export async function relayHop (node: CircuitNode, ctx: HopContext): Promise<void> {
  const { connection, hops, maxHops, mode, signal } = ctx
  try {
    node.rateLimiter.consume(connection.remotePeer.toString())
  } catch {
    throw new Refusal(CircuitResponse.Status.RATE_LIMITED, `${connection.remotePeer} sent too many circuit requests`)
  }
  if (hops + 1 > maxHops) {
    throw new Refusal(CircuitResponse.Status.HOP_LIMIT, `relaying would make ${hops + 1} relaying peers, the limit is ${maxHops}`)
  }
  const hop = chooseNext(node, ctx)
  const hopsAfter = hops + 1 + relayedHops(hop.connection.remoteAddr)
  if (hopsAfter > maxHops) {
    throw new Refusal(CircuitResponse.Status.HOP_LIMIT, `the link to ${hop.next} is itself relayed; the circuit would cross ${hopsAfter} relaying peers, the limit is ${maxHops}`)
  }

  const release = node.slots.reserve(connection.remotePeer, hop.next, mode)
  let onward: Stream | undefined
  try {
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const responseDeadline = deadlineSignal(node.responseTimeout, node.shutdown)
    const answer = await askNext(node, ctx, hop, responseDeadline.signal).finally(() => { responseDeadline.clear() })
    onward = answer.onward
    const { response } = answer
    // pass the far end's answer back unchanged; the opener trusts only Noise anyway
    await ctx.messages.write({
      status: response.status,
      reason: response.reason.slice(0, MAX_REASON_LENGTH),
      from: response.from
    }, CircuitResponse, { signal })
    if (response.status !== CircuitResponse.Status.OK) {
      release()
      await Promise.all([ctx.stream.close({ signal }), answer.onward.close({ signal })]).catch(() => {
        ctx.stream.abort(new CircuitRefusedError('refused'))
        answer.onward.abort(new CircuitRefusedError('refused'))
      })
      return
    }
    node.slots.countForwarded()
    spliceStreams(ctx.messages.unwrap(), answer.messages.unwrap(), {
      limit: mode === 'relay' ? node.relayLimit : node.signalingLimit,
      signal: node.shutdown,
      log: node.log,
      onEnd: release
    })
    node.log.trace('relaying %s circuit %p → %p → %p', mode, connection.remotePeer, node.peerId, hop.next)
  } catch (err) {
    release()
    onward?.abort(err as Error)
    throw err
  }
}
