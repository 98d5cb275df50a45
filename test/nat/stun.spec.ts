/**
 * The bootstrap peer's STUN binding service, with real UDP datagrams on
 * loopback: well-formed binding requests are answered with the source's
 * address and nothing more; everything else, and whatever exceeds the rate
 * limit, gets no reply.
 */
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { crc32 } from 'node:zlib'
import { defaultLogger } from '@libp2p/logger'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { stunServer } from '../../src/stun/index.js'
import { waitFor } from '../fixtures/wait.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { StunServer } from '../../src/stun/index.js'
import type { Socket } from 'node:dgram'

const COOKIE = 0x2112A442

/** A STUN message: type, transaction id, attributes as [type, value] */
function message (type: number, attrs: Array<[number, Uint8Array]> = [], options: { cookie?: number, length?: number, fingerprint?: boolean } = {}): Buffer {
  const body = Buffer.concat(attrs.map(([t, v]) => {
    const head = Buffer.alloc(4)
    head.writeUInt16BE(t, 0)
    head.writeUInt16BE(v.byteLength, 2)
    return Buffer.concat([head, v, Buffer.alloc((4 - v.byteLength % 4) % 4)])
  }))
  const header = Buffer.alloc(20)
  header.writeUInt16BE(type, 0)
  header.writeUInt16BE(options.length ?? body.byteLength + (options.fingerprint === true ? 8 : 0), 2)
  header.writeUInt32BE(options.cookie ?? COOKIE, 4)
  randomBytes(12).copy(header, 8)
  let out = Buffer.concat([header, body])
  if (options.fingerprint === true) {
    const fp = Buffer.alloc(8)
    fp.writeUInt16BE(0x8028, 0)
    fp.writeUInt16BE(4, 2)
    fp.writeUInt32BE((crc32(out) ^ 0x5354554E) >>> 0, 4)
    out = Buffer.concat([out, fp])
  }
  return out
}

/** Decode a binding success response's XOR-MAPPED-ADDRESS (IPv4) */
function mappedAddress (response: Buffer): { address: string, port: number } {
  assert.equal(response.readUInt16BE(20), 0x0020, 'the attribute is XOR-MAPPED-ADDRESS')
  assert.equal(response.readUInt8(25), 0x01, 'IPv4')
  const port = response.readUInt16BE(26) ^ (COOKIE >>> 16)
  const ip = (response.readUInt32BE(28) ^ COOKIE) >>> 0
  return { address: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'), port }
}

class Client {
  readonly replies: Buffer[] = []
  private constructor (readonly socket: Socket) {
    socket.on('message', (msg) => { this.replies.push(msg) })
  }

  static async open (): Promise<Client> {
    const socket = createSocket('udp4')
    await new Promise<void>(resolve => { socket.bind(0, '127.0.0.1', resolve) })
    return new Client(socket)
  }

  get port (): number { return this.socket.address().port }

  async send (data: Uint8Array, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => { this.socket.send(data, port, '127.0.0.1', (err) => { if (err == null) { resolve() } else { reject(err) } }) })
  }

  /** The reply to `request` (matched by transaction id), once it arrives */
  async replyTo (request: Buffer): Promise<Buffer> {
    const id = request.subarray(8, 20)
    await waitFor(() => this.replies.some(r => r.subarray(8, 20).equals(id)), 'a STUN reply', 10_000, 5)
    return this.replies.find(r => r.subarray(8, 20).equals(id))!
  }

  close (): void { this.socket.close() }
}

