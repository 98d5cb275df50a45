import type { Transport } from '@libp2p/interface'
import type { WebRTCTransportInit } from '@libp2p/webrtc'

export interface PresetOptions {
  webrtc?: WebRTCTransportInit
}

/** What differs between the Node and the browser builds */
export interface Preset {
  name: 'node' | 'browser'
  /** The transports this runtime can use */
  transports(options: PresetOptions): Array<(components: any) => Transport> // eslint-disable-line @typescript-eslint/no-explicit-any
  /**
   * Patch the RTCPeerConnection class this runtime's `@libp2p/webrtc` uses
   * with Membrane's WebRTC guards (`src/webrtc/`). Process-wide and idempotent;
   * `createMembraneWithPreset()` calls it before it builds the transports.
   */
  installGuards(): void
  /** Addresses a member listens on when `listen` is not given */
  listen: string[]
}
