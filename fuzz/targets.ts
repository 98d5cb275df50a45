/**
 * The fuzzers' two targets: a bootstrap peer and a member joined to it, both
 * on TCP loopback, with the member's ICE servers empty so nothing leaves the host
 */
import { createBootstrapPeer } from '../src/bootstrap/index.js'
import { createMembrane } from '../src/index.js'
import type { BootstrapPeer } from '../src/bootstrap/index.js'
import type { Membrane } from '../src/index.js'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface Targets {
  boot: BootstrapPeer
  /** The bootstrap peer's plain TCP address */
  bootAddr: Multiaddr
  member: Membrane
  /** The member's TCP address, when it listens on one */
  memberAddr: Multiaddr | undefined
}

export async function startTargets (): Promise<Targets> {
  const boot = await createBootstrapPeer({ host: '127.0.0.1', port: 0, webrtcDirectPort: false })
  const bootAddr = boot.getMultiaddrs().find(ma => ma.toString().includes('/tcp/') && !ma.toString().includes('/ws'))
  if (bootAddr == null) {
    await boot.stop()
    throw new Error('the bootstrap peer has no TCP address')
  }
  const member = await createMembrane({
    bootstrap: [bootAddr.toString()],
    listen: ['/ip4/127.0.0.1/tcp/0'],
    webrtc: { rtcConfiguration: { iceServers: [] } }
  })
  const memberAddr = member.getMultiaddrs().find(ma => ma.toString().includes('/tcp/'))
  return { boot, bootAddr, member, memberAddr }
}
