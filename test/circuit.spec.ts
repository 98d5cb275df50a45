import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { CIRCUIT_PROTOCOL, isCircuitAddress } from '../src/index.js'
import { startLine } from './fixtures/line.js'
import { startBootstrap, stopAll, tcpAddress } from './fixtures/nodes.js'
import { delay, waitFor } from './fixtures/wait.js'
import { multiaddr } from '@multiformats/multiaddr'
import type { Membrane } from '../src/index.js'
import type { Connection } from '@libp2p/interface'
import type { BootstrapPeer } from '../src/bootstrap/index.js'

/**
 * End a test's link: close it, and abort it if the close does not finish
 * (closing a WebRTC connection waits on its data channels, a stock timeout)
 */
async function closeLink (connection: Connection): Promise<void> {
  await connection.close({ signal: AbortSignal.timeout(5_000) }).catch((err: Error) => { connection.abort(err) })
}

/** Say which step failed */
async function labelled <T> (step: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise
  } catch (err) {
    throw new Error(`${step}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err })
  }
}

describe('connect(): peer-signaled WebRTC over mesh circuits', () => {
  let boot: BootstrapPeer
  let line: Membrane[]

  before(async () => {
    // first contact through a bootstrap peer, then a line 0–1–2–3–4–5 that is the only possible topology
    boot = await startBootstrap()
    line = await startLine(6, [], [boot.peerId])
    for (const node of line) {
      await node.dial(multiaddr(tcpAddress(boot)))
      // stay under libp2p's inbound connection rate limit per host (5/s)
      await delay(250)
    }
    await boot.stop()
    await waitFor(() => line.every(n => n.getConnections(boot.peerId).length === 0), 'bootstrap gone')
  })

  after(async () => {
    await stopAll(...line, boot)
  })

  it('the gater allows only adjacent TCP links', async () => {
    await assert.rejects(line[0].dial(multiaddr(tcpAddress(line[2]))))
    assert.equal(line[0].getConnections(line[2].peerId).length, 0)
  })

  /** Nothing connect() opened is left: no circuit at the opener, no slot at any hop, no signaling stream */
  const assertNothingLeft = async (a: Membrane, d: Membrane): Promise<void> => {
    await waitFor(() => a.getConnections(d.peerId).every(c => !isCircuitAddress(c.remoteAddr)), 'the circuit closed', 15_000)
    await waitFor(() => line.every(n => n.services.meshCircuits.stats().circuits === 0), 'every hop released the circuit', 15_000)
    const leftover = (): string[] => line.flatMap(n => n.getConnections().flatMap(c => c.streams))
      .filter(s => s.protocol === '/webrtc-signaling/0.0.1' || s.protocol === CIRCUIT_PROTOCOL)
      .map(s => `${s.protocol} ${s.status}`)
    await waitFor(() => leftover().length === 0, 'no signaling or circuit stream left on any link', 15_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${leftover().join(', ')}`)
    })
  }

  for (const hops of [1, 2, 3, 4]) {
    it(`usable at once over a ${hops}-hop circuit, then upgraded to a direct WebRTC link signaled by the hops, with the bootstrap peer gone`, async () => {
      const a = line[0]
      const d = line[hops + 1]
      const intermediaries = line.slice(1, hops + 1)
      const forwardedBefore = intermediaries.map(n => n.services.meshCircuits.stats().forwarded)
      const events: string[] = []
      const attempts: number[] = []
      const times: number[] = []
      const result = await a.services.meshCircuits.connect(d.peerId, {
        route: intermediaries.map(n => n.peerId),
        onProgress: (evt) => {
          const detail = evt.detail as { attempt?: number, time?: number } | undefined
          if (['route', 'circuit', 'noise', 'signaling', 'webrtc'].includes(evt.type)) {
            events.push(evt.type)
            times.push(detail?.time ?? Number.NaN)
          }
          if (evt.type === 'signaling') {
            attempts.push(detail?.attempt ?? 0)
          }
        }
      })
      // usable now: an end-to-end encrypted, unlimited circuit
      assert.equal(result.kind, 'circuit')
      assert.ok(isCircuitAddress(result.connection.remoteAddr))
      assert.equal(result.connection.limits, undefined)
      assert.ok(result.connection.remotePeer.equals(d.peerId))
      await labelled('ping over the circuit', a.services.ping.ping(d.peerId))

      const upgraded = await result.upgrade
      assert.equal(upgraded.kind, 'webrtc', `upgraded (${upgraded.webrtcError?.message ?? ''})`)
      assert.ok(WebRTC.exactMatch(upgraded.connection.remoteAddr), `direct WebRTC address, got ${upgraded.connection.remoteAddr}`)
      assert.ok(upgraded.connection.remotePeer.equals(d.peerId))
      // exact order, allowing for retries: each attempt signals once, numbered 1, 2, …; the last one connects
      assert.match(events.join(','), /^route,circuit,noise,signaling(,signaling)*,webrtc$/)
      assert.deepEqual(attempts, attempts.map((_, i) => i + 1))
      // every event carries its time, in order
      assert.ok(times.every((t, i) => Number.isFinite(t) && (i === 0 || t >= times[i - 1])), `timestamps ${times.join(',')}`)
      // every intermediary forwarded exactly one circuit: the signaling went through them
      assert.deepEqual(intermediaries.map(n => n.services.meshCircuits.stats().forwarded), forwardedBefore.map(f => f + 1))
      // new streams take the direct link; the circuit closes once drained
      await assertNothingLeft(a, d)
      await labelled('ping over the WebRTC link', a.services.ping.ping(d.peerId))
      assert.ok(a.getConnections(d.peerId).every(c => WebRTC.exactMatch(c.remoteAddr)), 'only the WebRTC link remains')
      await closeLink(upgraded.connection)
    })
  }

  it('waitForDirect resolves with the WebRTC link, as before', async () => {
    const [a, b, c] = line
    const result = await a.services.meshCircuits.connect(c.peerId, { route: [b.peerId], waitForDirect: true })
    assert.equal(result.kind, 'webrtc')
    assert.ok(WebRTC.exactMatch(result.connection.remoteAddr))
    assert.equal(await result.upgrade.then(r => r.connection), result.connection)
    await assertNothingLeft(a, c)
    await closeLink(result.connection)
  })

  it('relay: false makes a direct link only, over a signaling circuit it closes', async () => {
    const [a, b, c] = line
    const result = await a.services.meshCircuits.connect(c.peerId, { route: [b.peerId], relay: false })
    assert.equal(result.kind, 'webrtc')
    await assertNothingLeft(a, c)
    await closeLink(result.connection)
  })

  it('a link hung up while connect() upgrades it leaves no WebRTC link behind: the upgrade is called off', async () => {
    const [a, b, c] = line
    let hungUp: Promise<void> | undefined
    const result = await a.services.meshCircuits.connect(c.peerId, {
      route: [b.peerId],
      onProgress: (evt) => {
        // the SDP answer is applied: ICE runs on, and without the call-off it could still connect after
        // the circuit under it is gone (the DM bench saw that link appear after hangUp, kept by both ends)
        if (evt.type === 'webrtc:read-ice-candidates' && hungUp == null) {
          hungUp = a.hangUp(c.peerId)
        }
      }
    })
    assert.equal(result.kind, 'circuit')
    const upgraded = await result.upgrade
    assert.ok(hungUp != null, 'the upgrade reached ICE before it settled')
    await hungUp
    assert.notEqual(upgraded.kind, 'webrtc', 'the upgrade connected after the hang-up')
    assert.equal(upgraded.webrtcError?.name, 'CircuitRefusedError', upgraded.webrtcError?.message)
    await waitFor(() => a.getConnections(c.peerId).length === 0 && c.getConnections(a.peerId).length === 0, 'neither end holds a link to the other', 15_000)
      .catch((err: Error) => {
        const held = [...a.getConnections(c.peerId), ...c.getConnections(a.peerId)].map(x => `${x.remoteAddr.toString()} ${x.status}`)
        throw new Error(`${err.message}: ${held.join(', ')}`)
      })
    await assertNothingLeft(a, c)
  })
})

