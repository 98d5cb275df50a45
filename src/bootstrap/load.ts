import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Metrics } from '@libp2p/interface'

/**
 * When a bootstrap peer counts as loaded. Every figure is this process's own:
 * its connections, the CPU time it used and its event loop's delay. Nothing
 * that another process does can raise them: CPU time is what this process ran
 * (others using the cores only lower it), and the delay counts only while this
 * process is busy itself. So a busy machine does not make the peer ask for
 * proof of work.
 */
export interface LoadThresholds {
  /**
   * Open connections at which the peer counts as loaded
   *
   * @default 256
   */
  connections?: number
  /**
   * This process's CPU time per second of wall time (1 = one core), sustained
   * over the last five one-second samples, at which the peer counts as loaded
   *
   * @default 0.9
   */
  cpu?: number
  /**
   * Event-loop delay (p99 over the last sample, ms) at which the peer counts
   * as loaded. It counts only while the process is busy itself (sustained CPU
   * at least {@link BUSY_CPU}): delay while it is mostly idle comes from the
   * scheduler, that is from other processes.
   *
   * @default 100
   */
  eventLoopLag?: number
}

export interface LoadFigures {
  connections: number
  /** This process's CPU time per second of wall time, the lowest of the last five samples */
  cpu: number
  /** p99 event-loop delay over the last sample, ms */
  eventLoopLag: number
  /** Samples taken since start */
  samples: number
}

export interface LoadMonitor {
  /** max(connections / threshold, cpu / threshold, lag / threshold while busy): ≥ 1 means loaded */
  load(): number
  /** The latest figures */
  figures(): LoadFigures
  stop(): void
}

/** How often lag and CPU time are sampled */
const SAMPLE_INTERVAL = 1000

/** CPU counts as the lowest of this many samples: busy for 5 s on end, so a burst (the node starting, a big batch) is not load */
const SUSTAIN_SAMPLES = 5

/** Below this CPU use the process is mostly idle, and its event-loop delay is not load */
export const BUSY_CPU = 0.5

/**
 * Measure a Node process's own load against thresholds. `connections` is read
 * on each call; CPU time and event-loop delay are sampled every second.
 */
export function createLoadMonitor (connections: () => number, thresholds: LoadThresholds = {}): LoadMonitor {
  const maxConnections = thresholds.connections ?? 256
  const maxCpu = thresholds.cpu ?? 0.9
  const maxLag = thresholds.eventLoopLag ?? 100
  const histogram = monitorEventLoopDelay({ resolution: 20 })
  histogram.enable()
  let lag = 0
  let cpu = 0
  let samples = 0
  /** The last {@link SUSTAIN_SAMPLES} samples' CPU use, oldest first */
  const recent: number[] = []
  let lastCpu = process.cpuUsage()
  let lastTime = performance.now()
  const timer = setInterval(() => {
    lag = histogram.percentile(99) / 1e6
    histogram.reset()
    const now = performance.now()
    const usage = process.cpuUsage(lastCpu)
    recent.push((usage.user + usage.system) / 1000 / Math.max(1, now - lastTime))
    if (recent.length > SUSTAIN_SAMPLES) {
      recent.shift()
    }
    cpu = recent.length < SUSTAIN_SAMPLES ? 0 : Math.min(...recent)
    lastCpu = process.cpuUsage()
    lastTime = now
    samples++
  }, SAMPLE_INTERVAL)
  timer.unref()

  return {
    load: () => Math.max(
      connections() / maxConnections,
      cpu / maxCpu,
      cpu >= BUSY_CPU ? lag / maxLag : 0
    ),
    figures: () => ({ connections: connections(), cpu, eventLoopLag: lag, samples }),
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
export class DefaultLoadMonitor {
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
    this.components.metrics?.registerMetric('membrane_cpu', {
      help: 'This process\'s CPU time per second (1 = one core), the lowest of the last five seconds',
      calculate: () => this.figures().cpu
    })
  }

  stop (): void {
    this.monitor?.stop()
    this.monitor = undefined
  }

  load (): number {
    return this.monitor?.load() ?? 0
  }

  figures (): LoadFigures {
    return this.monitor?.figures() ?? { connections: 0, cpu: 0, eventLoopLag: 0, samples: 0 }
  }
}

/** The load monitor service's type */
export type LoadMonitorService = DefaultLoadMonitor

export function loadMonitor (thresholds: LoadThresholds = {}): (components: LoadMonitorComponents) => LoadMonitorService {
  return (components) => new DefaultLoadMonitor(components, thresholds)
}
