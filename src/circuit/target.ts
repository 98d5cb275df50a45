import { relayedHops, circuitAddress } from './address.js'
import { connectionLimits } from './context.js'
import { CircuitResponse } from './pb/circuit.js'
import { streamToConnection } from './stream-to-conn.js'
import { Refusal } from './wire.js'
import type { CircuitNode, HopContext } from './context.js'

/**
 * This node is the target: check the hop budget, take a slot, answer OK and
 * run the inbound Noise + yamux upgrade over the circuit stream (Noise checks
 * the opener's key against the first peer of the path). Throws a Refusal for
 * the previous hop; a failed upgrade releases the slot and is only logged.
 */
export async function acceptCircuit (node: CircuitNode, ctx: HopContext): Promise<void> {
  const { connection, path, hops, maxHops, mode, messages, signal } = ctx
  if (path.length < 2 && relayedHops(connection.remoteAddr) === 0) {
    throw new Refusal(CircuitResponse.Status.MALFORMED, 'a circuit needs at least one relaying peer')
  }
  if (hops > maxHops) {
    throw new Refusal(CircuitResponse.Status.HOP_LIMIT, `the circuit crossed ${hops} relaying peers, the limit is ${maxHops}`)
  }
  const release = node.slots.reserve(connection.remotePeer, undefined, mode)
  try {
    await messages.write({ status: CircuitResponse.Status.OK, reason: '', from: node.peerId.toMultihash().bytes }, CircuitResponse, { signal })
  } catch (err) {
    release()
    throw err
  }
  // from this end the hops run from the nearest (the sender) back to the opener
  const opener = path[0]
  const hopsFromHere = path.slice(1).reverse()
  if (hopsFromHere.length === 0) {
    hopsFromHere.push(connection.remotePeer)
  }
  const raw = messages.unwrap()
  raw.addEventListener('close', release, { once: true })
  const maConn = streamToConnection({
    stream: raw,
    remoteAddr: circuitAddress(hopsFromHere, opener),
    log: ctx.stream.log.newScope('membrane:circuit:connection')
  })
  try {
    // the upgrader applies its inbound timeout; Noise checks the opener's key against `opener`
    await node.upgrader.upgradeInbound(maConn, {
      signal: node.shutdown,
      limits: connectionLimits(mode, node.signalingLimit)
    })
    node.log('accepted %s circuit from %p', mode, opener)
  } catch (err) {
    maConn.abort(err as Error)
    release()
    node.log('inbound circuit upgrade from %p failed - %e', opener, err)
  }
}
