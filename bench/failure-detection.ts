import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { startMember, stopAll, tcpAddress } from '../test/fixtures/nodes.js'
import { waitFor } from '../test/fixtures/wait.js'
import { metric, percentile } from './metric.js'
import type { BenchOptions, Metric } from './metric.js'
import type { Membrane } from '../src/index.js'

const SCRIPT = fileURLToPath(new URL('../test/fixtures/member-process.js', import.meta.url))
/** The stock connection monitor pings every 10 s; a frozen peer is found within two rounds */
const BOUND = 60_000

/**
 * A member process linked over TCP to three in-process members is frozen
 * (SIGSTOP: silent, its sockets stay open), as a killed tab or a pulled cable
 * looks over WebRTC. Measured from the freeze: until both members running the
 * keep-alive closed their links to it (failure.silent.detect.s) and dropped it
 * from their maps (failure.silent.maps.s); the stock figure is the third
 * member, whose keep-alive deadline is an hour, so only libp2p's default connection
 * monitor can close its link.
 */
async function sample (a: Membrane, b: Membrane, stock: Membrane): Promise<{ detect: number, maps: number, stock: number | null }> {
  const child = spawn(process.execPath, [SCRIPT, ...[a, b, stock].map(tcpAddress)], { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const [line] = await once(createInterface({ input: child.stdout }), 'line') as [string]
    const id = peerIdFromString((JSON.parse(line) as { peerId: string }).peerId)
    await waitFor(() => [a, b].every(n => n.services.networkMap.neighbours(id).some(p => p.equals(n.peerId))) && stock.getConnections(id).length > 0, 'the child is linked and mapped', BOUND)
    const started = Date.now()
    child.kill('SIGSTOP')
    let detect: number | undefined
    let maps: number | undefined
    let stockAt: number | undefined
    await waitFor(() => {
      const now = Date.now()
      if (detect == null && [a, b].every(n => n.getConnections(id).length === 0)) { detect = now - started }
      if (maps == null && [a, b].every(n => n.services.networkMap.get(id) == null)) { maps = now - started }
      if (stockAt == null && stock.getConnections(id).length === 0) { stockAt = now - started }
      return detect != null && maps != null && stockAt != null
    }, 'the frozen child is dropped', BOUND, 25).catch(() => {})
    return { detect: (detect ?? NaN) / 1000, maps: (maps ?? NaN) / 1000, stock: stockAt == null ? null : stockAt / 1000 }
  } finally {
    child.kill('SIGKILL')
  }
}

export async function failureDetectionBench (options: BenchOptions): Promise<Metric[]> {
  const samples = options.quick ? 3 : 8
  // the stock side's keep-alive never judges (an hour's deadline): only libp2p's connection monitor closes its link
  const [a, b, stock] = await Promise.all([startMember(undefined), startMember(undefined), startMember(undefined, { keepAlive: { silenceTimeout: 3_600_000 } })])
  try {
    await a.dial(multiaddr(tcpAddress(b)))
    const results = []
    for (let i = 0; i < samples; i++) {
      results.push(await sample(a, b, stock))
    }
    const detect = results.map(r => r.detect).filter(Number.isFinite)
    const maps = results.map(r => r.maps).filter(Number.isFinite)
    const stocks = results.map(r => r.stock).filter((s): s is number => s != null)
    const extra = { transport: 'tcp-loopback, child process frozen with SIGSTOP', samples, stock_is: 'libp2p connection monitor defaults (ping every 10 s), keep-alive deadline 1 h', missed: results.filter(r => !Number.isFinite(r.detect)).length }
    return [
      metric('failure.silent.detect.s', 's', percentile(detect, 100), stocks.length === samples ? percentile(stocks, 100) : null, samples, { ...extra, stat: 'max over samples', p50: percentile(detect, 50), stock_p50: percentile(stocks, 50), goal: '<= 5 s' }),
      metric('failure.silent.maps.s', 's', percentile(maps, 100), null, samples, { ...extra, stat: 'max over samples', p50: percentile(maps, 50), goal: 'detect + <= 2 s' })
    ]
  } finally {
    await stopAll(a, b, stock)
  }
}
