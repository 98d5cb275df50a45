import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { installInitChannelGuard } from '../webrtc/init-channel-guard.js'
import type { Preset } from './index.js'

// the RTCPeerConnection @libp2p/webrtc uses in browsers
installInitChannelGuard(globalThis.RTCPeerConnection)

/** Browser: WebSockets, WebRTC, WebRTC-direct and circuit relay */
export const preset: Preset = {
  name: 'browser',
  transports: (options) => [
    webSockets(),
    webRTC(options.webrtc),
    // dial bootstrap peers' certhash addresses: no TLS certificate needed on https pages
    webRTCDirect(),
    circuitRelayTransport()
  ],
  listen: ['/p2p-circuit', '/webrtc']
}
