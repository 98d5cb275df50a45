/**
 * The ICE servers protocol (/membrane/ice/1.0.0) between real nodes over TCP
 * on loopback: members learn the bootstrap peer's STUN port and get TURN
 * credentials in coturn's REST scheme (proof-of-work first when the peer is
 * loaded); malformed, late and too frequent requests are refused.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { afterEach, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { ICE_PROTOCOL, iceConfiguration, iceServers, turnCredentials } from '../../src/index.js'
import { IceRequest, IceResponse } from '../../src/turn/pb/ice.js'
import { startBootstrap, startMember, stopAll, tcpAddress } from '../fixtures/nodes.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Membrane } from '../../src/index.js'
import type { Stream } from '@libp2p/interface'

const SECRET = 'lab-secret'
const TURN_URL = 'turn:127.0.0.1:3478?transport=udp'

describe('ICE servers from bootstrap peers', () => {
  let nodes: Array<BootstrapPeer | Membrane> = []

  afterEach(async () => {
    await stopAll(...nodes)
    nodes = []
  })

  async function bootstrapWith (serve: { maxRequestsPerPeer?: number, loaded?: boolean } = {}, requestTimeout?: number): Promise<BootstrapPeer> {
    const boot = await startBootstrap({
      // loaded from the first connection when the test asks for it; otherwise the default thresholds (this process's own load)
      ...(serve.loaded === true ? { load: { connections: 1 } } : {}),
      libp2p: {
        services: {
          // the bootstrap peer's own service, with test limits
          iceServers: iceServers({
            serve: { stunPort: () => boot.services.stunServer?.port, turn: { urls: [TURN_URL], secret: SECRET, ttl: 600 }, load: () => boot.services.loadMonitor.load(), maxRequestsPerPeer: serve.maxRequestsPerPeer },
            requestTimeout
          })
        }
      }
    })
    nodes.push(boot)
    return boot
  }

  it('a member gets the STUN server and TURN credentials coturn accepts', async () => {
    const boot = await bootstrapWith()
    const member = await startMember(boot)
    nodes.push(member)
    await waitFor(() => member.services.iceServers.servers().length === 2, 'STUN and TURN from the bootstrap peer')
    const [stun, turn] = member.services.iceServers.servers()
    assert.equal(stun.urls, `stun:127.0.0.1:${boot.services.stunServer?.port}`)
    assert.deepEqual(turn.urls, [TURN_URL])
    const [expiry, user] = String(turn.username).split(':')
    assert.equal(user, member.peerId.toString(), 'the username names the member')
    const now = Math.floor(Date.now() / 1000)
    assert.ok(Number(expiry) > now && Number(expiry) <= now + 600, `expiry ${expiry} within the ttl`)
    // what coturn computes from its static-auth-secret
    assert.equal(turn.credential, createHmac('sha1', SECRET).update(String(turn.username)).digest('base64'))
    assert.equal((boot.services.iceServers.stats()).credentialsIssued, 1)

    // the member's ICE configuration: the app's servers first, then the bootstrap peer's
    const config = await iceConfiguration({ iceServers: [{ urls: 'stun:app.example:3478' }] }, () => member.services.iceServers.servers(), 'browser')()
    assert.deepEqual(config.iceServers?.map(s => s.urls), ['stun:app.example:3478', stun.urls, [TURN_URL]])
    // node-datachannel gets them percent-encoded (libdatachannel decodes them out of its URL)
    const nodeConfig = await iceConfiguration(undefined, () => member.services.iceServers.servers(), 'node')()
    assert.equal(nodeConfig.iceServers?.[1].username, encodeURIComponent(String(turn.username)))
  })

  it('credentials follow coturn\'s REST scheme', () => {
    const c = turnCredentials('secret', 'peer', 60, 1_000_000)
    assert.equal(c.username, '1060:peer')
    assert.equal(c.expiry, 1060)
    assert.equal(c.credential, createHmac('sha1', 'secret').update('1060:peer').digest('base64'))
  })

  it('a loaded bootstrap peer asks for proof-of-work before handing out TURN credentials', async () => {
    const boot = await bootstrapWith({ loaded: true })
    const member = await startMember(boot)
    nodes.push(member)
    await waitFor(() => member.services.iceServers.servers().some(s => s.username != null), 'TURN credentials', 20_000)
    assert.ok(boot.services.iceServers.stats().challenged >= 1, 'challenged')
    assert.equal(boot.services.iceServers.stats().credentialsIssued, 1)
  })

  describe('bad input, as real bytes over real streams', () => {
    async function setUp (serve: { maxRequestsPerPeer?: number } = {}, requestTimeout?: number): Promise<{ boot: BootstrapPeer, client: Membrane }> {
      const boot = await bootstrapWith(serve, requestTimeout)
      // a member that does not ask by itself, so every request below is the test's
      const client = await startMember(undefined, { iceServers: { request: false } })
      nodes.push(client)
      await client.dial(multiaddr(tcpAddress(boot)))
      return { boot, client }
    }

    async function open (client: Membrane, boot: BootstrapPeer): Promise<Stream> {
      return client.dialProtocol(boot.peerId, ICE_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    }

    /** The server ends a refused exchange by resetting the stream: reading fails */
    async function assertRefused (stream: Stream, boot: BootstrapPeer, refusedBefore: number): Promise<void> {
      await waitFor(() => boot.services.iceServers.stats().refused === refusedBefore + 1, 'the request refused')
      await assert.rejects(pbStream(stream, { maxDataLength: 4096 }).read(IceResponse, { signal: AbortSignal.timeout(5000) }))
    }

    it('an oversized message, garbage, and a solution nobody asked for', async () => {
      const { boot, client } = await setUp()
      const sends: Array<[string, Uint8Array]> = [
        // a 1000-byte length prefix (varint 0xe8 0x07) and its bytes: over the 32-byte limit
        ['oversized', Uint8Array.from([0xe8, 0x07, ...new Uint8Array(1000)])],
        // a length prefix, then bytes that are no IceRequest (field 1 with wire type 7)
        ['garbage', Uint8Array.from([0x03, 0x0f, 0xff, 0xff])],
        // a well-formed IceRequest with a counter on a first request
        ['unasked solution', (() => { const m = IceRequest.encode({ counter: 42n }); return Uint8Array.from([m.byteLength, ...m]) })()]
      ]
      for (const [what, bytes] of sends) {
        const refused = boot.services.iceServers.stats().refused
        const stream = await open(client, boot)
        stream.send(bytes)
        await assertRefused(stream, boot, refused).catch((err: Error) => { throw new Error(`${what}: ${err.message}`) })
      }
      assert.equal(boot.services.iceServers.stats().credentialsIssued, 0)
    })

    it('a request that never comes is cut at the deadline', async () => {
      const { boot, client } = await setUp({}, 500)
      const stream = await open(client, boot)
      await assertRefused(stream, boot, 0)
    })

    it('a peer asking too often is refused', async () => {
      const { boot, client } = await setUp({ maxRequestsPerPeer: 2 })
      for (let i = 0; i < 2; i++) {
        const stream = await open(client, boot)
        const pb = pbStream(stream, { maxDataLength: 4096 })
        await pb.write({ counter: 0n }, IceRequest)
        const response = await pb.read(IceResponse, { signal: AbortSignal.timeout(5000) })
        assert.ok(response.username !== '', 'credentials within the limit')
        await stream.close()
        // one exchange at a time per connection: the next opens once the server let go of this one
        await waitFor(() => boot.getConnections(client.peerId).every(c => c.streams.every(s => s.protocol !== ICE_PROTOCOL)), 'the stream closed at the server')
      }
      const stream = await open(client, boot)
      // refused before it is read: the server may reset the stream before this write lands
      await pbStream(stream, { maxDataLength: 4096 }).write({ counter: 0n }, IceRequest).catch(() => {})
      await assertRefused(stream, boot, 0)
      assert.equal(boot.services.iceServers.stats().credentialsIssued, 2)
    })
  })
})
