/**
 * Remembers keys for a time window, up to a count; the oldest go first.
 * Used for channel content ids, routed message ids, direct-message ids and
 * admission decisions.
 */
export class SeenCache {
  private readonly entries = new Map<string, number>()
  private readonly maxSize: number
  private readonly ttl: number

  constructor (maxSize: number, ttl: number) {
    this.maxSize = maxSize
    this.ttl = ttl
  }

  has (key: string): boolean {
    const expires = this.entries.get(key)
    if (expires == null) {
      return false
    }
    if (expires < Date.now()) {
      this.entries.delete(key)
      return false
    }
    return true
  }

  add (key: string): void {
    this.entries.delete(key)
    this.entries.set(key, Date.now() + this.ttl)
    while (this.entries.size > this.maxSize) {
      const oldest = this.entries.keys().next().value
      if (oldest == null) {
        break
      }
      this.entries.delete(oldest)
    }
  }

  clear (): void {
    this.entries.clear()
  }
}
