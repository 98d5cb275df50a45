import { serviceCapabilities } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import { DEFAULT_ADMISSION_TIMEOUT, ADMITTED_TTL, BASE_DIFFICULTY, DIFFICULTY_PER_DOUBLING, HASHES_PER_YIELD, MAX_ACCEPTED_DIFFICULTY, MAX_CONCURRENT_SOLVES, MAX_DIFFICULTY, MAX_MESSAGE_SIZE, MAX_REMEMBERED_PEERS, PROTOCOL, REJECT_BACKOFF } from './constants.js'
import { AdmissionFailedError, DifficultyTooHighError, UnexpectedChallengeError } from './errors.js'
import { SeenCache } from '../utils/seen-cache.js'
import { Challenge, Solution, Verdict } from './pb/admission.js'
import { difficultyForLoad, solveWork, verifyWork } from './pow.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { Admission, AdmissionComponents, AdmissionInit, AdmissionStats, LoadFunction } from './index.js'
import type { Connection, Counter, Logger, PeerId, Stream } from '@libp2p/interface'

export class DefaultAdmission implements Admission {
  private readonly counts: AdmissionStats = { challenged: 0, admitted: 0, rejected: 0, solved: 0, refused: 0 }
  private readonly components: AdmissionComponents
  private readonly log: Logger
  private readonly load?: LoadFunction
  private readonly baseDifficulty: number
  private readonly perDoubling: number
  private readonly maxDifficulty: number
  private readonly maxAcceptedDifficulty: number
  private readonly timeout: number
  private readonly exempt: Set<string>
  private readonly isBootstrapPeer: (peer: PeerId) => boolean
  /** Connections whose challenge this member already took up: one each */
  private readonly answered = new WeakSet<Connection>()
  private solving = 0
  private readonly admitted = new SeenCache(MAX_REMEMBERED_PEERS, ADMITTED_TTL)
  private readonly barred = new SeenCache(MAX_REMEMBERED_PEERS, REJECT_BACKOFF)
  private readonly counters: Partial<Record<keyof AdmissionStats, Counter>> = {}
  private shutdownController = new AbortController()
  private started = false

  constructor (components: AdmissionComponents, init: AdmissionInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('membrane:admission')
    this.load = init.load
    this.baseDifficulty = init.baseDifficulty ?? BASE_DIFFICULTY
    this.perDoubling = init.difficultyPerDoubling ?? DIFFICULTY_PER_DOUBLING
    this.maxDifficulty = init.maxDifficulty ?? MAX_DIFFICULTY
    this.maxAcceptedDifficulty = init.maxAcceptedDifficulty ?? MAX_ACCEPTED_DIFFICULTY
    this.timeout = init.timeout ?? DEFAULT_ADMISSION_TIMEOUT
    this.exempt = new Set((init.exempt ?? []).map(String))
    this.isBootstrapPeer = init.isBootstrapPeer ?? (() => false)
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.handleChallenge = this.handleChallenge.bind(this)
  }

