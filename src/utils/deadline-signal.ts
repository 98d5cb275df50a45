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
 */
export interface Deadline {
  signal: AbortSignal
  clear(): void
}

export function deadlineSignal (ms: number, parent: AbortSignal): Deadline {
  const controller = new AbortController()
  if (parent.aborted) {
    controller.abort(parent.reason)
    return { signal: controller.signal, clear: () => {} }
  }
  const onAbort = (): void => {
    clear()
    controller.abort(parent.reason)
  }
  const timer = setTimeout(() => {
    clear()
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }, ms)
  ;(timer as unknown as { unref?: () => void }).unref?.()
  parent.addEventListener('abort', onAbort, { once: true })
  function clear (): void {
    clearTimeout(timer)
    parent.removeEventListener('abort', onAbort)
  }
  return { signal: controller.signal, clear }
}
