/**
 * "Give me a link to this peer": the best open connection, else a new one made
 * by the node's link maker (the mesh-circuit `connect()`: WebRTC through the
 * mesh, else an end-to-end encrypted circuit). Requests and transfers use it;
 * the choice of connection is `bestConnection`'s.
 */
import { PeerUnreachableError } from '../direct-messages/errors.js'
import { bestConnection } from './connections.js'
import type { LinkMaker } from '../direct-messages/index.js'
import type { Connection, PeerId } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export interface LinkToOptions {
  signal: AbortSignal
  /** How to reach a peer with no usable connection; `openConnection` when unset */
  makeLink?: LinkMaker
  /**
   * Use a limited connection (a relay v2 reservation, a signaling circuit)
   * when no unlimited one is open, rather than making a new link
   *
   * @default true
   */
  allowLimited?: boolean
}

/** The best open connection to `peer`, else a new link; PeerUnreachableError when none can be made */
export async function linkTo (connectionManager: ConnectionManager, peer: PeerId, options: LinkToOptions): Promise<Connection> {
  const best = bestConnection(connectionManager.getConnections(peer), { allowLimited: options.allowLimited ?? true })
  if (best != null) {
    return best
  }
  const { signal, makeLink } = options
  try {
    if (makeLink != null) {
      return await makeLink(peer, { signal })
    }
    return await connectionManager.openConnection(peer, { signal })
  } catch (err) {
    if (signal.aborted) {
      throw err
    }
    throw new PeerUnreachableError(`cannot reach ${peer}: ${(err as Error).message}`)
  }
}
