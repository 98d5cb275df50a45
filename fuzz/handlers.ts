/**
 * Handler-level fuzzing in process: the channels route protocol handler driven
 * through `streamPair()` with mutated valid frames (a signed message, as
 * sent), each input on its own stream.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { DefaultChannel } from '../src/channels/channel.js'
import * as C from '../src/channels/constants.js'
import { InterestRouter, signedBytes } from '../src/channels/interest-router.js'
import { InterestTable } from '../src/channels/interests.js'
import { RoutedMessage } from '../src/channels/pb/channels.js'
import { lengthPrefixed } from '../src/utils/length-prefix.js'
import { mutate, randomMessage, Random } from './mutator.js'
import { pairOptions, yieldToEventLoop } from './services.js'
import type { Stream } from '@libp2p/interface'

export interface HandlerOutcome {
  handler: string
  inputs: number
  /** Inputs the handler took (delivered, forwarded or dropped as duplicates) */
  accepted: number
  /** Rejections by error name, as the handler reported them to the penalty hook */
  rejected: Record<string, number>
  /** The handler threw, or reported an untyped error (plain Error, RangeError, TypeError) */
  crashes: number
  firstCrash?: string
  ms: number
  inputsPerSecond: number
}

const UNTYPED = new Set(['Error', 'RangeError', 'TypeError'])

/** Fuzz the route protocol handler with `inputs` streams, `concurrency` at a time */
export async function fuzzRouteHandler (inputs: number, seed: number, concurrency = 16): Promise<HandlerOutcome> {
  const random = new Random(seed)
  const key = await generateKeyPair('Ed25519')
  const author = await generateKeyPair('Ed25519')
  const self = peerIdFromPrivateKey(key)
  const sender = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const log = defaultLogger().forComponent('membrane:fuzz')
  const owner = { publish: async () => ({ recipients: [] }), subscriptionsChanged: () => {}, close: () => {} }
  const pets = new DefaultChannel<unknown>(owner, 'pets', { routing: 'interest' })
  pets.subscriptions.add({ handler: () => {} })
  const outcome: HandlerOutcome = { handler: 'channels/route', inputs, accepted: 0, rejected: {}, crashes: 0, ms: 0, inputsPerSecond: 0 }
  const router = new InterestRouter({
    peerId: self,
    privateKey: key,
    interests: new InterestTable({ publish: async () => {}, log, interestTtl: C.INTEREST_TTL }),
    log,
    routeTimeout: 2000,
    channel: (name) => name === 'pets' ? pets : undefined,
    canReach: () => false,
    newStream: async () => { throw new Error('no route out of the fuzzer') },
    neighbours: () => [],
    onInvalid: (_peer, err) => {
      if (UNTYPED.has(err.name)) {
        outcome.crashes++
        outcome.firstCrash ??= `untyped rejection: ${err.name}: ${err.message}`
      } else {
        outcome.rejected[err.name] = (outcome.rejected[err.name] ?? 0) + 1
      }
    }
  })
  router.start()

  // valid frames as a member sends them, the seeds of the mutations
  const seeds: Uint8Array[] = []
  for (let i = 0; i < 8; i++) {
    const unsigned: RoutedMessage = {
      channel: 'pets',
      data: new TextEncoder().encode(JSON.stringify({ type: i, age: i * 2 })) as Uint8Array<ArrayBuffer>,
      from: peerIdFromPrivateKey(author).toMultihash().bytes as Uint8Array<ArrayBuffer>,
      seqno: BigInt(i + 1),
      signature: new Uint8Array(0),
      hops: i % 3,
      targets: i % 2 === 0 ? [] : [self.toMultihash().bytes as Uint8Array<ArrayBuffer>]
    }
    seeds.push(RoutedMessage.encode({ ...unsigned, signature: await author.sign(signedBytes(unsigned)) as Uint8Array<ArrayBuffer> }))
  }

  const one = async (body: Uint8Array): Promise<void> => {
    const [outbound, inbound]: [Stream, Stream] = await streamPair(pairOptions({ port: 1024 + random.int(60000) }))
    const handled = router.handle(inbound, sender)
    outbound.send(random.int(20) === 0 ? body : lengthPrefixed(body))
    await outbound.close().catch(() => {})
    await handled
  }

  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < inputs) {
      next++
      const body = random.int(8) === 0 ? randomMessage(random) : mutate(random, random.pick(seeds), random.pick(seeds))
      try {
        await one(body)
      } catch (err) {
        outcome.crashes++
        outcome.firstCrash ??= `handler threw: ${String(err)}`
      }
      await yieldToEventLoop()
    }
  }))
  const stats = router.stats()
  outcome.accepted = stats.received + stats.duplicates
  outcome.ms = Math.round(performance.now() - started)
  outcome.inputsPerSecond = Math.round(inputs / Math.max(outcome.ms, 1) * 1000)
  router.stop()
  return outcome
}
