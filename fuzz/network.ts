/**
 * Network-level fuzzing: a real bootstrap peer and a real member, each on TCP
 * loopback with Noise and yamux, attacked on every Membrane protocol they
 * serve by stock js-libp2p nodes sending protobuf-shaped random and mutated
 * frames. An attacker that is refused or disconnected is replaced by a fresh
 * identity. An honest stock peer pings both targets throughout.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createLibp2p } from 'libp2p'
import { lengthPrefixed } from '../src/utils/length-prefix.js'
import { mutate, randomMessage, Random } from './mutator.js'
import { startTargets } from './targets.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Ping } from '@libp2p/ping'

export interface ProtocolOutcome {
  target: 'bootstrap' | 'member'
  protocol: string
  inputs: number
  /** The target wrote something back before closing */
  answered: number
  /** The target closed or reset the stream without an answer */
  closed: number
  /** The stream stayed open past the read deadline */
  timeouts: number
  /** No stream could be opened: the attacker was refused, penalised or disconnected */
  refused: number
  /** Fresh attacker identities used */
  identities: number
  /** The slowest honest ping to the target while this protocol was attacked, ms (null in JSON: one failed) */
  slowestPingMs: number
  /** Honest pings answered, and failed (5 s deadline), during this protocol's attack */
  pingsAnswered: number
  pingsFailed: number
  /** The longest the event loop (targets, attackers and pinger share it) was blocked during this protocol's attack, ms */
  maxEventLoopDelayMs: number
  inputsPerSecond: number
}

export interface NetworkRun {
  outcomes: ProtocolOutcome[]
  /**
   * This process's memory (targets, attackers and pinger together), MB:
   * `quiet` with the targets up and no attacker, `peak` under attack, `after`
   * once the attackers left and a GC ran
   */
  rss: { quiet: number, peak: number, after: number }
  heapUsed: { quiet: number, peak: number, after: number }
}

const mb = (bytes: number): number => Math.round(bytes / 1e6)

/** Fresh identities one protocol's attack may use */
const MAX_IDENTITIES = 50

export async function stockNode (): Promise<Libp2p<{ ping: Ping }>> {
  return createLibp2p({
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // a ping's stream may still be closing when the next ping opens one (stock allows 1: the next ping fails
    // with TooManyOutboundProtocolStreamsError, which is the pinger's limit, not the target's answer)
    services: { ping: ping({ maxOutboundStreams: 4 }) }
  })
}

export interface AttackTarget { name: 'bootstrap' | 'member', peerId: PeerId, addr: Multiaddr }

/** Attack one protocol of `target` for `seconds` from stock nodes while `pinger` (connected to it) pings it */
export async function attackProtocol (target: AttackTarget, protocol: string, pinger: Libp2p<{ ping: Ping }>, options: { seconds: number, concurrency: number, maxInputs: number, random: Random, onSample?: () => void }): Promise<ProtocolOutcome> {
  const { name, addr } = target
  const { random, concurrency, maxInputs } = options
  const outcome: ProtocolOutcome = { target: name, protocol, inputs: 0, answered: 0, closed: 0, timeouts: 0, refused: 0, identities: 0, slowestPingMs: 0, pingsAnswered: 0, pingsFailed: 0, maxEventLoopDelayMs: 0, inputsPerSecond: 0 }
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  let attacker = await stockNode()
  let rotated = Date.now()
  outcome.identities++
  const deadline = Date.now() + options.seconds * 1000
  const pings = (async () => {
    while (Date.now() < deadline) {
      try {
        outcome.slowestPingMs = Math.max(outcome.slowestPingMs, await pinger.services.ping.ping(target.peerId, { signal: AbortSignal.timeout(5000) }))
        outcome.pingsAnswered++
      } catch (err) {
        outcome.slowestPingMs = Infinity
        outcome.pingsFailed++
        process.stderr.write(`ping to the ${name} failed during the ${protocol} attack: ${(err as Error).name}: ${(err as Error).message}\n`)
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })()
  const started = Date.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline && outcome.inputs < maxInputs) {
      outcome.inputs++
      const body = random.int(3) === 0 ? randomMessage(random) : mutate(random, randomMessage(random), randomMessage(random))
      let stream
      try {
        stream = await attacker.dialProtocol(addr, protocol, { signal: AbortSignal.timeout(2000), runOnLimitedConnection: true })
      } catch {
        outcome.refused++
        if (attacker.getConnections(target.peerId).length === 0 && outcome.identities < MAX_IDENTITIES && Date.now() - rotated > 1000) {
          // penalised or barred: come back as someone else, as the black-box fuzzer did (at most once a second,
          // as libp2p refuses more than 5 inbound connections per second from one host anyway)
          rotated = Date.now()
          const old = attacker
          attacker = await stockNode()
          outcome.identities++
          await old.stop()
        } else {
          // refused: back off a little rather than spin
          await new Promise(resolve => setTimeout(resolve, 50))
        }
        continue
      }
      try {
        try {
          stream.send(random.int(10) === 0 ? body : lengthPrefixed(body))
        } catch {
          // the target closed the stream before the input went out
          outcome.closed++
          continue
        }
        const answer = await new Promise<'answered' | 'closed' | 'timeout'>((resolve) => {
          const timer = setTimeout(() => { resolve('timeout') }, 1000)
          stream.addEventListener('message', () => { clearTimeout(timer); resolve('answered') }, { once: true })
          stream.addEventListener('close', () => { clearTimeout(timer); resolve('closed') }, { once: true })
        })
        outcome[answer === 'answered' ? 'answered' : answer === 'closed' ? 'closed' : 'timeouts']++
      } finally {
        stream.abort(new Error('fuzz input done'))
      }
      options.onSample?.()
    }
  }))
  await pings
  loop.disable()
  outcome.maxEventLoopDelayMs = Math.round(loop.max / 1e6)
  await attacker.stop()
  outcome.inputsPerSecond = Math.round(outcome.inputs / Math.max(1, (Date.now() - started) / 1000))
  return outcome
}