describe('connect(): relay fallback when the target has no WebRTC', () => {
  let line: Membrane[]
  const ECHO = '/test/echo/1.0.0'

  before(async () => {
    line = await startLine(3, [{}, {}, { noWebRTC: true }])
    await line[2].handle(ECHO, async (stream) => {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) {
          await stream.onDrain()
        }
      }
      await stream.close()
    })
  })

  after(async () => {
    await stopAll(...line)
  })

  it('keeps an end-to-end encrypted relay circuit, says so, carries data both ways, and the hop sees only ciphertext', async () => {
    const [a, b, z] = line
    const { connection, kind, upgrade } = await a.services.meshCircuits.connect(z.peerId, { route: [b.peerId] })
    assert.equal(kind, 'circuit')
    const upgraded = await upgrade
    assert.equal(upgraded.kind, 'circuit', 'the circuit stays')
    assert.equal(upgraded.connection, connection)
    assert.ok(upgraded.webrtcError instanceof Error && upgraded.webrtcError.name !== '', 'the WebRTC failure is reported as a named Error')
    assert.ok(isCircuitAddress(connection.remoteAddr))
    assert.equal(connection.limits, undefined, 'relay circuits are full connections')
    assert.ok(connection.remotePeer.equals(z.peerId))
    assert.equal(connection.encryption, '/noise')

    // record every byte the hop forwards on its circuit streams from now on
    const forwarded: Uint8Array[] = []
    for (const conn of [...b.getConnections(a.peerId), ...b.getConnections(z.peerId)]) {
      for (const s of conn.streams.filter(s => s.protocol === CIRCUIT_PROTOCOL && s.status === 'open')) {
        s.addEventListener('message', (evt) => { forwarded.push(evt.data.subarray()) })
      }
    }
    const secret = 'membrane-plaintext-secret-'.repeat(40)
    const stream = await connection.newStream(ECHO)
    const echoed: Uint8Array[] = []
    stream.addEventListener('message', (evt) => { echoed.push(evt.data.subarray()) })
    stream.send(new TextEncoder().encode(secret))
    await waitFor(() => echoed.reduce((n, c) => n + c.byteLength, 0) >= secret.length, 'echo arrives', 10_000)
    assert.equal(new TextDecoder().decode(Buffer.concat(echoed)), secret)
    await stream.close()

    const seen = Buffer.concat(forwarded)
    assert.ok(seen.byteLength > 2 * secret.length, `the hop forwarded the data both ways (${seen.byteLength} bytes)`)
    assert.equal(seen.indexOf('membrane-plaintext-secret'), -1, 'plaintext never crosses the hop')
    // exactly one circuit: the one connect() returned
    assert.equal(b.services.meshCircuits.stats().circuits, 1)
    assert.equal(b.services.meshCircuits.stats().relayCircuits, 1)
    assert.equal(a.getConnections(z.peerId).filter(c => isCircuitAddress(c.remoteAddr)).length, 1)
    await connection.close()
    await waitFor(() => b.services.meshCircuits.stats().circuits === 0, 'hop released the relay circuit', 10_000)
    assert.equal(a.getConnections(z.peerId).length, 0)
  })

  it('without a route, takes the map\'s path once and keeps it: the circuit stays as the link', async () => {
    const [a, , z] = line
    // through B: once the circuit of the test before has left both records
    await waitFor(() => a.services.networkMap.path(z.peerId)?.length === 3, 'the map routes A to Z through B', 20_000)
    const routes: string[] = []
    const result = await a.services.meshCircuits.connect(z.peerId, {
      onProgress: (evt) => { if (evt.type === 'route') { routes.push(String((evt.detail as { route?: unknown[] }).route?.length)) } }
    })
    assert.equal(result.kind, 'circuit')
    const upgraded = await result.upgrade
    assert.equal(upgraded.kind, 'circuit')
    assert.deepEqual(routes, ['3'], 'one route, read before any circuit opened')
    const stream = await upgraded.connection.newStream(ECHO)
    await stream.close()
    await upgraded.connection.close()
    await waitFor(() => line.every(n => n.services.meshCircuits.stats().circuits === 0), 'every hop released the circuit', 10_000)
  })

  it('reports a typed error when WebRTC fails and the relay fallback is disabled', async () => {
    const [a, b, z] = line
    await assert.rejects(a.services.meshCircuits.connect(z.peerId, { route: [b.peerId], relay: false }), { name: 'WebRTCUpgradeError' })
    await waitFor(() => b.services.meshCircuits.stats().circuits === 0, 'hop released the signaling circuit', 10_000)
    await waitFor(() => a.getConnections(z.peerId).length === 0, 'the opener closed it', 10_000)
  })
})
