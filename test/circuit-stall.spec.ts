/**
 * Worst-case circuit requests cannot stall a peer (issue 16 item 4): peer id
 * fields of up to the 4 KiB request limit used to be base58-encoded before
 * any check. Real bytes over real streams, 32 at once on one connection
 * (the protocol's stream limit), while an honest neighbour pings.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pbStream } from '@libp2p/utils'
import { CIRCUIT_PROTOCOL, MAX_STREAMS_PER_CONNECTION } from '../src/circuit/constants.js'
import { CircuitRequest, CircuitResponse } from '../src/circuit/pb/circuit.js'
import { startGraph } from './fixtures/line.js'
import { stopAll } from './fixtures/nodes.js'
import { PING_BOUND, watchPings } from './fixtures/ping-watch.js'
import { waitFor } from './fixtures/wait.js'
import type { Membrane } from '../src/index.js'

/**
 * Rounds of concurrent requests per measurement. The honest ping's median
 * must answer within PING_BOUND while the attack runs,
 * or within twice the median of the same traffic made of trivial requests
 * (measured first, in the same run) when the machine itself is slower than
 * that: attacker, victim and pinger share one process here, and on a shared,
 * loaded machine 32 concurrent stream setups alone can take pings past
 * 200 ms. A handler that blocked the event loop (the defect: seconds per
 * request) fails either way.
 */
const ROUNDS = 8

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

describe('worst-case circuit requests do not stall the peer', () => {
  // 0 = attacker, 1 = victim, 2 = honest neighbour of the victim
  let nodes: Membrane[]

  before(async () => {
    // the victim's forwarding budget is lifted so every request is parsed: the worst case, no penalty cut-off
    nodes = await startGraph([{}, { options: { meshCircuits: { forwardRate: 1_000_000 } } }, {}], [[0, 1], [2, 1]])
    // the dialing side is open once dial() returns; wait for the victim's side too
    await waitFor(() => nodes[1].getConnections(nodes[0].peerId).length > 0 && nodes[1].getConnections(nodes[2].peerId).length > 0, 'victim sees both links')
  })

  after(async () => {
    await stopAll(...nodes)
  })

  it(`${MAX_STREAMS_PER_CONNECTION} concurrent streams of oversize and many-entry peer id fields: typed refusals, and an honest ping answers in < ${PING_BOUND} ms (median, or 2× that of trivial traffic on a slow machine)`, async () => {
    const [attacker, victim, honest] = nodes
    const validIds = await Promise.all(Array.from({ length: 7 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toMultihash().bytes))
    const self = attacker.peerId.toMultihash().bytes
    // each within the 4 KiB request limit; the decoder's limits allow 7 route and 7 path entries
    const worst: Array<Partial<CircuitRequest>> = [
      // one peer id field as long as the request allows
      { target: new Uint8Array(4000).fill(0xab), path: [self] },
      // seven 500-byte path entries that look like identity multihashes but are too long
      { target: validIds[0], path: [...Array.from({ length: 6 }, () => Uint8Array.from([0x00, 0xf4, 0x03, ...new Uint8Array(497).fill(0xab)])), self] },
      // the most work a valid-looking request can ask: 7 real route entries and 7 real path entries
      { target: validIds[0], route: validIds, path: [...validIds.slice(1), self] }
    ]
    const connection = attacker.getConnections(victim.peerId)[0]

    /** ROUNDS rounds of MAX_STREAMS_PER_CONNECTION concurrent requests, pinging throughout */
    const attack = async (requests: Array<Partial<CircuitRequest>>): Promise<{ statuses: Map<string, number>, rtts: number[] }> => {
      const statuses = new Map<string, number>()
      const pinger = watchPings(honest, victim.peerId)
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all(Array.from({ length: MAX_STREAMS_PER_CONNECTION }, async (_, i) => {
          const stream = await connection.newStream(CIRCUIT_PROTOCOL, { runOnLimitedConnection: true })
          const messages = pbStream(stream, { maxDataLength: 8192 })
          await messages.write({ route: [], hops: 0, maxHops: 6, mode: CircuitRequest.Mode.SIGNALING, target: new Uint8Array(0), path: [], ...requests[i % requests.length] }, CircuitRequest)
          const response = await messages.read(CircuitResponse, { signal: AbortSignal.timeout(10_000) })
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
          stream.abort(new Error('done'))
        }))
      }
      const { rtts, failed } = await pinger.stop()
      assert.equal(failed, 0, `every honest ping answered (${rtts.join(', ')} ms)`)
      return { statuses, rtts }
    }

    // the same traffic with a trivial request (a target the victim has no route to)
    const baseline = await attack([{ target: validIds[0], path: [self] }])
    assert.deepEqual([...baseline.statuses.keys()], [CircuitResponse.Status.NO_ROUTE])
    const { statuses, rtts } = await attack(worst)
    // every request got a typed refusal: malformed fields, or loops/no route for the valid-looking ones
    const total = [...statuses.values()].reduce((a, b) => a + b, 0)
    assert.equal(total, ROUNDS * MAX_STREAMS_PER_CONNECTION)
    for (const status of statuses.keys()) {
      assert.ok([CircuitResponse.Status.MALFORMED, CircuitResponse.Status.LOOP, CircuitResponse.Status.NO_ROUTE].includes(status as CircuitResponse.Status), `typed refusal, got ${status}`)
    }
    assert.ok((statuses.get(CircuitResponse.Status.MALFORMED) ?? 0) >= (2 * ROUNDS * MAX_STREAMS_PER_CONNECTION) / 3 - 1)
    assert.ok(rtts.length > 0, 'the honest neighbour pinged during the attack')
    const bound = Math.max(PING_BOUND, 2 * median(baseline.rtts))
    assert.ok(median(rtts) < bound, `honest ping median ${median(rtts)} ms under attack (${rtts.join(', ')}), bound ${bound} ms (trivial traffic: ${baseline.rtts.join(', ')})`)
    assert.equal(victim.services.meshCircuits.stats().circuits, 0, 'nothing was reserved')
  })
})
