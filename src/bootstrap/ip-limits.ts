import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'

export interface IpLimitsInit {
  /** The most simultaneous inbound connections (pending or open) from one IP address */
  maxConnectionsPerIp: number
  /** Peers refused after the encryption handshake (e.g. barred by admission) */
  isBarred?(peer: PeerId): boolean
}

/** The host part of a connection's remote address */
function remoteHost (maConn: MultiaddrConnection): string | undefined {
  const component = maConn.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
  return component?.value
}

/**
 * A connection gater that caps concurrent inbound connections per IP address —
 * counted from accept, so half-open handshakes count too — and refuses barred
 * peers once their PeerId is known.
 */
export function ipLimitsGater (init: IpLimitsInit): ConnectionGater & { connectionsFrom(host: string): number } {
  const open = new Map<string, number>()

  return {
    denyInboundConnection: (maConn) => {
      const host = remoteHost(maConn)
      if (host == null) {
        return false
      }
      const count = open.get(host) ?? 0
      if (count >= init.maxConnectionsPerIp) {
        return true
      }
      open.set(host, count + 1)
      maConn.addEventListener('close', () => {
        const left = (open.get(host) ?? 1) - 1
        if (left <= 0) {
          open.delete(host)
        } else {
          open.set(host, left)
        }
      }, { once: true })
      return false
    },
    denyInboundEncryptedConnection: (peer) => init.isBarred?.(peer) === true,
    connectionsFrom: (host) => open.get(host) ?? 0
  }
}
