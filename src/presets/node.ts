import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { installInitChannelGuard } from '../webrtc/init-channel-guard.js'
import type { Preset } from './index.js'

// the RTCPeerConnection @libp2p/webrtc uses in Node
installInitChannelGuard(RTCPeerConnection)

/**
 * Node: TCP, WebSockets, WebRTC (through node-datachannel) and circuit relay.
 * Node members reach bootstrap peers over TCP or WebSockets; WebRTC-direct is
 * for browsers (dialing it through node-datachannel aborted the process
 * natively in our tests when such connections closed).
 */
export const preset: Preset = {
  name: 'node',
  transports: (options) => [
    tcp(),
    webSockets(),
    webRTC(options.webrtc),
    circuitRelayTransport()
  ],
  // reachable through relays, then upgraded to WebRTC; no public socket by default
  listen: ['/p2p-circuit', '/webrtc']
}
