import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { dialGuardStats, installDialGuard } from '../src/webrtc/dial-guard.js'

/**
 * Real node-datachannel peer connections on loopback, signaled in-process the
 * way `@libp2p/webrtc` does it: the dialer opens `init`, sends its offer and
 * trickles candidates; the answerer applies the offer, answers, and adds the
 * dialer's candidates in order; the dialer reads the answer, then candidates.
 * Each direction of the "wire" is a macrotask, as a stream is.
 *
 * The unguarded and guarded runs use two classes, so the guard (which patches
 * a prototype) does not leak into the unguarded run.
 */
class GuardedPeerConnection extends RTCPeerConnection {}
installDialGuard(GuardedPeerConnection)
/** The guard as it was: candidates released as soon as the answer is applied */
class AnswerReleasePeerConnection extends RTCPeerConnection {}
installDialGuard(AnswerReleasePeerConnection, { candidateHoldTimeout: 0 })

type PeerConnectionClass = typeof RTCPeerConnection

interface Trial {
  /** The answerer's ICE was connected before the dialer had applied the answer */
  answererIceBeforeAnswer: boolean
  /** Dialer candidates the answerer had before the dialer applied the answer */
  candidatesBeforeAnswer: number
  /** Dialer candidates the answerer had before the dialer's own ICE was connected */
  candidatesBeforeDialerIce: number
  /** The answerer's ICE was connected before the dialer's */
  answererIceFirst: boolean
  dialer: RTCPeerConnectionState
  initOpened: boolean
}

const wire = (f: () => void): void => { setImmediate(f) }

const settled = async (pc: RTCPeerConnection): Promise<RTCPeerConnectionState> => new Promise(resolve => {
  const check = (): void => {
    if (['connected', 'failed', 'closed'].includes(pc.connectionState)) { resolve(pc.connectionState) }
  }
  pc.addEventListener('connectionstatechange', check)
  check()
})

const event = async (target: EventTarget, name: string): Promise<void> => new Promise(resolve => { target.addEventListener(name, () => { resolve() }, { once: true }) })

/**
 * One dial. `answerWhen` decides when the answer reaches the dialer: at once,
 * or only once the answerer's ICE is connected (forcing the race stock leaves
 * open) or its candidate gathering is complete.
 */
async function trial (PeerConnection: PeerConnectionClass, answerWhen: (answerer: RTCPeerConnection) => Promise<void>, mangleAnswer = (sdp: string) => sdp, answererCandidatesWhen?: (answerer: RTCPeerConnection) => Promise<void>): Promise<Trial> {
  const dialer = new PeerConnection({ iceServers: [] }) as unknown as RTCPeerConnection
  const answerer = new RTCPeerConnection({ iceServers: [] }) as unknown as RTCPeerConnection
  try {
    const init = dialer.createDataChannel('init')
    let initOpened = false
    init.addEventListener('open', () => { initOpened = true })
    let answerApplied = false
    let answererReady = false
    let candidatesBeforeAnswer = 0
    let answererIceBeforeAnswer = false
    let candidatesBeforeDialerIce = 0
    let dialerIce = false
    let answererIceFirst = false
    const iceUp = (pc: RTCPeerConnection): boolean => pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed'
    dialer.addEventListener('iceconnectionstatechange', () => { if (iceUp(dialer)) { dialerIce = true } })
    answerer.addEventListener('iceconnectionstatechange', () => { if (iceUp(answerer) && !dialerIce && !iceUp(dialer)) { answererIceFirst = true } })
    const toAnswerer: RTCIceCandidateInit[] = []
    const toDialer: RTCIceCandidateInit[] = []
    answerer.addEventListener('iceconnectionstatechange', () => {
      if (answerer.iceConnectionState === 'connected' && !answerApplied) { answererIceBeforeAnswer = true }
    })
    dialer.onicecandidate = ({ candidate }) => {
      if (candidate?.candidate == null || candidate.candidate === '') { return }
      const c = candidate.toJSON()
      wire(() => {
        if (!answerApplied) { candidatesBeforeAnswer++ }
        if (!dialerIce && !iceUp(dialer)) { candidatesBeforeDialerIce++ }
        if (answererReady) { void answerer.addIceCandidate(c).catch(() => {}) } else { toAnswerer.push(c) }
      })
    }
    answerer.onicecandidate = ({ candidate }) => {
      if (candidate?.candidate == null || candidate.candidate === '') { return }
      const c = candidate.toJSON()
      wire(() => { if (answerApplied && answererCandidatesWhen == null) { void dialer.addIceCandidate(c).catch(() => {}) } else { toDialer.push(c) } })
    }
    const offer = await dialer.createOffer()
    await dialer.setLocalDescription(offer)
    await new Promise<void>(resolve => { wire(resolve) })
    await answerer.setRemoteDescription(offer)
    const answer = await answerer.createAnswer()
    await answerer.setLocalDescription(answer)
    answererReady = true
    for (const c of toAnswerer.splice(0)) { await answerer.addIceCandidate(c).catch(() => {}) }
    await answerWhen(answerer)
    // the getter can be ahead of the event
    if (answerer.iceConnectionState === 'connected') { answererIceBeforeAnswer = true }
    await dialer.setRemoteDescription({ type: 'answer', sdp: mangleAnswer(answer.sdp ?? '') })
    answerApplied = true
    if (answererCandidatesWhen != null) { await answererCandidatesWhen(answerer) }
    for (const c of toDialer.splice(0)) { await dialer.addIceCandidate(c).catch(() => {}) }
    const state = await settled(dialer)
    if (state === 'connected' && !initOpened) { await event(init, 'open') }
    // as @libp2p/webrtc's dialer does once connected: the dial is done
    if (state === 'connected') { init.close() }
    return { answererIceBeforeAnswer, candidatesBeforeAnswer, candidatesBeforeDialerIce, answererIceFirst, dialer: state, initOpened }
  } finally {
    dialer.close()
    answerer.close()
  }
}

