import { startLine } from '../test/fixtures/line.js'
import { mapProblems, meshProblems, startMesh, untilBroadcastReachesAll } from '../test/fixtures/mesh.js'
import { stopAll } from '../test/fixtures/nodes.js'
import { waitFor } from '../test/fixtures/wait.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { TopologyActionEvent } from '../src/topology/index.js'

const TOPIC = 'bench-topology'
const MIN_PEERS = 3
const MAX_PEERS = 6
/** Bounds on each phase; a bench that does not recover reports null, not a number */
const SETTLE_BOUND = 180_000
const RECOVERY_BOUND = 180_000

/** Seconds until `predicate` holds, polled every 100 ms; null when it did not by `deadline` */
async function secondsUntil (started: number, deadline: number, predicate: () => boolean): Promise<number | null> {
  try {
    await waitFor(predicate, 'condition', Math.max(1, deadline - Date.now()), 100)
    return (Date.now() - started) / 1000
  } catch {
    return null
  }
}

/**
 * A cold start of `size` members (topology.settle.s: until degrees are in
 * bounds, the mesh is one component and no member holds a bootstrap link),
 * then 30 % killed at once with no goodbye, measured three ways from the
 * kill: a fresh broadcast reaches every survivor (recovery.delivery.s), every
 * survivor's map is exactly the survivors and all agree (recovery.maps.s),
 * and all of that plus degrees in bounds (recovery.kill30.s)
 */
async function recovery (size: number): Promise<Metric[]> {
  const coldStart = Date.now()
  const mesh = await startMesh({ size, minPeers: MIN_PEERS, maxPeers: MAX_PEERS, topic: TOPIC })
  const extra = { nodes: size, killed: Math.round(size * 0.3), min_peers: MIN_PEERS, max_peers: MAX_PEERS, transport: 'tcp-loopback (topology dials the TCP addresses the map lists)' }
  const out: Metric[] = []
  try {
    const nodes = mesh.members.map(m => m.node)
    const settled = await secondsUntil(coldStart, coldStart + SETTLE_BOUND, () => meshProblems(nodes, mesh.bootstrap, MIN_PEERS, MAX_PEERS).length === 0)
    out.push(metric('topology.settle.s', 's', settled, null, size, { ...extra, from: 'first member started', goal: '<= 20 s for 40-50 members' }))
    if (settled == null) {
      return out
    }
    const victims = new Set(mesh.members.slice().sort(() => Math.random() - 0.5).slice(0, extra.killed))
    const victimKeys = new Set([...victims].map(v => v.node.peerId.toString()))
    // where the survivors' new links go after the kill: to live members, or to victims still in their maps
    const adds = { live: 0, liveFailed: 0, victims: 0, lastToVictimS: 0, firstLiveS: null as number | null }
    const onAction = (evt: CustomEvent<TopologyActionEvent>): void => {
      const { action, peer, error } = evt.detail
      if (action !== 'add' && action !== 'bridge') { return }
      const at = (Date.now() - started) / 1000
      if (victimKeys.has(peer.toString())) {
        adds.victims++
        adds.lastToVictimS = at
      } else if (error != null) {
        adds.liveFailed++
      } else {
        adds.live++
        adds.firstLiveS ??= at
      }
    }
    const watched = mesh.members.filter(m => !victims.has(m)).map(m => m.node.services.topology)
    for (const topology of watched) { topology.addEventListener('action', onAction) }
    const started = Date.now()
    await Promise.all([...victims].map(async v => v.kill()))
    const survivors = mesh.members.filter(m => !victims.has(m)).map(m => m.node)
    const deadline = started + RECOVERY_BOUND
    // the highest member degree among the survivors, and the last moment one was above maxPeers (many adding the same member)
    let maxDegree = 0
    let lastAbove: number | undefined
    const sampler = setInterval(() => {
      const top = Math.max(...survivors.map(n => n.services.topology.neighbours().length))
      maxDegree = Math.max(maxDegree, top)
      if (top > MAX_PEERS) { lastAbove = Date.now() }
    }, 100)
    const [delivery, maps, healed] = await Promise.all([
      untilBroadcastReachesAll(survivors, TOPIC, deadline, 500).then(() => (Date.now() - started) / 1000, () => null),
      secondsUntil(started, deadline, () => mapProblems(survivors).length === 0),
      secondsUntil(started, deadline, () => meshProblems(survivors, mesh.bootstrap, MIN_PEERS, MAX_PEERS).length === 0 && mapProblems(survivors).length === 0)
    ]).finally(() => {
      clearInterval(sampler)
      for (const topology of watched) { topology.removeEventListener('action', onAction) }
    })
    out.push(metric('recovery.adds.to_victims', 'attempts', adds.victims, null, size, {
      ...extra,
      what: 'add/bridge attempts by survivors, after the kill and until healed or bound, whose target was a killed member (each fails)',
      last_to_victim_s: adds.lastToVictimS,
      live_ok: adds.live,
      live_failed: adds.liveFailed,
      first_live_ok_s: adds.firstLiveS
    }))
    out.push(metric('recovery.degree.max', 'links', maxDegree, null, size, { ...extra, sampled_ms: 100, until: 'healed or bound', above_max_until_s: lastAbove == null ? 0 : (lastAbove - started) / 1000 }))
    out.push(metric('recovery.delivery.s', 's', delivery, null, size, { ...extra, goal: '<= 3 s', probe_interval_ms: 500 }))
    out.push(metric('recovery.maps.s', 's', maps, null, size, { ...extra, goal: '<= 5 s' }))
    out.push(metric('recovery.kill30.s', 's', healed == null || delivery == null ? null : Math.max(healed, delivery), null, size, { ...extra, degrees_and_maps_s: healed }))
    return out
  } catch (err) {
    out.push(metric('recovery.kill30.s', 's', null, null, size, { ...extra, error: (err as Error).message }))
    return out
  } finally {
    await mesh.stop()
  }
}