  readonly [Symbol.toStringTag] = '@membrane/admission'
  readonly [serviceCapabilities]: string[] = ['@membrane/admission']

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    await this.components.registrar.handle(PROTOCOL, this.handleChallenge, {
      // a server asks once per connection
      maxInboundStreams: 1,
      maxOutboundStreams: 1,
      runOnLimitedConnection: true
    })
    if (this.load != null) {
      for (const name of ['challenged', 'admitted', 'rejected'] as const) {
        this.counters[name] = this.components.metrics?.registerCounter(`membrane_admission_${name}_total`, {
          help: `Inbound peers ${name} by proof-of-work admission`
        })
      }
      this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    }
    this.started = true
  }

  async stop (): Promise<void> {
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.shutdownController.abort()
    await this.components.registrar.unhandle(PROTOCOL)
    this.admitted.clear()
    this.barred.clear()
    this.started = false
  }

  stats (): AdmissionStats {
    return { ...this.counts }
  }

  isBarred (peer: PeerId): boolean {
    return this.barred.has(peer.toString())
  }

  currentDifficulty (): number {
    if (this.load == null) {
      return 0
    }
    return difficultyForLoad(this.load(), this.baseDifficulty, this.perDoubling, this.maxDifficulty)
  }

  private count (name: keyof AdmissionStats): void {
    this.counts[name]++
    this.counters[name]?.increment()
  }

  private onConnectionOpen (evt: Event): void {
    const connection = (evt as CustomEvent<Connection>).detail
    if (connection.direction !== 'inbound') {
      return
    }
    const peer = connection.remotePeer
    if (this.barred.has(peer.toString())) {
      this.log('closing connection from barred peer %p', peer)
      connection.abort(new AdmissionFailedError('peer is barred after failing admission'))
      return
    }
    if (this.exempt.has(peer.toString()) || this.admitted.has(peer.toString())) {
      return
    }
    const difficulty = this.currentDifficulty()
    if (difficulty === 0) {
      return
    }
    this.challenge(connection, difficulty).catch((err: Error) => {
      this.log('peer %p failed admission at difficulty %d - %e', peer, difficulty, err)
      this.count('rejected')
      this.barred.add(peer.toString())
      connection.abort(new AdmissionFailedError(`admission failed: ${err.message}`))
    })
  }

  /** Server side: ask `connection`'s peer for work of `difficulty` bits */
  private async challenge (connection: Connection, difficulty: number): Promise<void> {
    this.count('challenged')
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(this.timeout, this.shutdownController.signal)
    const signal = deadline.signal
    try {
      await this.challengeOn(connection, difficulty, signal)
    } finally {
      deadline.clear()
    }
  }

  private async challengeOn (connection: Connection, difficulty: number, signal: AbortSignal): Promise<void> {
    const stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
    try {
      const pb = pbStream(stream, { maxDataLength: MAX_MESSAGE_SIZE })
      const nonce = crypto.getRandomValues(new Uint8Array(16))
      await pb.write({ nonce, difficulty }, Challenge, { signal })
      const solution = await pb.read(Solution, { signal })
      const ok = verifyWork(nonce, connection.remotePeer.toMultihash().bytes, difficulty, solution.counter)
      await pb.write({ admitted: ok, reason: ok ? '' : 'wrong solution' }, Verdict, { signal })
      await stream.close({ signal })
      if (!ok) {
        throw new AdmissionFailedError('wrong solution')
      }
      this.admitted.add(connection.remotePeer.toString())
      this.count('admitted')
      this.log('admitted %p at difficulty %d', connection.remotePeer, difficulty)
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /**
   * Member side: refuse a challenge unless it comes from a bootstrap peer on a
   * connection this node dialed, while that connection is new, once
   */
  private expectChallenge (connection: Connection): void {
    if (connection.direction !== 'outbound' || !this.isBootstrapPeer(connection.remotePeer)) {
      throw new UnexpectedChallengeError('challenge from a peer this node is not joining as a bootstrap peer')
    }
    if (Date.now() - connection.timeline.open > this.timeout) {
      throw new UnexpectedChallengeError('challenge after the connection\'s admission window')
    }
    if (this.answered.has(connection)) {
      throw new UnexpectedChallengeError('second challenge on one connection')
    }
    if (this.solving >= MAX_CONCURRENT_SOLVES) {
      throw new UnexpectedChallengeError(`already solving ${this.solving} challenges`)
    }
  }

  /** Member side: solve a bootstrap peer's challenge */
  private async handleChallenge (stream: Stream, connection: Connection): Promise<void> {
    try {
      this.expectChallenge(connection)
    } catch (err) {
      // an honest server never asks this: the connection goes, before a byte is read
      this.counts.refused++
      this.log('refusing challenge from %p - %e', connection.remotePeer, err)
      stream.abort(err as Error)
      connection.abort(err as Error)
      return
    }
    this.answered.add(connection)
    this.solving++
    const deadline = deadlineSignal(this.timeout, this.shutdownController.signal)
    const signal = deadline.signal
    try {
      const pb = pbStream(stream, { maxDataLength: MAX_MESSAGE_SIZE })
      const challenge = await pb.read(Challenge, { signal })
      if (challenge.difficulty > this.maxAcceptedDifficulty) {
        throw new DifficultyTooHighError(`asked for ${challenge.difficulty} bits, accepting at most ${this.maxAcceptedDifficulty}`)
      }
      if (challenge.nonce.byteLength < 8 || challenge.nonce.byteLength > 64) {
        throw new AdmissionFailedError(`nonce of ${challenge.nonce.byteLength} bytes`)
      }
      const started = Date.now()
      const counter = await solveWork(challenge.nonce, this.components.peerId.toMultihash().bytes, challenge.difficulty, { signal, hashesPerYield: HASHES_PER_YIELD })
      this.counts.solved++
      this.log('solved %d-bit challenge from %p in %d ms', challenge.difficulty, connection.remotePeer, Date.now() - started)
      await pb.write({ counter }, Solution, { signal })
      const verdict = await pb.read(Verdict, { signal })
      if (!verdict.admitted) {
        throw new AdmissionFailedError(`refused by ${connection.remotePeer}: ${verdict.reason}`)
      }
      await stream.close({ signal })
    } catch (err) {
      if ((err as Error).name === 'DifficultyTooHighError') {
        this.counts.refused++
      }
      this.log.error('admission by %p failed - %e', connection.remotePeer, err)
      stream.abort(err as Error)
    } finally {
      deadline.clear()
      this.solving--
    }
  }
}
