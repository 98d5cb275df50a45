import { multiaddr } from '@multiformats/multiaddr'
import { randomGraph } from './graph.js'
import type { Libp2p } from '@libp2p/interface'

/**
 * Connect `nodes` into a ring plus random chords so every node has about
 * `degree` links: connected, and the same shape for Membrane and stock runs.
 */
export async function connectMesh (nodes: Libp2p[], degree: number, seed = 1, dialable = (ma: string): boolean => ma.includes('/tcp/') && !ma.includes('/ws')): Promise<void> {
  await Promise.all(randomGraph(nodes.length, degree, seed).map(async ([a, b]) => {
    const addr = nodes[b].getMultiaddrs().find(ma => dialable(ma.toString()))
    if (addr == null) {
      throw new Error('node has no dialable address')
    }
    await nodes[a].dial(multiaddr(addr.toString()))
  }))
}
