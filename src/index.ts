/**
 * @packageDocumentation
 *
 * Membrane: a self-sustaining peer-to-peer mesh for browsers and Node, built on
 * libp2p. A Membrane node is an ordinary libp2p node with Membrane's services
 * added; after first contact with a bootstrap peer, members broadcast over
 * gossipsub and upgrade to direct WebRTC links.
 *
 * @example
 * ```ts
 * import { createMembrane } from 'membrane'
 *
 * const node = await createMembrane({
 *   bootstrap: ['/ip4/127.0.0.1/tcp/4001/ws/p2p/12D3Koo…']
 * })
 * node.services.broadcast.subscribe('chat', (msg) => {
 *   console.log(msg.from.toString(), new TextDecoder().decode(msg.data))
 * })
 * await node.services.broadcast.publish('chat', new TextEncoder().encode('hello'))
 * ```
 */

// first: stops an old Node before anything else loads
import './utils/node-version.js'
import { createMembraneWithPreset } from './membrane.js'
import { preset } from './presets/node.js'
import type { Membrane, MembraneOptions } from './membrane.js'
import type { ServiceMap } from '@libp2p/interface'

export * from './api.js'
export { installNodeWebRTCGuards } from './presets/node.js'

/**
 * Create and start a Membrane node (Node preset: TCP, WebSockets, WebRTC,
 * circuit relay). Bundlers that honour the `browser` export condition get the
 * browser preset instead.
 *
 * @example
 * ```ts
 * const node = await createMembrane({ bootstrap: [addr], topics: ['chat'] })
 * ```
 */
export async function createMembrane <T extends ServiceMap = ServiceMap> (options: MembraneOptions<T> = {}): Promise<Membrane<T>> {
  return createMembraneWithPreset(preset, options)
}
