/**
 * The map's one penalty model: decaying offence points per peer, a refusal
 * threshold, and a per-peer budget of pushed records (`RateLimiter` from
 * `@libp2p/utils`). Channels penalise through gossipsub's peer score instead,
 * because their traffic rides gossipsub; the map has its own streams.
 */
import { RateLimiter } from '@libp2p/utils'
import { RecordRateLimitError } from './errors.js'

export interface PenaltiesInit {
  /** Points at which a peer is refused */
  threshold: number
  /** Points halve every this many ms */
  halfLife: number
  /** Records a peer may push per second, on average over one burst window */
  maxRecordsPerSecond: number
  /** Records a peer may push within one window (`recordBurst / maxRecordsPerSecond` seconds) */
  recordBurst: number
}

export class Penalties {
  private readonly threshold: number
  private readonly halfLife: number
  private readonly maxRecordsPerSecond: number
  private readonly points = new Map<string, { points: number, at: number }>()
  private readonly pushes: RateLimiter

  constructor (init: PenaltiesInit) {
    this.threshold = init.threshold
    this.halfLife = init.halfLife
    this.maxRecordsPerSecond = init.maxRecordsPerSecond
    this.pushes = new RateLimiter({
      points: init.recordBurst,
      duration: Math.max(1, init.recordBurst / init.maxRecordsPerSecond),
      keyPrefix: ''
    })
  }

  /** Current (decayed) points of a peer */
  current (key: string, now = Date.now()): number {
    const p = this.points.get(key)
    return p == null ? 0 : p.points * Math.pow(0.5, (now - p.at) / this.halfLife)
  }

  isRefused (key: string): boolean {
    return this.current(key) >= this.threshold
  }

  /** Add points; true when this offence takes the peer to the threshold */
  add (key: string, points: number, now = Date.now()): boolean {
    const before = this.current(key, now)
    this.points.set(key, { points: before + points, at: now })
    return before < this.threshold && before + points >= this.threshold
  }

  /** Spend `count` of a peer's pushed-record budget; throws `RecordRateLimitError` beyond it */
  spend (key: string, count: number): void {
    try {
      this.pushes.consume(key, count)
    } catch {
      throw new RecordRateLimitError(`${key} pushed records faster than ${this.maxRecordsPerSecond}/s`)
    }
  }

  /** The peer left: its push budget starts afresh (its points decay on their own) */
  forget (key: string): void {
    this.pushes.delete(key)
  }

  /** Drop peers whose points have decayed to nothing */
  prune (now = Date.now()): void {
    for (const [key, p] of this.points) {
      if (this.current(key, now) < 0.1 && now - p.at > this.halfLife) {
        this.points.delete(key)
      }
    }
  }

  clear (): void {
    this.points.clear()
    for (const key of [...this.pushes.memoryStorage.storage.keys()]) {
      this.pushes.delete(key)
    }
  }
}
