/** One line of `npm run bench` output */
export interface Metric {
  metric: string
  unit: string
  membrane: number | null
  /** The stock libp2p counterpart measured in the same run, or null where none exists */
  stock: number | null
  /** membrane / stock, or null */
  ratio: number | null
  /** Sample count or node count, as the metric says */
  n: number
  /** Anything else worth recording (transport, node count…) */
  [extra: string]: unknown
}

export interface BenchOptions {
  /** `--quick`: smaller sample counts so the whole run stays under 5 minutes */
  quick: boolean
}

/** A bench module measures some metrics and returns them */
export type Bench = (options: BenchOptions) => Promise<Metric[]>

export function metric (name: string, unit: string, membrane: number | null, stock: number | null, n: number, extra: Record<string, unknown> = {}): Metric {
  const round = (v: number | null): number | null => v == null ? null : Math.round(v * 1000) / 1000
  const ratio = membrane != null && stock != null && stock !== 0 ? membrane / stock : null
  return { metric: name, unit, membrane: round(membrane), stock: round(stock), ratio: round(ratio), n, ...extra }
}

/** The p-th percentile (0–100) of `values`, nearest-rank */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) {
    return NaN
  }
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[rank]
}
