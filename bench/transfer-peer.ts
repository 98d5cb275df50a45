// The receiving end of the transfer bench, in its own process: its CPU and memory are its own.
// argv: <private key (protobuf, hex)> <the only peer it may link to over TCP> <webrtc|circuit>
// Prints {"id","addr"} on stdout once listening; exits when stdin closes.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { byteStream } from '@libp2p/utils'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { createMembrane, meshCircuitTransport } from '../src/index.js'
import { adjacencyGater } from '../test/fixtures/line.js'
import { tcpAddress } from '../test/fixtures/nodes.js'
import { MEMORY_START, MEMORY_STOP, SINK } from './transfer-peer-protocol.js'

const MiB = 1024 * 1024
const SINK_TIMEOUT = 120_000
const SAMPLE_INTERVAL = 100

const [keyHex, neighbour, mode] = process.argv.slice(2)
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const circuit = { relayLimit: { bytes: 4 * 1024 * MiB } }
const allowed = [peerIdFromString(neighbour)]
const node = await createMembrane({
  privateKey: privateKeyFromProtobuf(uint8ArrayFromString(keyHex, 'base16')),
  listen: mode === 'webrtc' ? ['/ip4/127.0.0.1/tcp/0', '/webrtc'] : ['/ip4/127.0.0.1/tcp/0'],
  webrtc: { rtcConfiguration: { iceServers: [] } },
  // C of the fixed line A–B–C (see transfer.ts): the topology manager would link A and C itself
  topology: { enabled: false },
  meshCircuits: circuit,
  libp2p: {
    connectionGater: adjacencyGater(() => allowed),
    // as in the bench's own nodes: pings delayed by the bulk transfer do not close the link
    connectionMonitor: { abortConnectionOnPingFailure: false },
    ...(mode === 'webrtc' ? {} : { transports: [tcp(), meshCircuitTransport(circuit)] })
  }
})

await node.handle(SINK, async (stream) => {
  const signal = AbortSignal.timeout(SINK_TIMEOUT)
  const reader = byteStream(stream, { maxBufferSize: 64 * MiB })
  try {
    const header = await reader.read({ bytes: 8, signal })
    const total = Number(new DataView(header.subarray().buffer, header.subarray().byteOffset).getBigUint64(0))
    let got = 0
    while (got < total) {
      const chunk = await reader.read({ signal })
      if (chunk == null) { throw new Error(`sink: stream ended at ${got}/${total} bytes`) }
      got += chunk.byteLength
    }
    stream.send(Uint8Array.of(1))
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
})
node.services.transfers.handle('bench', async (t) => {
  for await (const _chunk of t.source) { /* the application takes every chunk */ }
})

// live memory (after a full GC) between start and stop
let sampler: ReturnType<typeof setInterval> | undefined
let baseline = 0
let peak = 0
const live = (): number => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
node.services.requests.handle(MEMORY_START, () => {
  clearInterval(sampler)
  baseline = live()
  peak = baseline
  sampler = setInterval(() => { peak = Math.max(peak, live()) }, SAMPLE_INTERVAL)
  return new Uint8Array(0)
})
node.services.requests.handle(MEMORY_STOP, () => {
  clearInterval(sampler)
  const stats = node.services.transfers.stats()
  return new TextEncoder().encode(JSON.stringify({ peakMB: (peak - baseline) / 1e6, bufferedMB: stats.maxBuffered / 1e6 }))
})

process.stdout.write(JSON.stringify({ id: node.peerId.toString(), addr: tcpAddress(node) }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => { void Promise.resolve(node.stop()).finally(() => process.exit(0)) })
