/**
 * Issue 16.4, memory under attack: `node dist/fuzz/memory.js --seconds 180
 * --only "member /membrane/dm" ...`. The targets (a bootstrap peer and a
 * member, `fuzz/target.ts`) run in a child process; the network fuzzer's
 * attackers and the pinger run here, so the child's RSS is the targets' own.
 * Per attacked protocol: the quiet RSS (before any attack), the peak during
 * `--seconds` of attack, the RSS `--settle` seconds after the attacker left
 * (no forced GC), and after a forced GC. One JSON line per protocol.
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Random } from './mutator.js'
import { attackProtocol, stockNode } from './network.js'
import type { ResidentBreakdown } from './smaps.js'

interface Described { peerId: string, addr: string, protocols: string[] }

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '180' },
    settle: { type: 'string', default: '60' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string', multiple: true },
    // a path prefix: heap snapshots of the target child at the attack's end and after the settle + GC
    snapshot: { type: 'string' },
    // extra node flags for the target child only, e.g. "--max-semi-space-size=4"
    'target-flags': { type: 'string', default: '' }
  }
})
const seconds = Number(values.seconds)
const settle = Number(values.settle)
const mb = (bytes: number): number => Math.round(bytes / 1e6)
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const child = fork(new URL('./target.js', import.meta.url), [], { execArgv: ['--expose-gc', ...values['target-flags'].split(' ').filter(f => f !== '')] })
const [described] = await once(child, 'message') as [{ bootstrap: Described, member: Described }]
type Memory = NodeJS.MemoryUsage & { malloced: number, resident?: ResidentBreakdown, spaces?: Record<string, number> }
const memory = async (gc: boolean | 'reduce' = false): Promise<Memory> => {
  child.send({ memory: { gc } })
  for (;;) {
    const [msg] = await once(child, 'message') as [{ memory?: NodeJS.MemoryUsage, malloced: number, resident?: ResidentBreakdown, spaces?: Record<string, number> }]
    if (msg.memory != null) {
      return { ...msg.memory, malloced: msg.malloced, resident: msg.resident, spaces: msg.spaces }
    }
  }
}
/** RSS by kind, in MB: malloc (brk + arenas, and how many arenas), other anonymous, file-backed; and how much of it is MADV_FREE'd */
const where = (m: Memory): unknown => m.resident == null
  ? undefined
  : { mallocMb: Math.round((m.resident.brkKb + m.resident.arenasKb) / 1e3), arenas: m.resident.arenaCount, otherAnonMb: Math.round(m.resident.otherAnonKb / 1e3), fileMb: Math.round(m.resident.fileKb / 1e3), lazyFreeMb: Math.round(m.resident.lazyFreeKb / 1e3) }
const snapshot = async (suffix: string): Promise<void> => {
  if (values.snapshot == null) {
    return
  }
  child.send({ snapshot: `${values.snapshot}-${suffix}.heapsnapshot` })
  for (;;) {
    const [msg] = await once(child, 'message') as [{ snapshot?: string }]
    if (msg.snapshot != null) {
      process.stderr.write(`snapshot ${msg.snapshot}\n`)
      return
    }
  }
}
const random = new Random(Number(values.seed))
const pinger = await stockNode()
// the targets settle (the member joins, the map syncs) before the quiet figure
await sleep(15_000)
const quiet = await memory()
process.stdout.write(JSON.stringify({ kind: 'quiet', rssMb: mb(quiet.rss), heapUsedMb: mb(quiet.heapUsed), heapTotalMb: mb(quiet.heapTotal), arrayBuffersMb: mb(quiet.arrayBuffers), v8MallocedMb: mb(quiet.malloced), resident: where(quiet) }) + '\n')
for (const name of ['bootstrap', 'member'] as const) {
  const target = described[name]
  const addr = multiaddr(target.addr)
  await pinger.dial(addr)
  for (const protocol of target.protocols.filter(p => values.only == null || values.only.some(o => `${name} ${p}`.includes(o)))) {
    const before = await memory()
    let peak = before.rss
    let peakHeapTotal = before.heapTotal
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const sample = await memory()
        peak = Math.max(peak, sample.rss)
        peakHeapTotal = Math.max(peakHeapTotal, sample.heapTotal)
        await sleep(1000)
      }
    })()
    const outcome = await attackProtocol({ name, peerId: peerIdFromString(target.peerId), addr }, protocol, pinger, { seconds, concurrency: 8, maxInputs: 10_000_000, random })
    sampling = false
    await sampler
    const ended = await memory()
    const tag = `${name}${protocol.replaceAll('/', '_')}`
    await snapshot(`${tag}-peak`)
    // RSS every 5 s while the attacker is gone and nothing forces a GC: does V8's memory reducer give it back by itself?
    const settleSeries: Array<[number, number]> = []
    for (let t = 5; t <= settle; t += 5) {
      await sleep(5000)
      settleSeries.push([t, mb((await memory()).rss)])
    }
    const settled = await memory()
    peak = Math.max(peak, settled.rss)
    const collected = await memory(true)
    // V8 unmaps freed pages after a GC concurrently: read again a little later, and past the memory reducer's 8 s delay
    await sleep(5000)
    const later = await memory()
    await sleep(10_000)
    const later15 = await memory()
    const reduced = await memory('reduce')
    await snapshot(`${tag}-after`)
    process.stdout.write(JSON.stringify({
      kind: 'memory',
      target: name,
      protocol,
      seconds,
      inputs: outcome.inputs,
      inputsPerSecond: outcome.inputsPerSecond,
      identities: outcome.identities,
      pings: `${outcome.pingsAnswered}/${outcome.pingsFailed}`,
      rssMb: { quiet: mb(quiet.rss), before: mb(before.rss), peak: mb(peak), settled: mb(settled.rss), afterGc: mb(collected.rss) },
      heapUsedMb: { before: mb(before.heapUsed), settled: mb(settled.heapUsed), afterGc: mb(collected.heapUsed) },
      heapTotalMb: { before: mb(before.heapTotal), peak: mb(peakHeapTotal), afterGc: mb(collected.heapTotal) },
      externalMb: { before: mb(before.external), afterGc: mb(collected.external) },
      arrayBuffersMb: { before: mb(before.arrayBuffers), afterGc: mb(collected.arrayBuffers) },
      v8MallocedMb: { before: mb(before.malloced), afterGc: mb(collected.malloced) },
      resident: { before: where(before), attackEnd: where(ended), afterGc: where(collected) },
      afterGc5sMb: { rss: mb(later.rss), heapUsed: mb(later.heapUsed), heapTotal: mb(later.heapTotal), resident: where(later) },
      afterGc15sMb: { rss: mb(later15.rss), heapTotal: mb(later15.heapTotal) },
      settleRssMb: settleSeries,
      afterReducingGcMb: { rss: mb(reduced.rss), heapUsed: mb(reduced.heapUsed), heapTotal: mb(reduced.heapTotal), resident: where(reduced) },
      reducedOverQuiet: Math.round(reduced.rss / quiet.rss * 100) / 100,
      spacesMb: { before: before.spaces, attackEnd: ended.spaces, afterGc: collected.spaces, afterGc5s: later.spaces },
      attackEndMb: { rss: mb(ended.rss), heapTotal: mb(ended.heapTotal), arrayBuffers: mb(ended.arrayBuffers), v8Malloced: mb(ended.malloced) },
      peakOverQuiet: Math.round(peak / quiet.rss * 100) / 100
    }) + '\n')
  }
}
await pinger.stop()
child.send({ stop: true })
await once(child, 'exit')
