import { circuitRelayAddressesLast, loopbackAddressLast, publicAddressesFirst, reliableTransportsFirst } from '@libp2p/utils'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import type { Address, AddressSorter } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Components that name a host or a peer, not a transport */
const NOT_TRANSPORT = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr', 'ip6zone', 'p2p', 'certhash'])

/** The transport an address dials: `/ip4/…/tcp/1/ws/p2p/…` → `tcp/ws`, `/ip4/…/udp/1/webrtc-direct/certhash/…` → `udp/webrtc-direct` */
function transportOf (ma: Multiaddr): string {
  return ma.getComponents().filter(c => !NOT_TRANSPORT.has(c.name)).map(c => c.name).join('/')
}

function peerOf (ma: Multiaddr): string | undefined {
  return ma.getComponents().findLast(c => c.code === CODE_P2P)?.value
}

/**
 * The connection manager's address order, with the app's bootstrap addresses
 * first. A dial by PeerId (the circuit relay reservation store redialling its
 * relay, relay discovery, peer exchange) takes every address identify stored
 * for a bootstrap peer, WebRTC-direct and TCP included, in js-libp2p's order:
 * public before private before loopback, and only then by transport. So a
 * page given only a WebSockets address could end up on WebRTC-direct. Here a
 * configured address comes first, then the peer's other addresses over a
 * configured transport, then the rest in js-libp2p's own order (the
 * `defaultAddressSorter` of `libp2p`, rebuilt from `@libp2p/utils`' sorters).
 *
 * @example
 * ```ts
 * createLibp2p({ connectionManager: { addressSorter: bootstrapAddressSorter(['/dns4/boot.example/tcp/443/tls/ws/p2p/12D3Koo…']) } })
 * ```
 */
export function bootstrapAddressSorter (bootstrap: string[]): AddressSorter {
  const configured = new Set<string>()
  const transports = new Map<string, Set<string>>()
  for (const address of bootstrap) {
    try {
      const ma = multiaddr(address)
      const peer = peerOf(ma)
      if (peer == null) {
        continue
      }
      configured.add(ma.toString())
      const known = transports.get(peer) ?? new Set<string>()
      known.add(transportOf(ma))
      transports.set(peer, known)
    } catch {
      // malformed: first contact reports it
    }
  }
  const rank = (ma: Multiaddr): number => {
    if (configured.size === 0) {
      return 0
    }
    if (configured.has(ma.toString())) {
      return 0
    }
    const peer = peerOf(ma)
    return peer != null && transports.get(peer)?.has(transportOf(ma)) === true ? 1 : 2
  }
  return (a: Address, b: Address) => {
    const byRank = rank(a.multiaddr) - rank(b.multiaddr)
    if (byRank !== 0) {
      return byRank < 0 ? -1 : 1
    }
    return loopbackAddressLast(a.multiaddr, b.multiaddr) ||
      publicAddressesFirst(a.multiaddr, b.multiaddr) ||
      circuitRelayAddressesLast(a.multiaddr, b.multiaddr) ||
      (a.isCertified === b.isCertified ? 0 : a.isCertified ? -1 : 1) ||
      reliableTransportsFirst(a.multiaddr, b.multiaddr)
  }
}
