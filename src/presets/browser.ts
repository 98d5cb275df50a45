import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { installDialGuard } from '../webrtc/dial-guard.js'
import { installInitChannelGuard } from '../webrtc/init-channel-guard.js'
import type { Preset } from './index.js'

/**
 * Install Membrane's WebRTC guards on the browser's RTCPeerConnection: the
 * init channel guard, then the dial guard without holding candidates (the
 * libdatachannel races it works around do not exist in browsers), so dials
 * still fail at once on a dead peer connection and streams fail with named
 * errors. Idempotent.
 */
export function installBrowserWebRTCGuards (): void {
  installInitChannelGuard(globalThis.RTCPeerConnection)
  installDialGuard(globalThis.RTCPeerConnection, { holdCandidates: false })
}

/** Browser: WebSockets, WebRTC, WebRTC-direct and circuit relay */
export const preset: Preset = {
  name: 'browser',
  installGuards: installBrowserWebRTCGuards,
  transports: (options) => [
    webSockets(),
    webRTC(options.webrtc),
    // dial bootstrap peers' certhash addresses: no TLS certificate needed on https pages
    webRTCDirect(),
    circuitRelayTransport()
  ],
  listen: ['/p2p-circuit', '/webrtc']
}
