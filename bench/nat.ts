// NAT bench: Membrane connect() beside stock relay→WebRTC, between members behind real Linux NATs (test/nat's lab)
import { randomBytes } from 'node:crypto'
import { createLab, INET_HOST } from '../test/nat/lab.js'
import { NodePeer, startCoturn } from '../test/nat/peers.js'
import { BOOTSTRAP_PORT, BOOTSTRAP_STUN_PORT, bootstrapAddr } from '../test/nat/scenario.js'
import { turnCredentials } from '../src/turn/index.js'
import { metric, percentile } from './metric.js'
import type { NatKind } from '../test/nat/lab.js'
import type { ConnectSummary } from '../test/nat/peer-process.js'
import type { BootstrapInfo } from '../test/nat/scenario.js'
import type { BenchOptions, Metric } from './metric.js'

interface Scenario {
  name: string
  nats: { a: NatKind, b: NatKind }
  /** The bootstrap peer serves STUN */
  stun: boolean
  /** The bootstrap peer hands out TURN credentials for the lab's coturn */
  turn: boolean
  /** Whether a direct (or TURN-relayed) WebRTC link is possible for this NAT pair */
  webrtcPossible: boolean
}

const SCENARIOS: Scenario[] = [
  { name: 'cone-cone', nats: { a: 'cone', b: 'cone' }, stun: true, turn: false, webrtcPossible: true },
  { name: 'cone-cone-nostun', nats: { a: 'cone', b: 'cone' }, stun: false, turn: false, webrtcPossible: false },
  { name: 'cone-symmetric', nats: { a: 'cone', b: 'symmetric' }, stun: true, turn: false, webrtcPossible: false },
  { name: 'symmetric-symmetric', nats: { a: 'symmetric', b: 'symmetric' }, stun: true, turn: false, webrtcPossible: false },
  { name: 'symmetric-symmetric-turn', nats: { a: 'symmetric', b: 'symmetric' }, stun: true, turn: true, webrtcPossible: true }
]

/** Longest a Membrane connect() or a stock dial may take in one trial */
const TRIAL_TIMEOUT = 30_000
const STOCK_DIAL_TIMEOUT = 10_000
const WAIT = 30_000

interface Trial { ok: boolean, kind: string, ms: number, upgradeMs?: number, error?: string }

function kinds (trials: Trial[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const t of trials) {
    const k = t.ok ? t.kind : 'failed'
    out[k] = (out[k] ?? 0) + 1
  }
  return out
}

