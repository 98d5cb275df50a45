import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { randomGraph } from '../bench/graph.js'
import { runNetworkMapMulti } from '../bench/network-map-multi.js'

describe('network map bench harness (bench/network-map-multi.ts)', () => {
  it('builds a ring plus chords of the asked average degree', () => {
    const pairs = randomGraph(100, 5)
    assert.equal(pairs.length, 250)
    assert.equal(new Set(pairs.map(([a, b]) => `${a}-${b}`)).size, 250)
    for (let i = 0; i < 100; i++) {
      const [a, b] = [i, (i + 1) % 100].sort((x, y) => x - y)
      assert.ok(pairs.some(([x, y]) => x === a && y === b), `ring link ${a}-${b}`)
    }
  })

  it('measures N = 6 over two worker processes: every figure but the steady window is filled in', async () => {
    const lines: string[] = []
    const metrics = await runNetworkMapMulti({ sizes: [6], workers: 2, rounds: 1, windowMs: 0, recordTtl: 60_000, log: line => { lines.push(line) } })
    const byName = new Map(metrics.map(m => [m.metric, m]))
    for (const name of ['map.full.s', 'map.converge.join.p99', 'map.converge.leave.p99', 'map.converge.leave_abrupt.p99', 'map.bytes_per_join']) {
      const m = byName.get(name)
      assert.ok(m != null, name)
      assert.equal(typeof m.membrane, 'number', `${name}: ${lines.join('\n')}`)
      assert.ok((m.membrane ?? -1) >= 0, name)
      assert.equal(typeof m.event_loop_p99_ms, 'number', `${name} carries its event-loop delay`)
      assert.equal(m.workers, 2)
    }
    assert.equal(byName.get('map.converge.join.p99')?.samples, 12, 'two joins seen by the six nodes')
    assert.equal(byName.get('map.converge.leave.p99')?.missed, 0)
    // no steady window: no refresh figure, said as null rather than invented
    assert.equal(byName.get('map.bytes_per_node_s')?.membrane, null)
    const heap = byName.get('memory.heap_per_node')
    assert.ok((heap?.membrane ?? 0) > 0 && (heap?.stock ?? 0) > 0, 'heap per node, both sides')
  })
})
