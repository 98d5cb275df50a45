// `npm run bench [-- --quick] [-- --only <name>]`: prints one JSON line per metric
import { broadcastBench } from './broadcast.js'
import { channelsBench } from './channels.js'
import { networkMapBench } from './network-map.js'
import { networkMapMultiBench } from './network-map-multi.js'
import { circuitBench } from './circuit.js'
import { browserBench } from './browser.js'
import { browserMeshBench } from './browser-mesh.js'
import { topologyRecoveryBench } from './topology-recovery.js'
import { failureDetectionBench } from './failure-detection.js'
import { webrtcDialBench } from './webrtc-dial.js'
import { transferBench } from './transfer.js'
import { natBench } from './nat.js'
import { relayThroughputBench } from './relay-throughput.js'
import type { Bench } from './metric.js'

/** Every bench, by name; later issues add theirs here */
const BENCHES: Record<string, Bench> = {
  broadcast: broadcastBench,
  channels: channelsBench,
  'network-map': networkMapBench,
  'network-map-multi': networkMapMultiBench,
  circuit: circuitBench,
  browser: browserBench,
  'browser-mesh': browserMeshBench,
  topology: topologyRecoveryBench,
  failure: failureDetectionBench,
  'webrtc-dial': webrtcDialBench,
  transfer: transferBench,
  nat: natBench,
  relay: relayThroughputBench
}

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined

for (const [name, bench] of Object.entries(BENCHES)) {
  if (only != null && only !== name) {
    continue
  }
  const started = Date.now()
  for (const m of await bench({ quick })) {
    process.stdout.write(JSON.stringify(m) + '\n')
  }
  process.stderr.write(`bench ${name} took ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
}
process.exit(0)
