import { InvalidMultiaddrError } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, CODE_P2P_CIRCUIT, multiaddr, registry } from '@multiformats/multiaddr'
import { CIRCUIT_MULTIADDR_CODE, CIRCUIT_MULTIADDR_NAME } from './constants.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Teach the multiaddr registry the `/membrane-circuit` protocol (idempotent) */
export function registerCircuitProtocol (): void {
  try {
    registry.getProtocol(CIRCUIT_MULTIADDR_CODE)
  } catch {
    registry.addProtocol({ code: CIRCUIT_MULTIADDR_CODE, name: CIRCUIT_MULTIADDR_NAME, size: 0 })
  }
}

registerCircuitProtocol()

/**
 * The address of a circuit as seen from one end: the relaying peers in order
 * from this end, then the far end, e.g. `/p2p/B/p2p/C/membrane-circuit/p2p/D`
 */
export function circuitAddress (hops: PeerId[], remote: PeerId): Multiaddr {
  const parts = hops.map(h => `/p2p/${h}`).join('')
  return multiaddr(`${parts}/${CIRCUIT_MULTIADDR_NAME}/p2p/${remote}`)
}

export interface ParsedCircuitAddress {
  /** Relaying peers, nearest first (at least one) */
  hops: PeerId[]
  /** The far end */
  target: PeerId
}

/** Split a circuit address into its hops and target; throws InvalidMultiaddrError when it is not one */
export function parseCircuitAddress (ma: Multiaddr): ParsedCircuitAddress {
  const components = ma.getComponents()
  const marker = components.findIndex(c => c.code === CIRCUIT_MULTIADDR_CODE)
  if (marker < 1) {
    throw new InvalidMultiaddrError(`${ma} is not a mesh circuit address`)
  }
  const before = components.slice(0, marker)
  const after = components.slice(marker + 1)
  if (before.some(c => c.code !== CODE_P2P || c.value == null) || after.length !== 1 || after[0].code !== CODE_P2P || after[0].value == null) {
    throw new InvalidMultiaddrError(`${ma} must be /p2p/<hop>…/${CIRCUIT_MULTIADDR_NAME}/p2p/<target>`)
  }
  return {
    hops: before.map(c => peerIdFromString(c.value ?? '')),
    target: peerIdFromString(after[0].value)
  }
}

/** True when `ma` is a mesh circuit address this transport can dial */
export function isCircuitAddress (ma: Multiaddr): boolean {
  try {
    parseCircuitAddress(ma)
    return true
  } catch {
    return false
  }
}

/**
 * How many relaying peers a connection already runs through: the hops of a
 * mesh circuit, one for a circuit relay v2 connection, none for a direct link.
 * A hop adds these when forwarding over such a connection, so circuits over
 * circuits still respect the hop limit.
 */
export function relayedHops (remoteAddr: Multiaddr): number {
  const components = remoteAddr.getComponents()
  const marker = components.findIndex(c => c.code === CIRCUIT_MULTIADDR_CODE)
  if (marker >= 0) {
    return components.slice(0, marker).filter(c => c.code === CODE_P2P).length
  }
  return components.filter(c => c.code === CODE_P2P_CIRCUIT).length
}
