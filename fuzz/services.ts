/**
 * Handler-level fuzzing of every registered protocol handler, in process: a
 * real bootstrap peer and a real member are started (TCP loopback, the member
 * admitted by the bootstrap peer), and each `/membrane/*` handler they
 * registered is taken from their registrar and driven through `streamPair()`
 * from `@libp2p/utils`, one input per stream, `concurrency` at a time, as if a
 * connection from one of a pool of sender identities had opened it.
 *
 * An input is one to three length-prefixed frames: mutations of valid frames
 * of the protocol (seeds below, real protobuf bytes and validly signed records
 * where the protocol signs), fresh random protobuf-shaped messages, and now
 * and then a frame without its length prefix. The protocols are found from
 * the registrars, so a new handler is fuzzed without editing this file (with
 * random and mutated random frames only, until it gets seeds here).
 *
 * A crash is: the handler rejecting, or aborting its stream, with an untyped
 * error (a plain `Error`, `RangeError` or `TypeError`: a decoder's or the
 * runtime's error escaping unwrapped); an uncaught exception or unhandled
 * rejection while the handlers run; or a handler still running 15 s after its
 * input ended (every stream has a deadline).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import type { StreamPairOptions } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { concat } from 'uint8arrays/concat'
import { signedBytes } from '../src/channels/interest-router.js'
import { RoutedMessage } from '../src/channels/pb/channels.js'
import { Challenge, Solution } from '../src/admission/pb/admission.js'
import { CircuitRequest } from '../src/circuit/pb/circuit.js'
import { DirectMessage } from '../src/direct-messages/pb/dm.js'
import { DEFAULT_MAX_RECORD_SIZE } from '../src/network-map/constants.js'
import { makeDelta } from '../src/network-map/delta.js'
import { NetmapMessage, NetmapRecord } from '../src/network-map/pb/netmap.js'
import { sealRecord } from '../src/network-map/validate.js'
import { PeerExchangeResponse } from '../src/peer-exchange/pb/px.js'
import { Request } from '../src/requests/pb/requests.js'
import { Chunk, Control, Offer } from '../src/transfers/pb/transfers.js'
import { IceRequest } from '../src/turn/pb/ice.js'
import { lengthPrefixed } from '../src/utils/length-prefix.js'
import { mutate, randomMessage, Random } from './mutator.js'
import { startTargets } from './targets.js'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream, StreamHandler } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

export interface ServiceHandlerOutcome {
  target: 'bootstrap' | 'member'
  protocol: string
  inputs: number
  /** The handler wrote something back */
  answered: number
  /** The handler ended the stream without an answer and without an error */
  closed: number
  /** Typed rejections (the error the handler aborted its stream with, or rejected with), by name */
  rejected: Record<string, number>
  /** Inputs after which the handler closed or aborted the sender's connection (a penalty) */
  disconnected: number
  crashes: number
  firstCrash?: string
  ms: number
  inputsPerSecond: number
  /**
   * Heap used before and after the protocol's inputs (after a GC when `--expose-gc`), and the most seen while
   * they ran (read every 1 000 inputs, without a GC, so it includes garbage not yet collected), MB
   */
  heapMb: { before: number, peak: number, after: number }
}

export interface ServiceFuzzOptions {
  /** Inputs per handler */
  inputs: number
  seed: number
  concurrency?: number
  /** Only these protocols (substring match), default all */
  only?: string[]
  /** Called after each handler's run */
  onOutcome?: (outcome: ServiceHandlerOutcome) => void
}

const UNTYPED = new Set(['Error', 'RangeError', 'TypeError', 'SyntaxError', 'ReferenceError'])
const HANDLER_DEADLINE = 15_000
const SENDERS = 64

const gc = (): void => { (globalThis as { gc?: () => void }).gc?.() }
const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10

interface Sender { key: PrivateKey, id: PeerId, port: number }

async function newSender (random: Random): Promise<Sender> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key), port: 1024 + random.int(60000) }
}

/**
 * streamPair() names its mock connections `/ip4/127.0.0.1/tcp/<counter>`, and the counter passes 65535 after
 * 32 767 pairs in one process, where multiaddr() throws (docs/upstream/stream-pair-port-counter.md): give
 * both ends an address of their own
 */
