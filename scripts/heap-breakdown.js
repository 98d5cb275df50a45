// Where a network map's heap goes: starts N in-process nodes over the memory
// transport (identify + gossipsub, with or without the network map: the nodes
// and random graph of degree 5 of bench/network-map.ts's memory.heap_per_node), waits until every map is full, and prints the
// heap growth per node by V8 heap-snapshot kind ("type:name", with arrays,
// strings, numbers and plain objects attributed to their first owner).
// Run two sizes to split a per-record cost from a per-node one. `--heap-only` takes
// no snapshots and prints the heap growth per node alone (quicker at a few hundred nodes).
//
//   npm run build && node scripts/heap-breakdown.js --nodes 60 [--stock] [--top 40] [--heap-only]
import { readFileSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { DEFAULT_TTL, connectGraph, startNode } from '../dist/bench/network-map.js'

const args = process.argv.slice(2)
const option = (name, fallback) => args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback
const N = option('--nodes', 60)
const TOP = option('--top', 40)
const withMap = !args.includes('--stock')
const heapOnly = args.includes('--heap-only')
const FULL_MAP_TIMEOUT = 180_000

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')
const collect = () => { gc(); gc() }

/** Self sizes and counts by kind in a heap snapshot file */
function kinds (file) {
  const s = JSON.parse(readFileSync(file, 'utf8'))
  const meta = s.snapshot.meta
  const F = meta.node_fields.length
  const E = meta.edge_fields.length
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map(f => meta.node_fields.indexOf(f))
  const [eType, eTo] = ['type', 'to_node'].map(f => meta.edge_fields.indexOf(f))
  const types = meta.node_types[0]
  const edgeTypes = meta.edge_types[0]
  const count = s.nodes.length / F
  const owner = new Int32Array(count).fill(-1)
  for (let n = 0, e = 0; n < count; n++) {
    for (let k = 0; k < s.nodes[n * F + iEdges]; k++, e += E) {
      const to = s.edges[e + eTo] / F
      if (edgeTypes[s.edges[e + eType]] !== 'weak' && owner[to] === -1) { owner[to] = n }
    }
  }
  const type = (n) => types[s.nodes[n * F + iType]]
  // strings and numbers are named by their value: group them by type alone
  const label = (n) => /string|number|bigint/.test(type(n)) ? `${type(n)}:` : `${type(n)}:${(s.strings[s.nodes[n * F + iName]] ?? '').slice(0, 50)}`
  const out = new Map()
  for (let n = 0; n < count; n++) {
    let key = label(n)
    if ((/array|hidden|native|string|number|bigint/.test(type(n)) || key === 'object:Object') && owner[n] >= 0) {
      let o = owner[n]
      for (let hops = 0; hops < 3 && o >= 0 && ['array', 'hidden', 'native'].includes(type(o)); hops++) { o = owner[o] }
      key += ` <- ${o >= 0 ? label(o) : '?'}`
    }
    const entry = out.get(key) ?? { size: 0, count: 0 }
    entry.size += s.nodes[n * F + iSize]
    entry.count++
    out.set(key, entry)
  }
  return out
}

collect()
const before = heapOnly ? undefined : writeHeapSnapshot(join(tmpdir(), `heap-breakdown-${process.pid}-0.heapsnapshot`))
const heapBefore = process.memoryUsage().heapUsed
const nodes = await Promise.all(Array.from({ length: N }, async () => startNode(DEFAULT_TTL, true, withMap)))
try {
  await connectGraph(nodes, 5)
  if (withMap) {
    const deadline = Date.now() + FULL_MAP_TIMEOUT
    while (!nodes.every(n => n.services.networkMap.nodes().length === N)) {
      if (Date.now() > deadline) { throw new Error(`maps not full after ${FULL_MAP_TIMEOUT} ms`) }
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  // heartbeats and meshes settle, as in the bench
  await new Promise(resolve => setTimeout(resolve, 3_000))
  collect()
  const perNode = (process.memoryUsage().heapUsed - heapBefore) / N
  console.log(`${withMap ? 'with the network map' : 'stock (no map)'}, N = ${N}: heapUsed ${(perNode / 2 ** 20).toFixed(3)} MiB per node`)
  if (before != null) {
    const after = writeHeapSnapshot(join(tmpdir(), `heap-breakdown-${process.pid}-1.heapsnapshot`))
    const [a, b] = [kinds(before), kinds(after)]
    unlinkSync(before)
    unlinkSync(after)
    const rows = [...b].map(([key, { size, count }]) => ({ key, size: size - (a.get(key)?.size ?? 0), count: count - (a.get(key)?.count ?? 0) }))
      .sort((x, y) => y.size - x.size).slice(0, TOP)
    for (const { key, size, count } of rows) {
      console.log(`${(size / N / 1024).toFixed(1).padStart(8)} KiB ${(count / N).toFixed(1).padStart(8)} per node  ${key}`)
    }
  }
} finally {
  await Promise.allSettled(nodes.map(async n => n.stop()))
}
