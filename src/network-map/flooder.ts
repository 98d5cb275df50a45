/**
 * Flooding: which record version each neighbour is known to hold, and one
 * outbox per neighbour that batches new versions for `floodDelay` ms and
 * sends them in one push. Nothing is sent to a neighbour twice, nor back to
 * the neighbour it came from.
 */
import type { StoredRecord } from './record-store.js'
import type { Logger, PeerId } from '@libp2p/interface'

export interface FlooderInit {
  /** Batching window per neighbour, in ms */
  floodDelay: number
  /** Push records to one neighbour; `held`: the version of each it was known to hold before. Rejects when the push failed */
  send(peer: PeerId, records: StoredRecord[], held: Array<bigint | undefined>): Promise<void>
  /** True while `record` is still the version the map holds (older versions queued meanwhile are skipped) */
  isCurrent(record: StoredRecord): boolean
  /** `key` and `seq` as the map holds them (`RecordStore.canonical()`): what neighbours are known to hold is noted under those */
  canonical?(key: string, seq: bigint): [string, bigint]
  log: Logger
}

interface Outbox {
  peer: PeerId
  records: Map<string, StoredRecord>
  timer?: ReturnType<typeof setTimeout>
  sending: boolean
}

export class Flooder {
  private readonly init: FlooderInit
  /** Connected peers that run the map protocol */
  private readonly links = new Map<string, PeerId>()
  /** Which record version each neighbour is known to hold (it told us, or we sent it) */
  private readonly knownBy = new Map<string, Map<string, bigint>>()
  private readonly outboxes = new Map<string, Outbox>()
  private running = false

  constructor (init: FlooderInit) {
    this.init = init
  }

  start (): void {
    this.running = true
  }

  stop (): void {
    this.running = false
    for (const outbox of this.outboxes.values()) {
      clearTimeout(outbox.timer)
    }
    this.links.clear()
    this.knownBy.clear()
    this.outboxes.clear()
  }

  /** The neighbours that run the map protocol */
  peers (): IterableIterator<PeerId> {
    return this.links.values()
  }

  isLinked (key: string): boolean {
    return this.links.has(key)
  }

  /** True when the neighbour already told us (or was sent) some record versions */
  hasHistory (key: string): boolean {
    return this.knownBy.has(key)
  }

  /** A new neighbour; false when it was one already */
  link (peer: PeerId): boolean {
    const key = peer.toString()
    if (this.links.has(key)) {
      return false
    }
    this.links.set(key, peer)
    return true
  }

  /** A neighbour left: forget what it holds and drop its outbox; false when it was not one */
  unlink (key: string): boolean {
    if (!this.links.delete(key)) {
      return false
    }
    this.knownBy.delete(key)
    clearTimeout(this.outboxes.get(key)?.timer)
    this.outboxes.delete(key)
    return true
  }

  /** The neighbour holds at least `seq` of `key`'s record */
  noteKnown (peerKey: string, key: string, seq: bigint): void {
    const known = this.known(peerKey)
    if ((known.get(key) ?? -1n) < seq) {
      known.set(...(this.init.canonical?.(key, seq) ?? [key, seq]))
    }
  }

  /** Start tracking what the neighbour holds (a sync with it began) */
  track (peerKey: string): void {
    this.known(peerKey)
  }

  /** The version of `key`'s record the neighbour holds, as far as we know */
  knownVersion (peerKey: string, key: string): bigint | undefined {
    return this.knownBy.get(peerKey)?.get(key)
  }

  /** Queue `record` for every neighbour (or only `only`) that lacks it, except `fromKey` and its subject */
  flood (record: StoredRecord, fromKey?: string, only?: string): void {
    if (record.state === 'pruned') {
      return
    }
    for (const [key, peer] of this.links) {
      if ((only != null && key !== only) || key === fromKey || key === record.key || (this.knownBy.get(key)?.get(record.key) ?? -1n) >= record.seq) {
        continue
      }
      let outbox = this.outboxes.get(key)
      if (outbox == null) {
        outbox = { peer, records: new Map(), sending: false }
        this.outboxes.set(key, outbox)
      }
      outbox.records.set(record.key, record)
      this.schedule(key, outbox)
    }
  }

  private known (peerKey: string): Map<string, bigint> {
    let known = this.knownBy.get(peerKey)
    if (known == null) {
      known = new Map()
      this.knownBy.set(peerKey, known)
    }
    return known
  }

  private schedule (key: string, outbox: Outbox): void {
    if (outbox.timer != null || outbox.sending || !this.running) {
      return
    }
    outbox.timer = setTimeout(() => {
      outbox.timer = undefined
      void this.flush(key, outbox)
    }, this.init.floodDelay)
  }

  private async flush (key: string, outbox: Outbox): Promise<void> {
    const known = this.known(key)
    const batch = [...outbox.records.values()].filter(r => this.init.isCurrent(r) && (known.get(r.key) ?? -1n) < r.seq)
    outbox.records.clear()
    if (batch.length === 0 || !this.links.has(key)) {
      return
    }
    outbox.sending = true
    const held = batch.map(r => known.get(r.key))
    for (const r of batch) {
      known.set(r.key, r.seq)
    }
    try {
      await this.init.send(outbox.peer, batch, held)
    } catch (err) {
      this.init.log('could not push %d records to %p - %e', batch.length, outbox.peer, err)
      // let the next change or the sync on reconnection repair it
      for (const r of batch) {
        if (known.get(r.key) === r.seq) { known.delete(r.key) }
      }
    } finally {
      outbox.sending = false
      if (outbox.records.size > 0) {
        this.schedule(key, outbox)
      }
    }
  }
}
