import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from '@libp2p/interface'

/**
 * Connect `nodes` into a ring plus random chords so every node has about
 * `degree` links: connected, and the same shape for Membrane and stock runs.
 */
export async function connectMesh (nodes: Libp2p[], degree: number, seed = 1, dialable = (ma: string): boolean => ma.includes('/tcp/') && !ma.includes('/ws')): Promise<void> {
  let state = seed
  const random = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  const pairs = new Set<string>()
  const add = (a: number, b: number): void => {
    if (a !== b) { pairs.add(a < b ? `${a}-${b}` : `${b}-${a}`) }
  }
  for (let i = 0; i < nodes.length; i++) {
    add(i, (i + 1) % nodes.length)
  }
  const target = Math.floor(nodes.length * degree / 2)
  while (pairs.size < target) {
    add(Math.floor(random() * nodes.length), Math.floor(random() * nodes.length))
  }
  await Promise.all([...pairs].map(async (pair) => {
    const [a, b] = pair.split('-').map(Number)
    const addr = nodes[b].getMultiaddrs().find(ma => dialable(ma.toString()))
    if (addr == null) {
      throw new Error('node has no dialable address')
    }
    await nodes[a].dial(multiaddr(addr.toString()))
  }))
}
