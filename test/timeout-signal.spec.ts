/**
 * Per-stream deadlines do not outlive their streams (issue 16.3, bounded
 * heap). Node keeps every `AbortSignal.any()` with an `AbortSignal.timeout()`
 * among its sources until a source is collected, so a handler that combined
 * a per-stream timeout with its service's shutdown signal kept one composite
 * signal per stream it ever served (src/utils/timeout-signal.ts). Here
 * composites of `timeoutSignal()` and a long-lived signal are counted after
 * they have aborted and a GC has run. (Handlers now use `deadlineSignal()`, no
 * composite at all: test/deadline-signal.spec.ts.)
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { timeoutSignal } from '../src/utils/timeout-signal.js'
import { collectGarbage } from './fixtures/handler.js'
import { waitFor } from './fixtures/wait.js'

describe('per-stream deadlines', () => {
  it('timeoutSignal aborts with a TimeoutError, and a composite of it and a long-lived signal is collected once aborted', async () => {
    const shutdown = new AbortController()
    const refs: Array<WeakRef<AbortSignal>> = []
    for (let i = 0; i < 500; i++) {
      refs.push(new WeakRef(AbortSignal.any([timeoutSignal(10), shutdown.signal])))
    }
    await waitFor(() => refs.every(r => r.deref()?.aborted !== false), 'every composite aborted (or collected)')
    const reason = refs.map(r => r.deref()?.reason as DOMException | undefined).find(r => r != null)
    assert.ok(reason == null || reason.name === 'TimeoutError', `aborted with a TimeoutError (${reason?.name})`)
    await collectGarbage()
    const live = refs.filter(r => r.deref() != null).length
    assert.ok(live <= 5, `${live} of 500 aborted composites still reachable`)
    assert.equal(shutdown.signal.aborted, false)
  })
  // The ICE servers handler this spec drove over stream pairs no longer builds an AbortSignal.any() per stream
  // (deadlineSignal(): no composite, no cell on its shutdown signal): test/deadline-signal.spec.ts covers it
})
