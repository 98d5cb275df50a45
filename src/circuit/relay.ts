import { CircuitLimitError } from './errors.js'
import type { Logger, Stream } from '@libp2p/interface'

export interface SpliceLimit {
  /** Bytes both directions together may carry */
  bytes: number
  /** How long the circuit may stay open, in ms */
  duration: number
}

export interface SpliceInit {
  limit: SpliceLimit
  /** Aborts both streams, e.g. on shutdown */
  signal: AbortSignal
  log: Logger
  /** Called once when both streams have ended, for any reason */
  onEnd(): void
}

/**
 * Pipe two streams into each other at a hop: bytes flow both ways with
 * backpressure (a full side pauses the other), half-closes propagate, and the
 * byte and lifetime budget aborts both sides when spent.
 */
export function spliceStreams (a: Stream, b: Stream, init: SpliceInit): void {
  let remaining = init.limit.bytes
  let ended = 0
  let finished = false

  const finish = (): void => {
    if (finished) {
      return
    }
    finished = true
    clearTimeout(timer)
    init.signal.removeEventListener('abort', onShutdown)
    init.onEnd()
  }

  const abortBoth = (err: Error): void => {
    a.abort(err)
    b.abort(err)
  }

  const timer = setTimeout(() => {
    init.log('circuit reached its %d ms lifetime', init.limit.duration)
    abortBoth(new CircuitLimitError(`circuit lifetime of ${init.limit.duration} ms reached`))
  }, init.limit.duration)

  const onShutdown = (): void => {
    abortBoth(new CircuitLimitError('relay is shutting down'))
  }
  init.signal.addEventListener('abort', onShutdown, { once: true })
  if (init.signal.aborted) {
    onShutdown()
  }

  const forward = (from: Stream, to: Stream): void => {
    from.addEventListener('message', (evt) => {
      remaining -= evt.data.byteLength
      if (remaining < 0) {
        init.log('circuit exceeded its %d byte budget', init.limit.bytes)
        abortBoth(new CircuitLimitError(`circuit byte budget of ${init.limit.bytes} exceeded`))
        return
      }
      if (to.writeStatus !== 'writable') {
        return
      }
      try {
        if (!to.send(evt.data) && from.readStatus === 'readable') {
          from.pause()
        }
      } catch (err) {
        abortBoth(err as Error)
      }
    })
    to.addEventListener('drain', () => {
      if (from.readStatus === 'paused') {
        from.resume()
      }
    })
    from.addEventListener('remoteCloseWrite', () => {
      to.close().catch(err => { abortBoth(err) })
    })
    from.addEventListener('close', (evt) => {
      if (evt.error != null) {
        to.abort(evt.error)
      } else if (to.writeStatus === 'writable') {
        // `from` ended without a half-close first: its link closed under it
        // (a closing link does not always deliver the FIN of every stream on
        // it). Nothing more comes from it, so the other side learns that too
        to.close().catch(err => { to.abort(err) })
      }
      ended++
      if (ended === 2) {
        finish()
      }
    }, { once: true })
  }

  forward(a, b)
  forward(b, a)

  // a side that closed before the listeners were attached never fires 'close'
  if (a.status !== 'open' || b.status !== 'open') {
    abortBoth(new CircuitLimitError('a side of the circuit closed before relaying began'))
    finish()
  }
}
