import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mapRouter } from '../src/circuit/map-router.js'
import type { MapNode, NetworkMap, PathOptions } from '../src/network-map/index.js'
import type { PeerId } from '@libp2p/interface'

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** A map with two routes to `target`: through a bootstrap peer, and through a member */
function twoRoutes (boot: PeerId, member: PeerId, self: PeerId, target: PeerId, memberRoute: boolean): NetworkMap {
  const node = (id: PeerId, roles: string[]): MapNode => ({ id, seq: 1n, expires: Date.now() + 60_000, roles, multiaddrs: [], neighbours: [] })
  return {
    nodes: () => [node(self, []), node(boot, ['bootstrap', 'relay']), node(member, []), node(target, [])],
    path: (to: PeerId, options?: PathOptions) => {
      const excluded = (p: PeerId): boolean => options?.exclude?.some(e => e.equals(p)) === true
      if (!excluded(boot)) {
        return [self, boot, to]
      }
      return memberRoute && !excluded(member) ? [self, member, to] : undefined
    }
  } as unknown as NetworkMap
}

describe('the map as circuit router', () => {
  it('routes through members before bootstrap peers, and through a bootstrap peer only when nothing else reaches the target', async () => {
    const [self, boot, member, target] = await Promise.all([peer(), peer(), peer(), peer()])
    assert.deepEqual(mapRouter(() => twoRoutes(boot, member, self, target, true)).path(target)?.map(String), [self, member, target].map(String))
    assert.deepEqual(mapRouter(() => twoRoutes(boot, member, self, target, false)).path(target)?.map(String), [self, boot, target].map(String))
  })
})