/** Attack each protocol of both targets for `secondsPerProtocol`, `concurrency` streams at a time */
export async function fuzzNetwork (options: { secondsPerProtocol: number, seed: number, concurrency?: number, maxInputsPerProtocol?: number, settleMs?: number, only?: string[] }): Promise<NetworkRun> {
  const random = new Random(options.seed)
  const concurrency = options.concurrency ?? 8
  const maxInputs = options.maxInputsPerProtocol ?? 100_000
  const { boot, bootAddr, member, memberAddr } = await startTargets()
  const pinger = await stockNode()
  const outcomes: ProtocolOutcome[] = []
  ;(globalThis as { gc?: () => void }).gc?.()
  const quiet = process.memoryUsage()
  let rssPeak = quiet.rss
  let heapPeak = quiet.heapUsed
  try {
    for (const [name, target, addr] of [['bootstrap', boot, bootAddr], ['member', member, memberAddr]] as const) {
      if (addr == null) {
        continue
      }
      await pinger.dial(addr)
      const protocols = target.getProtocols().filter(p => p.startsWith('/membrane/')).filter(p => options.only == null || options.only.some(o => `${name} ${p}`.includes(o))).sort()
      for (const protocol of protocols) {
        outcomes.push(await attackProtocol({ name, peerId: target.peerId, addr }, protocol, pinger, {
          seconds: options.secondsPerProtocol,
          concurrency,
          maxInputs,
          random,
          onSample: () => {
            const { rss, heapUsed } = process.memoryUsage()
            rssPeak = Math.max(rssPeak, rss)
            heapPeak = Math.max(heapPeak, heapUsed)
          }
        }))
      }
    }
  } finally {
    await Promise.allSettled([pinger.hangUp(boot.peerId)])
  }
  // the attackers are gone: give the targets' timers a few seconds to drop what they held
  const settle = Date.now() + (options.settleMs ?? 10_000)
  ;(globalThis as { gc?: () => void }).gc?.()
  while (Date.now() < settle && process.memoryUsage().heapUsed > quiet.heapUsed * 1.2) {
    await new Promise(resolve => setTimeout(resolve, 500))
    ;(globalThis as { gc?: () => void }).gc?.()
  }
  const after = process.memoryUsage()
  await Promise.allSettled([pinger.stop(), member.stop(), boot.stop()])
  return {
    outcomes,
    rss: { quiet: mb(quiet.rss), peak: mb(rssPeak), after: mb(after.rss) },
    heapUsed: { quiet: mb(quiet.heapUsed), peak: mb(heapPeak), after: mb(after.heapUsed) }
  }
}
