import type { Graph } from './view.js'

/** Breadth-first hop counts from `from` over `graph`, optionally without the edge from–`without` */
export function distances (graph: Graph, from: string, without?: string): Map<string, number> {
  const dist = new Map<string, number>([[from, 0]])
  const queue = [from]
  for (let i = 0; i < queue.length; i++) {
    const key = queue[i]
    for (const next of graph.get(key) ?? []) {
      if (dist.has(next) || (without != null && key === from && next === without)) {
        continue
      }
      dist.set(next, dist.get(key)! + 1)
      queue.push(next)
    }
  }
  return dist
}

/**
 * The member graph: the map's edges between members (none touching `self` or
 * a bootstrap peer), plus `self`'s actual member links (the map lags them)
 */
export function memberGraph (self: string, edges: Iterable<[string, string]>, bootstraps: Set<string>, members: Iterable<string>): Graph {
  const graph: Graph = new Map()
  const add = (a: string, b: string): void => {
    let set = graph.get(a)
    if (set == null) {
      set = new Set()
      graph.set(a, set)
    }
    set.add(b)
  }
  for (const [a, b] of edges) {
    if (a === self || b === self || bootstraps.has(a) || bootstraps.has(b)) { continue }
    add(a, b)
    add(b, a)
  }
  for (const m of members) {
    add(self, m)
    add(m, self)
  }
  return graph
}

/** True when the link self–`peer` is a bridge: without it `peer` is out of reach */
export function isBridge (graph: Graph, self: string, peer: string): boolean {
  return !distances(graph, self, peer).has(peer)
}
