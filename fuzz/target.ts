/**
 * A fuzz target in a process of its own (`fuzz/memory.ts` forks it): a
 * bootstrap peer and a member on TCP loopback, as in `fuzz/network.ts`. It
 * posts their peer ids, addresses and protocols, and answers `memory`
 * with its `process.memoryUsage()` (after a GC when asked to, under
 * `--expose-gc`), so the attackers' memory is not counted. `snapshot`
 * writes a V8 heap snapshot to the path given and answers with it.
 * `memory` also carries V8's `malloced_memory` and `fuzz/smaps.ts`'s breakdown.
 */
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8'
import { residentBreakdown } from './smaps.js'
import { startTargets } from './targets.js'

const { boot, bootAddr, member, memberAddr } = await startTargets()
const describe = (node: typeof boot | typeof member, addr: unknown): unknown => ({
  peerId: node.peerId.toString(),
  addr: String(addr),
  protocols: node.getProtocols().filter(p => p.startsWith('/membrane/')).sort()
})
process.send?.({ bootstrap: describe(boot, bootAddr), member: describe(member, memberAddr) })
process.on('message', (msg: { memory?: { gc: boolean | 'reduce' }, snapshot?: string, stop?: boolean }) => {
  if (msg.snapshot != null) {
    process.send?.({ snapshot: writeHeapSnapshot(msg.snapshot) })
  }
  if (msg.memory != null) {
    // `reduce`: the memory-reducing full GC (V8's "last resort": shrinks the young generation and gives
    // freed pages back), which V8's memory reducer runs by itself once allocation has been low for ~8 s
    const gc = (globalThis as { gc?: (options?: { type: string, execution: string, flavor?: string }) => void }).gc
    if (msg.memory.gc === 'reduce') {
      gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' })
    } else if (msg.memory.gc) {
      gc?.()
    }
    // V8's own malloc (zones, not the JS heap) and where RSS is by mapping kind
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map(s => [s.space_name, Math.round(s.space_size / 1e6)]))
    process.send?.({ memory: process.memoryUsage(), malloced: getHeapStatistics().malloced_memory, resident: residentBreakdown(), spaces })
  }
  if (msg.stop === true) {
    void Promise.allSettled([member.stop(), boot.stop()]).then(() => process.exit(0))
  }
})
