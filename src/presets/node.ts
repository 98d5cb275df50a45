import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { installDialGuard } from '../webrtc/dial-guard.js'
import { installInitChannelGuard } from '../webrtc/init-channel-guard.js'
import type { Preset } from './index.js'

/**
 * Install Membrane's WebRTC guards on node-datachannel's RTCPeerConnection,
 * the class `@libp2p/webrtc` uses in Node: the init channel guard, then the
 * dial guard (it wraps the former, so the order matters). Every WebRTC dial in
 * the process is covered from then on. Idempotent.
 *
 * @example
 * ```ts
 * import { installNodeWebRTCGuards } from '@membrane/core'
 * installNodeWebRTCGuards() // before dialing with a libp2p node of your own
 * ```
 */
export function installNodeWebRTCGuards (): void {
  installInitChannelGuard(RTCPeerConnection)
  installDialGuard(RTCPeerConnection)
}

/**
 * Node: TCP, WebSockets, WebRTC (through node-datachannel) and circuit relay.
 * Node members reach bootstrap peers over TCP or WebSockets; WebRTC-direct is
 * for browsers (dialing it through node-datachannel aborted the process
 * natively in our tests when such connections closed).
 */
export const preset: Preset = {
  name: 'node',
  installGuards: installNodeWebRTCGuards,
  transports: (options) => [
    tcp(),
    webSockets(),
    webRTC(options.webrtc),
    circuitRelayTransport()
  ],
  // reachable through relays, then upgraded to WebRTC; no public socket by default
  listen: ['/p2p-circuit', '/webrtc']
}
