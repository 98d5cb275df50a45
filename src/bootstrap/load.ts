import type { Metrics } from '@libp2p/interface'
import { monitorEventLoopDelay } from 'node:perf_hooks'

export interface LoadThresholds {
  /**
   * Open connections at which the peer counts as loaded
   *
   * @default 256
   */
  connections?: number
  /**
   * Event-loop delay (p99 over the last sample, ms) at which the peer counts as loaded
   *
   * @default 100
   */
  eventLoopLag?: number
  /**
   * Process CPU use (fraction of one core over the last sample) at which the peer counts as loaded
   *
   * @default 0.9
   */
  cpu?: number
}

export interface LoadMonitor {
  /** max(connections / threshold, lag / threshold, cpu / threshold): ≥ 1 means loaded */
  load(): number
  /** The latest figures */
  figures(): { connections: number, eventLoopLag: number, cpu: number }
  stop(): void
}

/** How often lag and CPU figures are refreshed */
const SAMPLE_INTERVAL = 1000

/**
 * Measure a Node process's load against thresholds. `connections` is read on
 * each call; event-loop lag and CPU are sampled every second.
 */
export function createLoadMonitor (connections: () => number, thresholds: LoadThresholds = {}): LoadMonitor {
  const maxConnections = thresholds.connections ?? 256
  const maxLag = thresholds.eventLoopLag ?? 100
  const maxCpu = thresholds.cpu ?? 0.9
  const histogram = monitorEventLoopDelay({ resolution: 20 })
  histogram.enable()
  let lag = 0
  let cpu = 0
  let lastCpu = process.cpuUsage()
  let lastTime = performance.now()
  const timer = setInterval(() => {
    lag = histogram.percentile(99) / 1e6
    histogram.reset()
    const now = performance.now()
    const usage = process.cpuUsage(lastCpu)
    cpu = (usage.user + usage.system) / 1000 / Math.max(1, now - lastTime)
    lastCpu = process.cpuUsage()
    lastTime = now
  }, SAMPLE_INTERVAL)
  timer.unref()

  return {
    load: () => Math.max(connections() / maxConnections, lag / maxLag, cpu / maxCpu),
    figures: () => ({ connections: connections(), eventLoopLag: lag, cpu }),
    stop: () => {
      clearInterval(timer)
      histogram.disable()
    }
  }
}

export interface LoadMonitorComponents {
  connectionManager: { getConnections(): Array<{ limits?: unknown }> }
  metrics?: Metrics
}

/** The load monitor as a libp2p service, so it starts and stops with the node */
export class LoadMonitorService {
  private monitor?: LoadMonitor
  constructor (private readonly components: LoadMonitorComponents, private readonly thresholds: LoadThresholds = {}) {}

  readonly [Symbol.toStringTag] = '@membrane/load-monitor'

  start (): void {
    this.monitor = createLoadMonitor(() => this.components.connectionManager.getConnections().length, this.thresholds)
    this.components.metrics?.registerMetric('membrane_members', {
      help: 'Peers connected to this bootstrap peer',
      calculate: () => this.components.connectionManager.getConnections().length
    })
    this.components.metrics?.registerMetric('membrane_load', {
      help: 'Load relative to the admission thresholds (>= 1 asks proof of work)',
      calculate: () => this.load()
    })
    this.components.metrics?.registerMetric('membrane_event_loop_lag_ms', {
      help: 'p99 event-loop delay over the last second',
      calculate: () => this.figures().eventLoopLag
    })
  }

  stop (): void {
    this.monitor?.stop()
    this.monitor = undefined
  }

  load (): number {
    return this.monitor?.load() ?? 0
  }

  figures (): { connections: number, eventLoopLag: number, cpu: number } {
    return this.monitor?.figures() ?? { connections: 0, eventLoopLag: 0, cpu: 0 }
  }
}

export function loadMonitor (thresholds: LoadThresholds = {}): (components: LoadMonitorComponents) => LoadMonitorService {
  return (components) => new LoadMonitorService(components, thresholds)
}
