import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls'
import { multiaddr } from '@multiformats/multiaddr'
import { describeDialFailure } from '../src/utils/dial-error.js'
import { startStockTcpNode } from './fixtures/stock.js'
import { selfSignedCertificate } from './fixtures/tls.js'
import type { Libp2p } from '@libp2p/interface'
import type { Server } from 'node:net'

/** What a real dial threw */
async function failure (dial: () => Promise<unknown>): Promise<unknown> {
  try {
    await dial()
  } catch (err) {
    return err
  }
  assert.fail('the dial was expected to fail')
}

describe('describeDialFailure names the cause of a failed dial', () => {
  let node: Libp2p
  let closedPort: number
  let silent: Server
  let silentPort: number

  before(async () => {
    node = await startStockTcpNode()
    // a port nothing listens on: bind, note it, close
    const probe = createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    closedPort = (probe.address() as { port: number }).port
    await new Promise<void>(resolve => probe.close(() => { resolve() }))
    // accepts TCP but never speaks: the handshake waits until the deadline
    silent = createServer(() => {})
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    silentPort = (silent.address() as { port: number }).port
  })

  after(async () => {
    silent.close()
    await node.stop()
  })

  it('refused: a real libp2p dial to a closed port', async () => {
    const err = await failure(async () => node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${closedPort}/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN`)))
    assert.match(describeDialFailure(err), /^connection refused/)
  })

  it('timeout: a real libp2p dial to a peer that never answers', async () => {
    const err = await failure(async () => node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${silentPort}/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN`), { signal: AbortSignal.timeout(1_000) }))
    assert.match(describeDialFailure(err), /^timed out/)
  })

  it('TLS: a real TLS handshake with a certificate the client does not trust', async () => {
    const tls = selfSignedCertificate()
    const server = createTlsServer({ cert: tls.cert, key: tls.key }, (socket) => { socket.end() })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const err = await failure(async () => new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: (server.address() as { port: number }).port }, () => { socket.end(); resolve(undefined) })
        socket.once('error', reject)
      }))
      assert.match(describeDialFailure(err), /^TLS failed: .*certificate/i)
    } finally {
      server.close()
      tls.cleanup()
    }
  })

  it('a browser WebSocket failure (a bare error Event) says what it can, not "unknown error"', () => {
    assert.match(describeDialFailure(new Event('error'), '/ip4/127.0.0.1/tcp/9/ws'), /^connection failed: refused or unreachable \(the browser does not say which\)$/)
    assert.match(describeDialFailure(new Event('error'), '/dns4/boot.example.com/tcp/443/wss'), /TLS certificate not accepted/)
  })
})
