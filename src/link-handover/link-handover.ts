import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { bestConnection } from '../utils/connections.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { LinkHandoverComponents, LinkHandoverInit, LinkHandoverService, LinkHandoverStats } from './index.js'
import type { Connection, Logger, Startable } from '@libp2p/interface'

/** How long identify on the remaining link may take: identify's own default deadline */
export const DEFAULT_HANDOVER_TIMEOUT = 10_000

export class DefaultLinkHandover implements LinkHandoverService, Startable {
  readonly [Symbol.toStringTag] = '@membrane/link-handover'
  readonly [serviceCapabilities]: string[] = ['@membrane/link-handover']
  readonly [serviceDependencies]: string[] = ['@libp2p/identify']

  private readonly components: LinkHandoverComponents
  private readonly init: LinkHandoverInit
  private readonly log: Logger
  private shutdownController = new AbortController()
  private readonly counters: LinkHandoverStats = { handovers: 0, failures: 0 }

  constructor (components: LinkHandoverComponents, init: LinkHandoverInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('membrane:link-handover')
    this.onClose = this.onClose.bind(this)
  }

  start (): void {
    this.shutdownController = new AbortController()
    this.components.events.addEventListener('connection:close', this.onClose)
  }

  stop (): void {
    this.components.events.removeEventListener('connection:close', this.onClose)
    this.shutdownController.abort()
  }

  stats (): LinkHandoverStats {
    return { ...this.counters }
  }

  private onClose (evt: CustomEvent<Connection>): void {
    const closed = evt.detail
    // only an unlimited link carried topology streams (they do not run on limited ones)
    if (closed.limits != null || this.shutdownController.signal.aborted) {
      return
    }
    const remaining = bestConnection(this.components.connectionManager.getConnections(closed.remotePeer))
    if (remaining == null) {
      return
    }
    this.counters.handovers++
    this.log('link %a to %p closed, %a remains: telling topologies again', closed.remoteAddr, closed.remotePeer, remaining.remoteAddr)
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(this.init.timeout ?? DEFAULT_HANDOVER_TIMEOUT, this.shutdownController.signal)
    this.init.identify(remaining, { signal: deadline.signal }).catch((err: Error) => {
      if (!this.shutdownController.signal.aborted) {
        this.counters.failures++
        this.log('identify on %a failed - %e', remaining.remoteAddr, err)
      }
    }).finally(() => { deadline.clear() })
  }
}