describe('STUN binding service', () => {
  let boot: BootstrapPeer
  let stun: StunServer
  let client: Client

  before(async () => {
    boot = await createBootstrapPeer({ port: 0, webrtcDirectPort: false })
    assert.ok(boot.services.stunServer != null, 'a bootstrap peer serves STUN by default')
    stun = boot.services.stunServer
    client = await Client.open()
  })

  after(async () => {
    client?.close()
    await boot?.stop()
  })

  it('answers a binding request with the source address, never more than the request plus the mapped address', async () => {
    for (const request of [
      message(0x0001),
      // SOFTWARE (comprehension-optional) and a valid FINGERPRINT, as libjuice and browsers send
      message(0x0001, [[0x8022, Buffer.from('test client')]], { fingerprint: true })
    ]) {
      await client.send(request, stun.port)
      const response = await client.replyTo(request)
      assert.equal(response.readUInt16BE(0), 0x0101, 'binding success response')
      assert.equal(response.readUInt16BE(2), response.byteLength - 20, 'its length field')
      assert.equal(response.readUInt32BE(4), COOKIE)
      assert.deepEqual(mappedAddress(response), { address: '127.0.0.1', port: client.port })
      assert.ok(response.byteLength <= request.byteLength + 12, `${response.byteLength}-byte response to a ${request.byteLength}-byte request`)
    }
  })

  it('drops everything that is not a well-formed binding request', async () => {
    const valid = message(0x0001)
    const badFingerprint = message(0x0001, [], { fingerprint: true })
    badFingerprint[badFingerprint.byteLength - 1] ^= 0xff
    const truncated = message(0x0001, [[0x8022, Buffer.from('abcd')]])
    truncated.writeUInt16BE(16, 22)
    const malformed: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['19 bytes', valid.subarray(0, 19)],
      ['random bytes', randomBytes(64)],
      ['a binding success response', message(0x0101)],
      ['a binding indication', message(0x0011)],
      ['an allocate request (TURN)', message(0x0003)],
      ['top bits set', message(0xC001)],
      ['RFC 3489 (no magic cookie)', message(0x0001, [], { cookie: 0x01020304 })],
      ['length field too long', message(0x0001, [], { length: 8 })],
      ['length not a multiple of 4', Buffer.concat([message(0x0001, [], { length: 2 }), Buffer.alloc(2)])],
      ['an attribute overrunning the message', truncated],
      ['a 2-byte attribute stub', Buffer.concat([message(0x0001, [], { length: 4 }).subarray(0, 20), Buffer.from([0x80, 0x22])]).subarray(0, 22)],
      ['USERNAME (comprehension-required)', message(0x0001, [[0x0006, Buffer.from('user')]])],
      ['an unknown comprehension-required attribute', message(0x0001, [[0x7fff, Buffer.alloc(4)]])],
      ['a wrong FINGERPRINT', badFingerprint],
      ['FINGERPRINT not last', message(0x0001, [[0x8028, Buffer.alloc(4)], [0x8022, Buffer.from('late')]])],
      ['600 bytes', message(0x0001, [[0x8022, Buffer.alloc(576)]])]
    ]
    const before = stun.stats()
    for (const [, packet] of malformed) {
      await client.send(packet, stun.port)
    }
    // a sentinel sent after them: once it is answered, all of them were read
    const sentinel = message(0x0001)
    await client.send(sentinel, stun.port)
    await client.replyTo(sentinel)
    const after = stun.stats()
    assert.equal(after.malformed - before.malformed, malformed.length, 'every malformed datagram counted as dropped')
    assert.equal(after.answered - before.answered, 1, 'only the sentinel was answered')
    const answeredIds = client.replies.map(r => r.subarray(8, 20).toString('hex'))
    for (const [what, packet] of malformed) {
      if (packet.byteLength >= 20) {
        assert.ok(!answeredIds.includes(packet.subarray(8, 20).toString('hex')), `${what} got a reply`)
      }
    }
  })

  it('rate-limits each source address', async () => {
    const limited = stunServer({ port: 0, maxRequestsPerSource: 5, rateWindow: 60_000 })({ logger: defaultLogger() })
    await limited.start()
    const other = await Client.open()
    try {
      const requests = Array.from({ length: 8 }, () => message(0x0001))
      for (const request of requests) {
        await other.send(request, limited.port)
      }
      await waitFor(() => limited.stats().received === 8, 'all 8 requests read', 10_000, 5)
      assert.equal(limited.stats().answered, 5)
      assert.equal(limited.stats().rateLimited, 3)
      await waitFor(() => other.replies.length === 5, 'the 5 replies', 10_000, 5)
      assert.deepEqual(other.replies.map(r => r.subarray(8, 20).toString('hex')).sort(), requests.slice(0, 5).map(r => r.subarray(8, 20).toString('hex')).sort())
    } finally {
      other.close()
      await limited.stop()
    }
  })
})
