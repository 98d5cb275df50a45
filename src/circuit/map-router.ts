import type { CircuitRouter } from './index.js'
import type { NetworkMap } from '../network-map/index.js'

/** The network map as the circuit router: paths, and the addresses a member's record announces */
export function mapRouter (map: () => NetworkMap): CircuitRouter {
  return {
    path: (to, options) => map().path(to, options),
    addresses: (peer) => map().get(peer)?.multiaddrs ?? []
  }
}