/** Direct-message round trips over an existing link, and to a peer two hops away over a fresh connect() each time */
async function dmRoundTrips (samples: number): Promise<Metric[]> {
  // A–B–C: A holds a TCP link to B only, so each message to C needs a WebRTC link made through B
  const [a, b, c] = await startLine(3)
  try {
    await waitFor(() => a.services.networkMap.path(c.peerId) != null, 'A routes to C', 20_000)
    const payload = new Uint8Array(64)
    const existing: number[] = []
    // within the receiver's per-sender burst (50), so no sample waits on its rate limit
    for (let i = 0; i < Math.min(40, samples * 2); i++) {
      const t = performance.now()
      await a.services.directMessages.send(b.peerId, payload)
      existing.push(performance.now() - t)
    }
    const fresh: number[] = []
    const kinds = new Set<string>()
    for (let i = 0; i < samples; i++) {
      await a.hangUp(c.peerId)
      // the route must run through B again: wait until the map dropped the A–C edge
      await waitFor(() => a.getConnections(c.peerId).length === 0 && c.getConnections(a.peerId).length === 0 && a.services.networkMap.path(c.peerId)?.length === 3, 'A and C unlinked', 10_000)
      const t = performance.now()
      const result = await a.services.directMessages.send(c.peerId, payload)
      fresh.push(performance.now() - t)
      kinds.add(linkKind(result.connection.remoteAddr.toString()))
    }
    // the stock counterpart of a message over an existing link: libp2p ping on the same connection
    const pings: number[] = []
    for (let i = 0; i < Math.min(40, samples * 2); i++) {
      // libp2p's connection monitor may hold the one outbound ping stream this moment (TooManyOutboundProtocolStreamsError): skip that sample
      await a.services.ping.ping(b.peerId).then(ms => { pings.push(ms) }, () => {})
    }
    return [
      metric('dm.rtt.existing.p50', 'ms', percentile(existing, 50), percentile(pings, 50), existing.length, { transport: 'tcp-loopback', stock_is: 'libp2p ping on the same link' }),
      metric('dm.rtt.fresh.p50', 'ms', percentile(fresh, 50), null, fresh.length, { hops: 2, link: [...kinds].join(','), includes: 'connect() (circuit through B, WebRTC signaling, upgrade) + message + ack' })
    ]
  } finally {
    await stopAll(a, b, c)
  }
}

function linkKind (addr: string): string {
  if (addr.includes('/webrtc')) { return 'webrtc' }
  return addr.includes('membrane-circuit') ? 'circuit' : 'other'
}

export async function topologyRecoveryBench (options: BenchOptions): Promise<Metric[]> {
  // quick mode: 30 members instead of 50 (the metric's n and nodes say which)
  const size = options.quick ? 30 : 50
  const out = await recovery(size)
  // a failed direct-message step must not lose the recovery figures above: report it as null with its error
  out.push(...await dmRoundTrips(options.quick ? 5 : 15).catch((err: Error) => [
    metric('dm.rtt.fresh.p50', 'ms', null, null, 0, { error: err.message })
  ]))
  return out
}