export function pairOptions (sender: { port: number }): StreamPairOptions {
  const remoteAddr = multiaddr(`/ip4/127.0.0.1/tcp/${sender.port}`)
  return { delay: 0, outboundConnection: { remoteAddr }, inboundConnection: { remoteAddr } }
}

/**
 * Let the event loop turn once. A stream pair is only released by its queues' 1 ms debounce timers (`@libp2p/utils`
 * `Queue.emitEmpty`/`emitIdle`), and an input that a handler settles with microtasks alone (a refusal, an abort, a
 * decode error) never lets the timers phase run: without this, every pair of a handler's run stayed reachable from
 * the timer list until the run ended (~60 kB an input; 100 000 inputs of `bootstrap /membrane/admission/1.0.0` ran the
 * heap out of memory)
 */
export async function yieldToEventLoop (): Promise<void> {
  await new Promise<void>(resolve => { setImmediate(resolve) })
}

interface Penalty { hit: boolean }

/** An inbound connection from `sender`, as a handler sees it: no streams of its own, a close or abort is a penalty */
function connectionFrom (sender: Sender, penalty: Penalty): Connection {
  return {
    id: `fuzz-${sender.port}`,
    remotePeer: sender.id,
    remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/${sender.port}/p2p/${sender.id}`),
    direction: 'inbound',
    status: 'open',
    limits: undefined,
    rtt: 1,
    timeline: { open: Date.now() },
    streams: [],
    multiplexer: '/yamux/1.0.0',
    encryption: '/noise',
    newStream: async () => { throw new Error('the fuzzer opens no streams back') },
    close: async () => { penalty.hit = true },
    abort: () => { penalty.hit = true },
    addEventListener: () => {},
    removeEventListener: () => {}
  } as unknown as Connection
}

type Conversation = Uint8Array[]

const text = (s: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>
const bytesOf = (id: PeerId): Uint8Array<ArrayBuffer> => id.toMultihash().bytes as Uint8Array<ArrayBuffer>

/** Valid conversations (frames a well-behaved peer sends, in order) for each protocol */
async function seedsFor (protocol: string, target: PeerId, others: PeerId[], random: Random): Promise<Conversation[]> {
  const author = await generateKeyPair('Ed25519')
  const authorId = peerIdFromPrivateKey(author)
  if (protocol.includes('/netmap/')) {
    const records: Uint8Array[] = []
    /** Each record's next version as a delta against it (2.1.0) */
    const deltas: Uint8Array[] = []
    for (let i = 0; i < 4; i++) {
      const key = await generateKeyPair('Ed25519')
      const id = peerIdFromPrivateKey(key)
      const record: NetmapRecord = {
        peerId: bytesOf(id),
        seq: BigInt(i + 1),
        expires: BigInt(Date.now() + 10 * 60_000),
        neighbours: [target, ...others].slice(0, 1 + i).map(n => ({ peerId: bytesOf(n), kind: NetmapRecord.LinkKind.DIRECT, rtt: 5 })),
        roles: i === 0 ? ['member'] : [],
        multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/4001').bytes as Uint8Array<ArrayBuffer>],
        departing: false
      }
      const sealed = await sealRecord(record, key, DEFAULT_MAX_RECORD_SIZE)
      records.push(sealed)
      const next = await sealRecord({ ...record, seq: record.seq + 1n, neighbours: record.neighbours.map(n => ({ ...n, rtt: 6 })).reverse() }, key, DEFAULT_MAX_RECORD_SIZE)
      const delta = makeDelta(sealed, next)
      if (delta != null) { deltas.push(delta) }
    }
    const digest = [target, ...others].map(id => ({ peerId: bytesOf(id), seq: 1n }))
    const conversations: Conversation[] = [
      [NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: records as Array<Uint8Array<ArrayBuffer>>, want: [], more: false, deltas: [] })],
      [NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest, records: [], want: [], more: false, deltas: [] })],
      [NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest, records: [], want: [], more: true, deltas: [] }),
        NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest: [], records: records.slice(0, 2) as Array<Uint8Array<ArrayBuffer>>, want: [bytesOf(target)], more: false, deltas: [] })]
    ]
    if (!protocol.endsWith('/1.0.0')) {
      // 2.0.0: the connect-time summary sync on one long-lived stream
      const buckets = Array.from({ length: 64 }, () => BigInt(random.int(2 ** 31)) * BigInt(random.int(2 ** 31)))
      conversations.push(
        [NetmapMessage.encode({ type: NetmapMessage.Type.SUMMARY, digest: [], records: [], want: [], more: false, deltas: [], summary: { count: 4, root: 12345n, buckets: [] } }),
          NetmapMessage.encode({ type: NetmapMessage.Type.SUMMARY, digest: [], records: [], want: [], more: false, deltas: [], summary: { count: 4, root: 12345n, buckets } })],
        [NetmapMessage.encode({ type: NetmapMessage.Type.SYNC, digest, records: [], want: [], more: false, deltas: [], scope: 0b1011n })],
        [NetmapMessage.encode({ type: NetmapMessage.Type.RECORDS, digest: [], records: records as Array<Uint8Array<ArrayBuffer>>, want: [bytesOf(target)], more: false, deltas: [] }),
          NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: records.slice(2) as Array<Uint8Array<ArrayBuffer>>, want: [], more: false, deltas: [] })]
      )
    }
    if (protocol.endsWith('/2.1.0')) {
      // the records, then their next versions as deltas
      conversations.push([
        NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: records as Array<Uint8Array<ArrayBuffer>>, want: [], more: false, deltas: [] }),
        NetmapMessage.encode({ type: NetmapMessage.Type.PUSH, digest: [], records: [], want: [], more: false, deltas: deltas as Array<Uint8Array<ArrayBuffer>> })
      ])
    }
    return conversations
  }
  if (protocol.includes('/channels/route/')) {
    const out: Conversation[] = []
    for (let i = 0; i < 4; i++) {
      const unsigned: RoutedMessage = {
        channel: random.pick(['pets', 'chat', 'a']),
        data: text(JSON.stringify({ type: i, age: i * 2 })),
        from: bytesOf(authorId),
        seqno: BigInt(i + 1),
        signature: new Uint8Array(0),
        hops: i % 3,
        targets: i % 2 === 0 ? [] : [bytesOf(target)]
      }
      out.push([RoutedMessage.encode({ ...unsigned, signature: await author.sign(signedBytes(unsigned)) as Uint8Array<ArrayBuffer> })])
    }
    return out
  }
  if (protocol.includes('/circuit/')) {
    return others.concat(target).flatMap(id => [CircuitRequest.Mode.SIGNALING, CircuitRequest.Mode.RELAY].map(mode => [
      CircuitRequest.encode({ target: bytesOf(id), route: others.slice(0, 1).map(bytesOf), path: [bytesOf(authorId)], hops: 0, maxHops: 3, mode })
    ]))
  }
  if (protocol.includes('/dm/')) {
    return [0, 1, 64].map(n => [DirectMessage.encode({ id: random.bytes(16) as Uint8Array<ArrayBuffer>, data: random.bytes(n) as Uint8Array<ArrayBuffer> })])
  }
  if (protocol.includes('/request/')) {
    return ['echo', 'fuzz', ''].map(name => [Request.encode({ name, data: text('hello'), maxResponseSize: 1024 })])
  }
  if (protocol.includes('/transfer/')) {
    const data = random.bytes(64) as Uint8Array<ArrayBuffer>
    return [
      [Offer.encode({ id: random.bytes(16) as Uint8Array<ArrayBuffer>, name: 'files', size: 64n, resume: false, meta: text('{}') }),
        Chunk.encode({ kind: Chunk.Kind.DATA, data, digest: new Uint8Array(0), size: 0n, reason: '' }),
        Chunk.encode({ kind: Chunk.Kind.END, data: new Uint8Array(0), digest: random.bytes(32) as Uint8Array<ArrayBuffer>, size: 64n, reason: '' })],
      [Offer.encode({ id: random.bytes(16) as Uint8Array<ArrayBuffer>, name: 'files', resume: true, meta: new Uint8Array(0) }),
        Control.encode({ kind: Control.Kind.CANCEL, consumed: 0n, reason: 'x' })]
    ]
  }
  if (protocol.includes('/admission/')) {
    return [
      [Challenge.encode({ nonce: random.bytes(32) as Uint8Array<ArrayBuffer>, difficulty: 4 })],
      [Solution.encode({ counter: 12345n })],
      [Challenge.encode({ nonce: random.bytes(32) as Uint8Array<ArrayBuffer>, difficulty: 1 }), Solution.encode({ counter: 1n })]
    ]
  }
  if (protocol.includes('/px/')) {
    return [[PeerExchangeResponse.encode({ peers: others.map(id => ({ id: bytesOf(id), addrs: [multiaddr('/ip4/127.0.0.1/tcp/9').bytes as Uint8Array<ArrayBuffer>], bootstrap: true })) })], []]
  }
  if (protocol.includes('/ice/')) {
    return [[IceRequest.encode({ counter: 0n })], [IceRequest.encode({ counter: 0n }), IceRequest.encode({ counter: 77n })]]
  }
  return [[randomMessage(random)]]
}

/** One input: frames derived from a seed conversation, or random ones */
function nextInput (random: Random, seeds: Conversation[]): Uint8Array {
  const conversation = random.pick(seeds)
  const frames: Uint8Array[] = []
  if (conversation.length === 0 || random.int(8) === 0) {
    for (let i = 0, n = 1 + random.int(2); i < n; i++) {
      frames.push(randomMessage(random))
    }
  } else {
    // mutate one frame of the conversation (sometimes all of them), keep the others valid
    const which = random.int(conversation.length)
    const all = random.int(4) === 0
    for (let i = 0; i < conversation.length; i++) {
      frames.push(all || i === which ? mutate(random, conversation[i], random.pick(random.pick(seeds).concat(conversation))) : conversation[i])
    }
  }
  const unprefixed = random.int(20) === 0
  return concat(frames.map(f => unprefixed ? f : lengthPrefixed(f)))
}

interface Target { name: 'bootstrap' | 'member', node: Libp2p }

/** Start the two targets, fuzz each of their handlers with `inputs` inputs, stop them */
export async function fuzzServiceHandlers (options: ServiceFuzzOptions): Promise<ServiceHandlerOutcome[]> {
  const random = new Random(options.seed)
  const concurrency = options.concurrency ?? 16
  const { boot, member } = await startTargets()
  // deeper paths: the member serves a request, takes direct messages and accepts transfers
  member.services.requests.handle('echo', data => data)
  member.services.directMessages.handle(() => {})
  member.services.transfers.handle('files', async (transfer) => {
    for await (const chunk of transfer.source) { void chunk }
  })
  const targets: Target[] = [{ name: 'bootstrap', node: boot as unknown as Libp2p }, { name: 'member', node: member as unknown as Libp2p }]

  let uncaught = 0
  let firstUncaught: string | undefined
  const onUncaught = (err: unknown): void => {
    uncaught++
    firstUncaught ??= `uncaught: ${(err as Error)?.stack ?? String(err)}`
  }
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)
  const outcomes: ServiceHandlerOutcome[] = []
  try {
    const others = await Promise.all(Array.from({ length: 3 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    for (const { name, node } of targets) {
      const registrar = (node as unknown as { components: { registrar: Registrar } }).components.registrar
      const protocols = registrar.getProtocols().filter(p => p.startsWith('/membrane/')).filter(p => options.only == null || options.only.some(o => `${name} ${p}`.includes(o))).sort()
      for (const protocol of protocols) {
        const handler: StreamHandler = registrar.getHandler(protocol).handler
        const seeds = await seedsFor(protocol, node.peerId, [name === 'member' ? boot.peerId : member.peerId, ...others], random)
        const senders = await Promise.all(Array.from({ length: SENDERS }, async () => newSender(random)))
        gc()
        const outcome: ServiceHandlerOutcome = { target: name, protocol, inputs: options.inputs, answered: 0, closed: 0, rejected: {}, disconnected: 0, crashes: 0, ms: 0, inputsPerSecond: 0, heapMb: { before: mb(process.memoryUsage().heapUsed), peak: 0, after: 0 } }
        const uncaughtBefore = uncaught
        const crash = (why: string): void => {
          outcome.crashes++
          outcome.firstCrash ??= why
        }
        const reject = (err: Error): void => {
          if (UNTYPED.has(err.name)) {
            crash(`untyped rejection: ${err.name}: ${err.message}`)
          } else {
            outcome.rejected[err.name] = (outcome.rejected[err.name] ?? 0) + 1
          }
        }
        const one = async (input: Uint8Array): Promise<void> => {
          const slot = random.int(SENDERS)
          const sender = senders[slot]
          const penalty: Penalty = { hit: false }
          const [outbound, inbound]: [Stream, Stream] = await streamPair(pairOptions(sender))
          let abortedWith: Error | undefined
          const abort = inbound.abort.bind(inbound)
          inbound.abort = (err: Error) => { abortedWith ??= err; abort(err) }
          let answered = false
          outbound.addEventListener('message', () => { answered = true })
          const handled = Promise.resolve().then(async () => handler(inbound, connectionFrom(sender, penalty)))
          try {
            outbound.send(input)
            await outbound.close().catch(() => {})
          } catch {
            // the handler ended the stream before the input went out
          }
          // some handlers return at once and work on in the background: the input is done when the handler
          // has returned and the stream has ended
          const ended = inbound.status === 'closed' || inbound.status === 'aborted' || inbound.status === 'reset'
            ? Promise.resolve()
            : new Promise<void>(resolve => { inbound.addEventListener('close', () => { resolve() }, { once: true }) })
          let timer: ReturnType<typeof setTimeout> | undefined
          const result = await Promise.race([
            handled.then(async () => { await ended; return 'done' as const }, (err: Error) => err),
            new Promise<'hung'>(resolve => { timer = setTimeout(() => { resolve('hung') }, HANDLER_DEADLINE) })
          ])
          clearTimeout(timer)
          if (result === 'hung') {
            crash(`handler still running ${HANDLER_DEADLINE} ms after its input ended`)
          } else if (result instanceof Error) {
            reject(result)
          } else if (abortedWith != null) {
            reject(abortedWith)
          } else if (answered) {
            outcome.answered++
          } else {
            outcome.closed++
          }
          if (penalty.hit) {
            outcome.disconnected++
            // penalised: that identity comes back as someone else
            senders[slot] = await newSender(random)
          }
          outbound.abort(new Error('fuzz input done'))
          inbound.abort(new Error('fuzz input done'))
        }
        const started = performance.now()
        let next = 0
        await Promise.all(Array.from({ length: concurrency }, async () => {
          while (next < options.inputs) {
            next++
            if (next % 1000 === 0) {
              outcome.heapMb.peak = Math.max(outcome.heapMb.peak, mb(process.memoryUsage().heapUsed))
            }
            try {
              await one(nextInput(random, seeds))
            } catch (err) {
              crash(`fuzzer step threw: ${(err as Error).stack ?? String(err)}`)
            }
            await yieldToEventLoop()
          }
        }))
        outcome.ms = Math.round(performance.now() - started)
        outcome.inputsPerSecond = Math.round(options.inputs / Math.max(outcome.ms, 1) * 1000)
        if (uncaught > uncaughtBefore) {
          outcome.crashes += uncaught - uncaughtBefore
          outcome.firstCrash ??= firstUncaught
        }
        // let the stream pairs' 1 ms debounce timers fire, so what they hold is garbage
        await new Promise(resolve => setTimeout(resolve, 100))
        gc()
        outcome.heapMb.after = mb(process.memoryUsage().heapUsed)
        outcome.heapMb.peak = Math.max(outcome.heapMb.peak, outcome.heapMb.before, outcome.heapMb.after)
        outcomes.push(outcome)
        options.onOutcome?.(outcome)
      }
    }
  } finally {
    process.off('uncaughtException', onUncaught)
    process.off('unhandledRejection', onUncaught)
    await Promise.allSettled([member.stop(), boot.stop()])
  }
  return outcomes
}
