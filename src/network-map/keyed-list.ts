/**
 * A few values by PeerId string, as the map holds a record's claims and a
 * node's two-sided edges: a list searched in order, with a `Map` built only
 * past {@link INDEXED} entries. A record names about `d` neighbours (5 in the
 * benches), and a `Map` of them cost about 370 B beyond its entries, two per
 * record held: a quarter of what a record cost in all (issue 19,
 * scripts/heap-breakdown.js). A node of many links (a bootstrap peer) still
 * gets a hashed lookup, so nothing here is quadratic in its links.
 */
import type { MapEdge, MapNeighbour } from './index.js'

/** Entries past which a list is indexed by a `Map` as well */
export const INDEXED = 16

abstract class KeyedList<V> implements Iterable<[string, V]> {
  /** Replaced, not grown, when a value comes or goes: an array grown by `push()` from empty holds 17 slots (152 B) */
  protected list: V[]
  private index?: Map<string, V>

  constructor (list: V[]) {
    this.list = list
    if (list.length > INDEXED) {
      this.reindex()
    }
  }

  /** The key `value` is held under */
  protected abstract keyOf (value: V): string

  get size (): number {
    return this.list.length
  }

  get (key: string): V | undefined {
    if (this.index != null) {
      return this.index.get(key)
    }
    for (const value of this.list) {
      if (this.keyOf(value) === key) { return value }
    }
    return undefined
  }

  has (key: string): boolean {
    return this.get(key) !== undefined
  }

  * keys (): IterableIterator<string> {
    for (const value of this.list) { yield this.keyOf(value) }
  }

  values (): IterableIterator<V> {
    return this.list.values()
  }

  * [Symbol.iterator] (): IterableIterator<[string, V]> {
    for (const value of this.list) { yield [this.keyOf(value), value] }
  }

  /** Put `value` under its key, in place of the value held there */
  protected put (value: V): void {
    const key = this.keyOf(value)
    const at = this.list.findIndex(v => this.keyOf(v) === key)
    if (at === -1) {
      this.list = [...this.list, value]
    } else {
      this.list[at] = value
    }
    if (this.index != null) {
      this.index.set(key, value)
    } else if (this.list.length > INDEXED) {
      this.reindex()
    }
  }

  /** Take out the value under `key`; false when there was none */
  protected remove (key: string): boolean {
    const at = this.list.findIndex(v => this.keyOf(v) === key)
    if (at === -1) {
      return false
    }
    this.list = this.list.filter((_, i) => i !== at)
    this.index?.delete(key)
    return true
  }

  private reindex (): void {
    this.index = new Map(this.list.map(v => [this.keyOf(v), v]))
  }
}

/**
 * A record's claimed neighbours by PeerId string, over the very list its
 * {@link MapNode} lists them in (one claim per neighbour, made by the store).
 * Never changed: a new version of a record has claims of its own.
 */
export class Claims extends KeyedList<MapNeighbour> {
  protected keyOf (claim: MapNeighbour): string {
    return claim.id.toString()
  }

  /** The list itself, as the node lists its neighbours */
  get neighbours (): MapNeighbour[] {
    return this.list
  }
}

/** The two-sided edges at one node, by the PeerId string of their other end */
export class EdgeList extends KeyedList<MapEdge> {
  /** The PeerId string of the node whose edges these are */
  private readonly end: string

  constructor (end: string) {
    super([])
    this.end = end
  }

  protected keyOf (edge: MapEdge): string {
    const from = edge.from.toString()
    return from === this.end ? edge.to.toString() : from
  }

  /** Hold `edge` (one end of it is this list's node), in place of the edge held to the same node */
  set (edge: MapEdge): void {
    this.put(edge)
  }

  delete (key: string): boolean {
    return this.remove(key)
  }
}
