import { TypedEventEmitter, serviceCapabilities } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_DIAL_TIMEOUT, DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY } from './constants.js'
import { BootstrapUnreachableError, InvalidBootstrapAddressError } from './errors.js'
import type { BootstrapErrorDetail, FirstContact as FirstContactInterface, FirstContactComponents, FirstContactEvents, FirstContactInit } from './index.js'
import type { Logger } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export class FirstContact extends TypedEventEmitter<FirstContactEvents> implements FirstContactInterface {
  private readonly components: FirstContactComponents
  private readonly log: Logger
  private readonly addresses: string[]
  private readonly initialDelay: number
  private readonly maxDelay: number
  private readonly dialTimeout: number
  private shutdown?: AbortController
  private timer?: ReturnType<typeof setTimeout>
  connected = false
  lastError?: BootstrapErrorDetail

  constructor (components: FirstContactComponents, init: FirstContactInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('membrane:first-contact')
    this.addresses = init.bootstrap ?? []
    this.initialDelay = init.initialDelay ?? DEFAULT_INITIAL_DELAY
    this.maxDelay = init.maxDelay ?? DEFAULT_MAX_DELAY
    this.dialTimeout = init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT
  }

  readonly [Symbol.toStringTag] = '@membrane/first-contact'
  readonly [serviceCapabilities]: string[] = ['@membrane/first-contact']

  start (): void {
    this.shutdown = new AbortController()
  }

  afterStart (): void {
    const valid: Multiaddr[] = []
    for (const address of this.addresses) {
      try {
        const ma = multiaddr(address)
        if (ma.getComponents().findLast(c => c.name === 'p2p') == null) {
          throw new Error('it names no peer (/p2p/<peer id>)')
        }
        valid.push(ma)
      } catch (err) {
        const error = new InvalidBootstrapAddressError(`bootstrap address "${address}" is malformed: ${(err as Error).message}`, { cause: err })
        this.log.error('%s', error.message)
        this.lastError = { error, addresses: [address], attempt: 0 }
        const detail = this.lastError
        // on a timer, so listeners added right after `await createMembrane()` hear it
        setTimeout(() => { this.dispatchEvent(new CustomEvent('bootstrap:error', { detail })) }, 0)
      }
    }
    if (valid.length > 0) {
      void this.round(valid, 1)
    }
  }

  stop (): void {
    this.shutdown?.abort()
    clearTimeout(this.timer)
  }

  private async round (addresses: Multiaddr[], attempt: number): Promise<void> {
    const shutdown = this.shutdown
    if (shutdown == null || shutdown.signal.aborted) {
      return
    }
    const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(this.dialTimeout)])
    const results = await Promise.allSettled(addresses.map(async ma => this.components.connectionManager.openConnection(ma, { signal })))
    if (shutdown.signal.aborted) {
      return
    }
    const reached = results.find(r => r.status === 'fulfilled')
    if (reached != null) {
      this.connected = true
      this.lastError = undefined
      this.dispatchEvent(new CustomEvent('bootstrap:connect', { detail: reached.value.remotePeer }))
      return
    }
    const last = (results.at(-1) as PromiseRejectedResult).reason as Error
    const retryIn = Math.min(this.maxDelay, this.initialDelay * 2 ** (attempt - 1))
    const error = new BootstrapUnreachableError(`no bootstrap peer answered (${addresses.length} tried): ${last?.message ?? 'unknown error'}`, { cause: last })
    this.log('round %d failed, retrying in %d ms - %e', attempt, retryIn, error)
    this.lastError = { error, addresses: addresses.map(String), attempt, retryIn }
    this.dispatchEvent(new CustomEvent('bootstrap:error', { detail: this.lastError }))
    this.timer = setTimeout(() => { void this.round(addresses, attempt + 1) }, retryIn)
  }
}
