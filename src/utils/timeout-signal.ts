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
  const timer = setTimeout(() => {
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }, ms)
  ;(timer as unknown as { unref?: () => void }).unref?.()
  return controller.signal
}
