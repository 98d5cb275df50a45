// usage: node stress-tmp.mjs membrane|stock N
import { createBootstrapPeer } from '/work/main/dist/src/bootstrap/index.js'
import { WebRTC } from '@multiformats/multiaddr-matcher'
const mode = process.argv[2]; const N = Number(process.argv[3] ?? 20)
let make
if (mode === 'membrane') {
  const { createMembrane } = await import('/work/main/dist/src/index.js')
  make = (tcp) => createMembrane({ bootstrap: [tcp], webrtc: { rtcConfiguration: { iceServers: [] } } })
} else {
  const { createLibp2p } = await import('libp2p'); const { tcp } = await import('@libp2p/tcp'); const { webRTC } = await import('@libp2p/webrtc')
  const { circuitRelayTransport } = await import('@libp2p/circuit-relay-v2'); const { noise } = await import('@chainsafe/libp2p-noise'); const { yamux } = await import('@chainsafe/libp2p-yamux')
  const { identify } = await import('@libp2p/identify'); const { bootstrap } = await import('@libp2p/bootstrap')
  make = (addr) => createLibp2p({ addresses: { listen: ['/p2p-circuit', '/webrtc'] }, transports: [tcp(), webRTC({ rtcConfiguration: { iceServers: [] } }), circuitRelayTransport()], connectionEncrypters: [noise()], streamMuxers: [yamux()], peerDiscovery: [bootstrap({ list: [addr], timeout: 0 })], services: { identify: identify() } })
}
const boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false })
const tcpAddr = boot.getMultiaddrs().find(a => !a.toString().includes('/ws') && a.toString().includes('/tcp/')).toString()
let ok = 0, fail = 0; const times = []
for (let i = 0; i < N; i++) {
  const a = await make(tcpAddr); const b = await make(tcpAddr)
  let addr
  for (let t = 0; t < 100 && addr == null; t++) { addr = b.getMultiaddrs().find(m => WebRTC.matches(m)); await new Promise(r => setTimeout(r, 50)) }
  const t0 = Date.now()
  try { const c = await a.dial(addr, { signal: AbortSignal.timeout(8000) }); if (WebRTC.matches(c.remoteAddr)) { ok++; times.push(Date.now() - t0) } else fail++ } catch (e) { fail++; console.log(i, 'fail', e.name) }
  await a.stop(); await b.stop()
}
times.sort((x, y) => x - y)
console.log(JSON.stringify({ mode, ok, fail, p50: times[Math.floor(times.length / 2)] }))
await boot.stop()
process.exit(0)
