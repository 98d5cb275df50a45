/**
 * `AbortSignal.timeout(ms)` without Node's composite-signal leak.
 *
 * Node (24.9 here) keeps every `AbortSignal.any()` that has an
 * `AbortSignal.timeout()` among its sources in an internal strong set
 * (`gcPersistentSignals`) until one of its sources is garbage collected. With
 * a long-lived source beside the timeout (a service's shutdown signal: the
 * pattern `AbortSignal.any([AbortSignal.timeout(t), shutdown.signal])` every
 * handler used once per stream) that is never, so every stream a handler
 * served left its composite signal, its abort reason and that reason's stack
 * behind for good, aborted or not: about 2 kB per inbound stream, found by the
 * handler fuzzer (docs/fuzzing.md, docs/upstream/abort-signal-any-timeout-leak.md).
 *
 * This signal is a plain `AbortController`'s, aborted by an unref'd timer with
 * the same `TimeoutError` reason: `AbortSignal.any()` treats it as any other
 * source, and the composite is collected once nothing uses it. The timer holds
 * the controller until it fires (`ms`), as a pending `AbortSignal.timeout()`
 * with a listener does.
 */
export function timeoutSignal (ms: number): AbortSignal {
  const controller = new AbortController()
  abortAfter(controller, ms)
  return controller.signal
}

/** Abort `controller` with `AbortSignal.timeout()`'s `TimeoutError` after `ms`, on a timer that does not hold the process open */
function abortAfter (controller: AbortController, ms: number, before?: () => void): ReturnType<typeof setTimeout> {
  const timer = setTimeout(() => {
    before?.()
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }, ms)
  ;(timer as unknown as { unref?: () => void }).unref?.()
  return timer
}

/**
 * A per-stream deadline tied to a long-lived signal (a service's shutdown
 * signal), without `AbortSignal.any()`.
 *
 * Node (24.9 here) registers every source of an `AbortSignal.any()` in an
 * internal `FinalizationRegistry` whose cell lives until that *source* is
 * collected. With a shutdown signal as a source that is never: each stream a
 * handler served left a cell, its held object and two `WeakRef`s behind (about
 * 190 bytes; 150 709 cells on the dm service's shutdown signal after a
 * 3-minute attack, docs/fuzzing.md "Memory under attack").
 *
 * This signal is a plain `AbortController`'s, aborted by an unref'd timer
 * (`TimeoutError`, as `AbortSignal.timeout()`) or by `parent` (with its
 * reason). `clear()` drops the timer and the listener on `parent`; call it
 * when the stream is done, or `parent` keeps the controller until it aborts.
 * `timedOut` is true once the timer has fired (as a separate
 * `AbortSignal.timeout()`'s `aborted` was), not when `parent` aborted.
 */
export interface Deadline {
  signal: AbortSignal
  readonly timedOut: boolean
  clear(): void
}

export function deadlineSignal (ms: number, parent: AbortSignal): Deadline {
  const controller = new AbortController()
  if (parent.aborted) {
    controller.abort(parent.reason)
    return { signal: controller.signal, timedOut: false, clear: () => {} }
  }
  let timedOut = false
  const onAbort = (): void => {
    clear()
    controller.abort(parent.reason)
  }
  const timer = abortAfter(controller, ms, () => {
    timedOut = true
    clear()
  })
  parent.addEventListener('abort', onAbort, { once: true })
  function clear (): void {
    clearTimeout(timer)
    parent.removeEventListener('abort', onAbort)
  }
  return {
    signal: controller.signal,
    get timedOut () { return timedOut },
    clear
  }
}

/**
 * An operation's deadline: the caller's `signal` when it gave one (with
 * `parent`, through `AbortSignal.any()`: the sources are the caller's), else
 * {@link deadlineSignal}(`ms`, `parent`). `clear()` it when the operation is done.
 */
export function operationDeadline (ms: number, parent: AbortSignal, signal?: AbortSignal): Deadline {
  return signal == null
    ? deadlineSignal(ms, parent)
    : { signal: AbortSignal.any([signal, parent]), timedOut: false, clear: () => {} }
}
