import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import type { Preset } from './index.js'

/** Browser: WebSockets, WebRTC and circuit relay */
export const preset: Preset = {
  name: 'browser',
  transports: (options) => [
    webSockets(),
    webRTC(options.webrtc),
    circuitRelayTransport()
  ],
  listen: ['/p2p-circuit', '/webrtc']
}
