/**
 * Node members behind real Linux NATs (network namespaces + nft): connect()
 * yields a working link, direct messages and broadcasts flow both ways, and
 * keep flowing after the bootstrap peer is stopped. The members configure no
 * ICE server: STUN and TURN come from the bootstrap peer they reached.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, it } from 'node:test'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLab, INET_HOST } from './lab.js'
import { CliBootstrap, NodePeer, startCoturn } from './peers.js'
import { BOOTSTRAP_PORT, BOOTSTRAP_STUN_PORT, bootstrapAddr, runScenario, startBootstrap, startMember, WAIT } from './scenario.js'
import type { Lab, NatKind } from './lab.js'
import type { ConnectSummary } from './peer-process.js'
import type { Coturn, LabPeer } from './peers.js'

interface Running { lab?: Lab, peers: LabPeer[], coturn?: Coturn, dirs: string[] }

describe('NAT lab: Node members behind Linux NATs', () => {
  let running: Running = { peers: [], dirs: [] }

  afterEach(async () => {
    for (const peer of running.peers) {
      await peer.close().catch(() => {})
    }
    await running.coturn?.close().catch(() => {})
    await running.lab?.close()
    for (const dir of running.dirs) {
      await rm(dir, { recursive: true, force: true })
    }
    running = { peers: [], dirs: [] }
  })

  /** The lab, coturn (TURN only when `turn`), the bootstrap peer and a member behind each NAT */
  async function scenario (nats: { a: NatKind, b: NatKind }, options: { turn?: boolean } = {}): Promise<ConnectSummary & { ice: string[] }> {
    const lab = await createLab(nats)
    running.lab = lab
    const secret = randomBytes(16).toString('hex')
    const coturn = await startCoturn(lab, secret)
    running.coturn = coturn
    let boot: { peer: LabPeer, info: { peerId: string, addrs: string[] } }
    if (options.turn === true) {
      // as an operator runs it: the CLI, with coturn's secret in a file
      const dir = await mkdtemp(join(tmpdir(), 'membrane-turn-'))
      running.dirs.push(dir)
      const secretFile = join(dir, 'secret')
      await writeFile(secretFile, `${secret}\n`, { mode: 0o600 })
      const cli = await CliBootstrap.start(lab, ['--host', INET_HOST, '--port', String(BOOTSTRAP_PORT), '--webrtc-direct-port', 'off',
        '--stun-port', String(BOOTSTRAP_STUN_PORT), '--turn-url', coturn.turnUrl, '--turn-secret-file', secretFile])
      boot = { peer: cli, info: cli.info }
    } else {
      boot = await startBootstrap(lab)
    }
    running.peers.push(boot.peer)
    const a = new NodePeer(lab, lab.ns.a, 'member a')
    const b = new NodePeer(lab, lab.ns.b, 'member b')
    running.peers.push(a, b)
    const bootstrap = [bootstrapAddr(boot.info, 'tcp')]
    const [aId, bId] = await Promise.all([startMember(a, { bootstrap }), startMember(b, { bootstrap })])
    const [ice] = await Promise.all([a.call<string[]>('waitForIceServers', options.turn === true, WAIT), b.call('waitForIceServers', options.turn === true, WAIT)])
    const { connect } = await runScenario(boot, a, aId, b, bId)
    return { ...connect, ice }
  }

  it('cone/cone with the bootstrap peer\'s STUN: a direct WebRTC link', async (t) => {
    const result = await scenario({ a: 'cone', b: 'cone' })
    t.diagnostic(`ICE servers ${result.ice.join(' ')}; connect(): usable (${result.usableKind}) in ${result.usableMs} ms, ${result.kind} after ${result.ms} ms`)
    assert.equal(result.kind, 'webrtc')
    assert.equal(await running.coturn?.allocations(), 0, 'nothing used TURN')
  })

  it('symmetric/symmetric with TURN credentials from the bootstrap CLI (--turn-url, --turn-secret-file): WebRTC relayed by coturn', async (t) => {
    const result = await scenario({ a: 'symmetric', b: 'symmetric' }, { turn: true })
    const allocations = await running.coturn?.allocations()
    t.diagnostic(`ICE servers ${result.ice.join(' ')}; connect(): usable (${result.usableKind}) in ${result.usableMs} ms, ${result.kind} after ${result.ms} ms, ${allocations} TURN allocations`)
    assert.equal(result.kind, 'webrtc')
    assert.ok((allocations ?? 0) > 0, 'coturn granted TURN allocations')
  })
})
