import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { isCircuitAddress } from '../src/index.js'
import { startLine } from './fixtures/line.js'
import { stopAll, tcpAddress } from './fixtures/nodes.js'
import { waitFor } from './fixtures/wait.js'
import type { Membrane } from '../src/index.js'
import type { Connection } from '@libp2p/interface'

/** Yamux keep-alive every 50 ms: pings keep writing into a circuit while the link under it closes */
const KEEP_ALIVE_INTERVAL = 50
const PING = '/ipfs/ping/1.0.0'

/**
 * A circuit connection rides on a stream of the link to the hop. Closing that
 * link half-closes the stream under the circuit (its muxer closes every stream
 * on it) with no event; yamux and Noise over the circuit kept writing into it
 * and `send()` threw a StreamStateError from a timer or microtask, uncaught
 * (seen at teardown of the topology spec under load). And the hop kept the
 * other half of the circuit open when the closed side's FIN was lost with the
 * link.
 */
describe('circuit connection whose link closes under it', () => {
  let line: Membrane[]
  const uncaught: Error[] = []
  const record = (err: Error): void => { uncaught.push(err) }

  before(async () => {
    process.on('uncaughtException', record)
    line = await startLine(3, Array.from({ length: 3 }, () => ({
      noWebRTC: true,
      options: { libp2p: { streamMuxers: [yamux({ keepAliveInterval: KEEP_ALIVE_INTERVAL })] } }
    })))
  })

  after(async () => {
    await stopAll(...line)
    process.off('uncaughtException', record)
  })

  beforeEach(async () => {
    uncaught.length = 0
    // the line again (a test closed one of its links)
    for (const [i, j] of [[0, 1], [1, 2]]) {
      if (line[i].getConnections(line[j].peerId).length === 0) {
        await line[i].dial(multiaddr(tcpAddress(line[j])))
      }
    }
  })

  const circuits = (node: Membrane, peer: Membrane): Connection[] => node.getConnections(peer.peerId).filter(c => isCircuitAddress(c.remoteAddr))

  /** Open a circuit 0 → 2 through 1, with a ping stream on it, and wait until the target holds it */
  const openCircuit = async (): Promise<Connection> => {
    const [a, hop, b] = line
    const conn = await a.services.meshCircuits.openCircuit(b.peerId, { route: [hop.peerId], mode: 'relay' })
    await waitFor(() => circuits(b, a).length === 1 && hop.services.meshCircuits.stats().circuits === 1, 'the target and the hop hold the circuit')
    return conn
  }

  /** Both ends dropped the circuit, the hop released it, and nothing threw where nobody catches */
  const assertGone = async (): Promise<void> => {
    const [a, hop, b] = line
    await waitFor(() => circuits(a, b).length === 0, 'the opener dropped the circuit')
    await waitFor(() => circuits(b, a).length === 0, 'the target dropped the circuit')
    await waitFor(() => hop.services.meshCircuits.stats().circuits === 0, 'the hop released the circuit')
    assert.deepEqual(uncaught.map(e => e.stack), [])
  }

  for (const [closer, name] of [[0, 'the opener'], [2, 'the target']] as const) {
    it(`${name} closes its link to the hop while keep-alive runs and a stream opens on the circuit`, async () => {
      const conn = await openCircuit()
      const mine = closer === 0 ? conn : circuits(line[2], line[0])[0]
      const link = line[closer].getConnections(line[1].peerId)[0]
      const closing = link.close()
      // a stream opened on the circuit now sends its first window update into the half-closed stream under it
      const opening = mine.newStream(PING).then(s => { s.abort(new Error('not needed')) }, () => {})
      await Promise.all([closing, opening])
      await assertGone()
      // the link closed gracefully, so did the circuit on it
      assert.equal(mine.status, 'closed')
    })
  }

  it('the hop closes its link to the opener (the far side of the opener\'s circuit stream)', async () => {
    const conn = await openCircuit()
    await line[1].getConnections(line[0].peerId)[0].close()
    await assertGone()
    assert.notEqual(conn.status, 'open')
  })

  it('the opener stops while it holds the circuit', async () => {
    await openCircuit()
    await line[0].stop()
    await assertGone()
    await line[0].start()
  })
})
