/**
 * One lab scenario: a bootstrap peer on the lab's internet, a member behind
 * each NAT; `connect()` from a to b, then direct messages and broadcasts both
 * ways, then again after the bootstrap peer is stopped.
 */
import assert from 'node:assert/strict'
import { INET_HOST } from './lab.js'
import { NodePeer } from './peers.js'
import { waitFor } from '../fixtures/wait.js'
import type { CircuitStats, TurnInit } from '../../src/index.js'
import type { Lab } from './lab.js'
import type { ConnectSummary, MemberStart } from './peer-process.js'
import type { LabPeer } from './peers.js'

export const BOOTSTRAP_PORT = 4001
/** The bootstrap peer's STUN port (coturn has 3478 in the lab) */
export const BOOTSTRAP_STUN_PORT = 3479
/** Waits inside the lab processes: generous, they share two busy cores */
export const WAIT = 30_000

export interface BootstrapInfo { peerId: string, addrs: string[] }

export async function startBootstrap (lab: Lab, options: { stun?: boolean, turn?: TurnInit } = {}): Promise<{ peer: NodePeer, info: BootstrapInfo }> {
  const peer = new NodePeer(lab, lab.ns.inet, 'bootstrap')
  const info = await peer.call<BootstrapInfo>('startBootstrap', { host: INET_HOST, port: BOOTSTRAP_PORT, stunPort: options.stun === false ? false : BOOTSTRAP_STUN_PORT, turn: options.turn })
  return { peer, info }
}

/** The bootstrap peer's TCP address (Node members) or WebSockets address (pages) */
export function bootstrapAddr (info: BootstrapInfo, transport: 'tcp' | 'ws'): string {
  const addr = info.addrs.find(a => transport === 'ws' ? a.includes('/ws/') : /\/tcp\/\d+\/p2p\//.test(a))
  assert.ok(addr != null, `bootstrap peer has a ${transport} address: ${info.addrs.join(' ')}`)
  return addr
}

export async function startMember (peer: LabPeer, init: MemberStart): Promise<string> {
  return peer.call<string>('startMember', init)
}

/** Direct messages and broadcasts, each way, each checked on arrival */
export async function exchange (a: LabPeer, aId: string, b: LabPeer, bId: string, round: string): Promise<void> {
  await a.call('sendDirect', bId, `dm ${round} a→b`, WAIT)
  await b.call('waitForDirect', `dm ${round} a→b`, WAIT)
  await b.call('sendDirect', aId, `dm ${round} b→a`, WAIT)
  await a.call('waitForDirect', `dm ${round} b→a`, WAIT)
  await a.call('waitForSubscriber', bId, WAIT)
  await b.call('waitForSubscriber', aId, WAIT)
  await a.call('publish', `bc ${round} a→b`)
  await b.call('waitForBroadcast', `bc ${round} a→b`, WAIT)
  await b.call('publish', `bc ${round} b→a`)
  await a.call('waitForBroadcast', `bc ${round} b→a`, WAIT)
}

export interface ScenarioResult { connect: ConnectSummary }

/**
 * Run the scenario on members a and b (already started against `boot`):
 * returns what connect() gave
 */
export async function runScenario (boot: { peer: LabPeer, info: BootstrapInfo }, a: LabPeer, aId: string, b: LabPeer, bId: string): Promise<ScenarioResult> {
  try {
    return await steps(boot, a, aId, b, bId)
  } catch (err) {
    // what the peers logged last, to say why
    (err as Error).message += `\n--- ${a.label}:\n${a.log()}\n--- ${b.label}:\n${b.log()}`
    throw err
  }
}

async function steps (boot: { peer: LabPeer, info: BootstrapInfo }, a: LabPeer, aId: string, b: LabPeer, bId: string): Promise<ScenarioResult> {
  await a.call('waitForPeer', bId, WAIT)
  await b.call('waitForPeer', aId, WAIT)
  const connect = await a.call<ConnectSummary>('connect', bId, WAIT)
  if (connect.kind === 'webrtc') {
    // the signaling circuit is closed once the direct link is up
    await waitFor(async () => (await a.call<CircuitStats>('circuitStats')).circuits === 0 && (await b.call<CircuitStats>('circuitStats')).circuits === 0,
      'no mesh circuit left open at either end', WAIT)
  }
  await exchange(a, aId, b, bId, 'with bootstrap')
  await boot.peer.close()
  await a.call('waitForDisconnect', boot.info.peerId, WAIT)
  await b.call('waitForDisconnect', boot.info.peerId, WAIT)
  await exchange(a, aId, b, bId, 'after bootstrap stopped')
  return { connect }
}
