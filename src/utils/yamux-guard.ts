/**
 * A guard for a stock yamux defect (docs/upstream/libp2p-yamux.md): a stream
 * created while the connection under the muxer is closing (its write side
 * already `closing`/`closed`, the muxer still `open`) sends its opening window
 * update from a `queueMicrotask` callback, and the `StreamStateError` that
 * send throws escapes as an uncaught exception, which ends a Node process.
 * It happened whenever a link was aborted while some protocol opened a stream
 * on it (mass kills in the topology bench and specs). The guarded muxer aborts
 * such a stream instead: the caller sees a closed stream, as it would a
 * moment later anyway.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import type { YamuxMuxerInit } from '@chainsafe/libp2p-yamux'
import type { MultiaddrConnection, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

interface WindowUpdating {
  sendWindowUpdate(): void
  abort(err: Error): void
}

interface CreatesStreams {
  onCreateStream(...args: unknown[]): unknown
}

/** Make `muxer`'s new outbound streams abort, not throw, when their first window update cannot be sent */
export function guardStreamCreation <M extends StreamMuxer> (muxer: M): M {
  const target = muxer as unknown as CreatesStreams
  const create = target.onCreateStream.bind(muxer)
  target.onCreateStream = (...args: unknown[]) => {
    const stream = create(...args) as WindowUpdating
    const update = stream.sendWindowUpdate.bind(stream)
    stream.sendWindowUpdate = () => {
      try {
        update()
      } catch (err) {
        stream.abort(err as Error)
      }
    }
    return stream
  }
  return muxer
}

/**
 * `yamux()` from `@chainsafe/libp2p-yamux` with {@link guardStreamCreation}
 * applied to every muxer it creates
 *
 * @example
 * ```ts
 * const node = await createLibp2p({ streamMuxers: [guardedYamux()] })
 * ```
 */
export function guardedYamux (init?: YamuxMuxerInit): () => StreamMuxerFactory {
  const stock = yamux(init)
  return () => {
    const factory = stock()
    return {
      protocol: factory.protocol,
      createStreamMuxer: (maConn: MultiaddrConnection) => guardStreamCreation(factory.createStreamMuxer(maConn))
    }
  }
}
