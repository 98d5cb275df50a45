// Stock js-libp2p for Chromium test pages and the browser bench: no Membrane code,
// so no init-channel guard. Bundled to dist/browser/stock.js by scripts/bundle.js.
export { createLibp2p } from 'libp2p'
export { webRTC } from '@libp2p/webrtc'
export { webSockets } from '@libp2p/websockets'
export { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
export { noise } from '@chainsafe/libp2p-noise'
export { yamux } from '@chainsafe/libp2p-yamux'
export { identify } from '@libp2p/identify'
export { peerIdFromString } from '@libp2p/peer-id'
export { multiaddr } from '@multiformats/multiaddr'