async function runScenario (scenario: Scenario, trials: number): Promise<Metric[]> {
  const lab = await createLab(scenario.nats)
  const secret = randomBytes(16).toString('hex')
  const peers: NodePeer[] = []
  const coturn = await startCoturn(lab, secret)
  try {
    const boot = new NodePeer(lab, lab.ns.inet, 'bootstrap')
    peers.push(boot)
    const info = await boot.call<BootstrapInfo>('startBootstrap', {
      host: INET_HOST,
      port: BOOTSTRAP_PORT,
      stunPort: scenario.stun ? BOOTSTRAP_STUN_PORT : false,
      turn: scenario.turn ? { urls: [coturn.turnUrl], secret } : undefined
    })
    const bootstrap = [bootstrapAddr(info, 'tcp')]

    // Membrane: no ICE server from the app, the bootstrap peer's only
    const a = new NodePeer(lab, lab.ns.a, 'member a')
    const b = new NodePeer(lab, lab.ns.b, 'member b')
    peers.push(a, b)
    const [aId, bId] = await Promise.all([a.call<string>('startMember', { bootstrap }), b.call<string>('startMember', { bootstrap })])
    if (scenario.stun || scenario.turn) {
      await Promise.all([a.call('waitForIceServers', scenario.turn, WAIT), b.call('waitForIceServers', scenario.turn, WAIT)])
    }
    await a.call('waitForPeer', bId, WAIT)
    const membrane: Trial[] = []
    for (let i = 0; i < trials; i++) {
      const started = Date.now()
      try {
        const r = await a.call<ConnectSummary>('connect', bId, TRIAL_TIMEOUT)
        // ms: until connect() returned a usable link; the kind it ended as once the upgrade settled
        membrane.push({ ok: true, kind: r.kind, ms: r.usableMs ?? r.ms, upgradeMs: r.ms })
      } catch (err) {
        membrane.push({ ok: false, kind: 'failed', ms: Date.now() - started, error: (err as Error).message.split('\n')[0] })
      }
      // the next trial starts from no link at either end
      await Promise.all([a.call('hangUp', bId, WAIT).catch(() => {}), b.call('hangUp', aId, WAIT).catch(() => {})])
    }
    await a.close()
    await b.close()

    // stock js-libp2p: relay→WebRTC through the bootstrap peer's relay, given the same servers by hand
    const ice: RTCIceServer[] = [
      ...(scenario.stun ? [{ urls: `stun:${INET_HOST}:${BOOTSTRAP_STUN_PORT}` }] : []),
      ...(scenario.turn ? [{ urls: coturn.turnUrl, ...(({ username, credential }) => ({ username, credential }))(turnCredentials(secret, 'stock', 3600)) }] : [])
    ]
    const sa = new NodePeer(lab, lab.ns.a, 'stock a')
    const sb = new NodePeer(lab, lab.ns.b, 'stock b')
    peers.push(sa, sb)
    const [saId, sbId] = await Promise.all([sa.call<string>('startStock', { bootstrap, iceServers: ice }), sb.call<string>('startStock', { bootstrap, iceServers: ice })])
    const sbAddr = await sb.call<string>('waitForStockAddress', WAIT)
    const stock: Trial[] = []
    for (let i = 0; i < trials; i++) {
      const started = Date.now()
      try {
        const r = await sa.call<ConnectSummary>('dialStock', sbAddr, STOCK_DIAL_TIMEOUT)
        stock.push({ ok: r.kind === 'webrtc', kind: r.kind, ms: r.ms })
      } catch {
        stock.push({ ok: false, kind: 'failed', ms: Date.now() - started })
      }
      await Promise.all([sa.call('hangUp', sbId, WAIT).catch(() => {}), sb.call('hangUp', saId, WAIT).catch(() => {})])
    }

    const ms = (ts: Trial[]): number | null => ts.some(t => t.ok) ? percentile(ts.filter(t => t.ok).map(t => t.ms), 50) : null
    const linked = (ts: Trial[]): number => ts.filter(t => t.ok).length / ts.length
    const extra = {
      nats: `${scenario.nats.a}/${scenario.nats.b}`,
      stun: scenario.stun,
      turn: scenario.turn,
      webrtc_possible: scenario.webrtcPossible,
      membrane_kinds: kinds(membrane),
      membrane_upgrade_settled_ms_p50: membrane.some(t => t.upgradeMs != null) ? percentile(membrane.flatMap(t => t.upgradeMs == null ? [] : [t.upgradeMs]), 50) : null,
      membrane_errors: [...new Set(membrane.flatMap(t => t.error == null ? [] : [t.error]))],
      stock_kinds: kinds(stock)
    }
    return [
      metric(`nat.${scenario.name}.ms`, 'ms (p50 of linked trials)', ms(membrane), ms(stock), trials, extra),
      metric(`nat.${scenario.name}.kind`, 'share of trials linked', linked(membrane), linked(stock), trials, extra)
    ]
  } finally {
    for (const peer of peers) {
      await peer.close().catch(() => {})
    }
    await coturn.close().catch(() => {})
    await lab.close()
  }
}

/**
 * `nat.<scenario>.ms` (p50 time to a usable link) and `nat.<scenario>.kind`
 * (share of trials that linked; the link kinds in `membrane_kinds` /
 * `stock_kinds`) for member pairs behind real Linux NATs, Membrane connect()
 * beside stock relay→WebRTC, in one lab run. Needs root, nft and coturn (as
 * the NAT lab): throws without them.
 */
export async function natBench ({ quick }: BenchOptions): Promise<Metric[]> {
  const trials = quick ? 3 : 10
  const out: Metric[] = []
  for (const scenario of SCENARIOS) {
    out.push(...await runScenario(scenario, trials))
  }
  return out
}