const iceConnected = async (pc: RTCPeerConnection): Promise<void> => {
  if (pc.iceConnectionState !== 'connected') {
    await new Promise<void>(resolve => {
      pc.addEventListener('iceconnectionstatechange', () => { if (pc.iceConnectionState === 'connected') { resolve() } })
    })
  }
}

const gatheringComplete = async (pc: RTCPeerConnection): Promise<void> => {
  if (pc.iceGatheringState !== 'complete') {
    await new Promise<void>(resolve => {
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { resolve() } })
    })
  }
}

const TRIALS = 5

describe('dial guard (real node-datachannel peer connections)', () => {
  it('unguarded: the answerer finishes ICE (and starts DTLS) before the dialer has the answer — the race', async () => {
    // the answer is held back until the answerer's ICE is connected; that can only
    // happen because the dialer's candidates reached it first
    const t = await trial(RTCPeerConnection, iceConnected)
    assert.ok(t.candidatesBeforeAnswer > 0, 'stock trickles the dialer candidates before the answer is back')
    assert.equal(t.answererIceBeforeAnswer, true)
  })

  it('guarded: no dialer candidate leaves before the answer is applied, so the answerer cannot finish ICE first', async () => {
    const before = dialGuardStats()
    for (let i = 0; i < TRIALS; i++) {
      // give the answerer every chance: the answer is held until it has gathered all its candidates
      const t = await trial(GuardedPeerConnection, gatheringComplete)
      assert.equal(t.candidatesBeforeAnswer, 0)
      assert.equal(t.answererIceBeforeAnswer, false)
      assert.equal(t.dialer, 'connected')
      assert.equal(t.initOpened, true)
    }
    const after = dialGuardStats()
    assert.equal(after.dials - before.dials, TRIALS)
    assert.ok(after.candidatesHeld > before.candidatesHeld, 'candidates were held, then sent')
  })

  it('candidates released with the answer: the answerer\'s own checks can finish its ICE (and start DTLS) before the dialer\'s ICE — the replay stall', async () => {
    // the dialer is slow to check (the answerer's candidates reach it only once the answerer's ICE is connected)
    const t = await trial(AnswerReleasePeerConnection, async () => {}, undefined, iceConnected)
    assert.ok(t.candidatesBeforeDialerIce > 0)
    assert.equal(t.answererIceFirst, true)
    assert.equal(t.dialer, 'connected')
  })

  it('guarded: the dialer\'s candidates wait for its own ICE, so the answerer finishes ICE on the dialer\'s checks, after it', async () => {
    const before = dialGuardStats()
    for (let i = 0; i < TRIALS; i++) {
      const t = await trial(GuardedPeerConnection, async () => {})
      assert.equal(t.candidatesBeforeDialerIce, 0)
      assert.equal(t.answererIceFirst, false)
      assert.equal(t.dialer, 'connected')
    }
    const after = dialGuardStats()
    assert.equal(after.releasedOnIce - before.releasedOnIce, TRIALS)
    assert.equal(after.releasedOnTimeout - before.releasedOnTimeout, 0)
  })

  it('guarded: a dialer whose ICE does not connect releases its candidates after the hold timeout', async () => {
    const before = dialGuardStats()
    // the dialer gets no answerer candidates until the answerer's ICE is up, which needs the dialer's candidates
    const t = await trial(GuardedPeerConnection, async () => {}, undefined, iceConnected)
    assert.equal(t.dialer, 'connected')
    assert.equal(dialGuardStats().releasedOnTimeout - before.releasedOnTimeout, 1)
  })

  it('guarded: a dial whose DTLS fails (wrong fingerprint) fails at the dialer\'s next step with a named error', async () => {
    const before = dialGuardStats()
    const wrongFingerprint = (sdp: string): string => sdp.replace(/a=fingerprint:sha-256 ([0-9A-F:]+)/i, (_m, fp: string) => `a=fingerprint:sha-256 ${fp.split(':').map(() => '00').join(':')}`)
    const dialer = new GuardedPeerConnection({ iceServers: [] }) as unknown as RTCPeerConnection
    const init = dialer.createDataChannel('init')
    let opens = 0
    init.addEventListener('open', () => { opens++ })
    const answerer = new RTCPeerConnection({ iceServers: [] }) as unknown as RTCPeerConnection
    try {
      dialer.onicecandidate = ({ candidate }) => { if (candidate?.candidate != null && candidate.candidate !== '') { const c = candidate.toJSON(); wire(() => { void answerer.addIceCandidate(c).catch(() => {}) }) } }
      answerer.onicecandidate = ({ candidate }) => { if (candidate?.candidate != null && candidate.candidate !== '') { const c = candidate.toJSON(); wire(() => { void dialer.addIceCandidate(c).catch(() => {}) }) } }
      const offer = await dialer.createOffer()
      await dialer.setLocalDescription(offer)
      await answerer.setRemoteDescription(offer)
      const answer = await answerer.createAnswer()
      await answerer.setLocalDescription(answer)
      await dialer.setRemoteDescription({ type: 'answer', sdp: wrongFingerprint(answer.sdp ?? '') })
      // @libp2p/webrtc's dialer: wait for connected or failed (it swallows `failed`),
      // then look at the init channel and wait for it to open
      const state = await settled(dialer)
      assert.ok(state === 'failed' || state === 'closed', `the dialer's peer connection is ${state}`)
      await assert.rejects(async () => {
        if (init.readyState !== 'open') { await event(init, 'open') }
        init.close()
      }, { name: 'PeerConnectionFailedError' })
      assert.equal(dialGuardStats().failedFast - before.failedFast, 1)
      assert.ok(opens >= 1, 'a dialer waiting for open is released to fail')
    } finally {
      dialer.close()
      answerer.close()
    }
  })

  it('names the error of a stream channel that closes before it opens (what @libp2p/webrtc aborts the stream with)', async () => {
    /** A channel shaped like RTCDataChannel whose state the test drives */
    class TestChannel extends EventTarget {
      state: RTCDataChannelState = 'connecting'
      get readyState (): RTCDataChannelState { return this.state }
      close (): void {}
    }
    class PeerConnection extends EventTarget {
      connectionState = 'connecting'
      signalingState = 'have-local-offer'
      onicecandidate = null
      createDataChannel (): TestChannel { return new TestChannel() }
      async setRemoteDescription (): Promise<void> {}
    }
    installDialGuard(PeerConnection)
    const before = dialGuardStats()
    const pc = new PeerConnection()
    const early = pc.createDataChannel()
    const late = pc.createDataChannel()
    // @libp2p/webrtc's stream: pEvent(channel, 'open', { rejectionEvents: ['close', 'error'] }), then abort(err.error ?? err)
    const reason = new Promise<unknown>(resolve => { early.addEventListener('close', (evt) => { resolve((evt as Event & { error?: unknown }).error ?? evt) }) })
    early.state = 'closed'
    early.dispatchEvent(new Event('close'))
    const err = await reason
    assert.ok(err instanceof Error)
    assert.equal(err.name, 'DataChannelClosedError')
    // a channel that opened and then closed is a normal close: no error attached
    const normal = new Promise<unknown>(resolve => { late.addEventListener('close', (evt) => { resolve((evt as Event & { error?: unknown }).error) }) })
    late.state = 'open'
    late.dispatchEvent(new Event('open'))
    late.state = 'closed'
    late.dispatchEvent(new Event('close'))
    assert.equal(await normal, undefined)
    assert.equal(dialGuardStats().channelsClosedEarly - before.channelsClosedEarly, 1)
  })

  it('patches a class once', () => {
    class PeerConnection extends RTCPeerConnection {}
    assert.equal(installDialGuard(PeerConnection), true)
    assert.equal(installDialGuard(PeerConnection), false)
    assert.equal(installDialGuard(undefined), false)
  })
})
