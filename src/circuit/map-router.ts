import type { CircuitRouter } from './index.js'
import type { NetworkMap } from '../network-map/index.js'
import type { PeerId } from '@libp2p/interface'

/**
 * The network map as the circuit router: paths, and the addresses a member's
 * record announces. A path through members is preferred to one through a
 * bootstrap peer: bootstrap peers are for first contact, members leave them,
 * and a circuit through one dies when it restarts, while the mesh stays.
 */
export function mapRouter (map: () => NetworkMap): CircuitRouter {
  return {
    path: (to, options) => {
      const networkMap = map()
      const bootstraps: PeerId[] = networkMap.nodes().filter(n => n.roles.includes('bootstrap') && !n.id.equals(to)).map(n => n.id)
      const exclude = options?.exclude ?? []
      return (bootstraps.length > 0 ? networkMap.path(to, { ...options, exclude: [...exclude, ...bootstraps] }) : undefined) ??
        networkMap.path(to, options)
    },
    addresses: (peer) => map().get(peer)?.multiaddrs ?? []
  }
}
