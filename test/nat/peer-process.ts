/**
 * A Membrane member or bootstrap peer in a lab namespace, driven by the test
 * over stdin/stdout: one JSON request per line (`{ id, cmd, args }`), one
 * JSON answer per line (`{ id, result }` or `{ id, error: { name, message } }`).
 * Started with `ip netns exec <ns> node dist/test/nat/peer-process.js`.
 */
import { createSocket } from 'node:dgram'
import { createInterface } from 'node:readline'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap as bootstrapDiscovery } from '@libp2p/bootstrap'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { createLibp2p } from 'libp2p'
import { createBootstrapPeer } from '../../src/bootstrap/index.js'
import { encodeForNodeDatachannel } from '../../src/turn/index.js'
import { createMembrane } from '../../src/index.js'
import { linkKind } from '../../src/utils/connections.js'
import type { BootstrapPeer } from '../../src/bootstrap/index.js'
import type { Membrane } from '../../src/index.js'
import type { TurnInit } from '../../src/index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

const TOPIC = 'nat-lab'

let member: Membrane | undefined
let boot: BootstrapPeer | undefined
/** A stock js-libp2p node (no Membrane services): relay v2 + WebRTC, as stock apps connect */
let stock: Libp2p | undefined
const broadcasts: string[] = []
const directs: string[] = []

function node (): Membrane {
  if (member == null) { throw new Error('no member started') }
  return member
}

function any (): Libp2p {
  const n = member ?? stock ?? boot
  if (n == null) { throw new Error('nothing started') }
  return n as unknown as Libp2p
}

async function until (predicate: () => boolean, what: string, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    }
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

export interface MemberStart {
  bootstrap: string[]
  /** Listen addresses beyond the default relay/WebRTC ones (a member on the public side) */
  listen?: string[]
  iceServers?: RTCIceServer[]
  /** Use only stock relay→WebRTC (no mesh circuits) when dialing */
  stock?: boolean
}

export interface ConnectSummary {
  /** The link once the WebRTC upgrade behind connect() settled, and when */
  kind: string
  ms: number
  /** What connect() returned (a usable link), and when; absent for stock dials */
  usableKind?: string
  usableMs?: number
  remoteAddr: string
}

const commands: Record<string, (...args: any[]) => Promise<unknown> | unknown> = { // eslint-disable-line @typescript-eslint/no-explicit-any
  async startBootstrap (init: { host: string, port: number, stunPort?: number | false, turn?: TurnInit }) {
    boot = await createBootstrapPeer({
      host: init.host,
      port: init.port,
      stunPort: init.stunPort,
      turn: init.turn,
      webrtcDirectPort: false
    })
    return { peerId: boot.peerId.toString(), addrs: boot.getMultiaddrs().map(String) }
  },

  async startMember (init: MemberStart) {
    member = await createMembrane({
      bootstrap: init.bootstrap,
      ...(init.listen == null ? {} : { listen: [...init.listen, '/p2p-circuit', '/webrtc'] }),
      topics: [TOPIC],
      webrtc: { rtcConfiguration: { iceServers: init.iceServers ?? [] } }
    })
    member.services.broadcast.addEventListener('message', (evt) => {
      broadcasts.push(new TextDecoder().decode(evt.detail.data))
    })
    member.services.directMessages.addEventListener('message', (evt) => {
      directs.push(new TextDecoder().decode(evt.detail.data))
    })
    return member.peerId.toString()
  },

  /** Wait until `id` is on this member's map with a path, and subscribed to the topic as far as gossipsub knows */
  async waitForPeer (id: string, timeout: number) {
    const n = node()
    const peer = peerIdFromString(id)
    await until(() => n.services.networkMap.path(peer) != null, `a map path to ${id}`, timeout)
  },

  /** Wait until this member's map has a path to `id` that does not pass through `avoid` */
  async waitForPathAvoiding (id: string, avoid: string, timeout: number) {
    const n = node()
    const peer = peerIdFromString(id)
    const exclude = [peerIdFromString(avoid)]
    await until(() => n.services.networkMap.path(peer, { exclude }) != null, `a map path to ${id} avoiding ${avoid}`, timeout)
  },

  async waitForRelayAddress (timeout: number) {
    const n = node()
    await until(() => n.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit/webrtc')), 'a relay reservation', timeout)
    return n.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit/webrtc'))
  },

  /** Wait until the bootstrap peers' ICE servers arrived (`turn`: TURN credentials among them) */
  async waitForIceServers (turn: boolean, timeout: number) {
    const n = node()
    await until(() => n.services.iceServers.servers().some(s => turn ? s.username != null : String(s.urls).startsWith('stun:')), 'ICE servers from the bootstrap peer', timeout)
    return n.services.iceServers.servers().map(s => String(s.urls))
  },

  /** Membrane's connect() */
  async connect (id: string, timeout: number): Promise<ConnectSummary> {
    const started = Date.now()
    // connect() hands back the circuit first; the scenario reports the link it ends with
    const usable = await node().services.meshCircuits.connect(peerIdFromString(id), { signal: AbortSignal.timeout(timeout) })
    const usableMs = Date.now() - started
    const result = await usable.upgrade
    return { kind: result.kind, ms: Date.now() - started, usableKind: usable.kind, usableMs, remoteAddr: result.connection.remoteAddr.toString() }
  },

  /** A stock js-libp2p node with a relay reservation on the bootstrap peer */
  async startStock (init: MemberStart) {
    stock = await createLibp2p({
      addresses: { listen: ['/p2p-circuit', '/webrtc'] },
      transports: [tcp(), webRTC({ rtcConfiguration: { iceServers: (init.iceServers ?? []).map(encodeForNodeDatachannel) } }), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [bootstrapDiscovery({ list: init.bootstrap, timeout: 0 })],
      services: { identify: identify(), ping: ping() }
    })
    return stock.peerId.toString()
  },

  /** The stock node's relay→WebRTC address, once it holds a reservation */
  async waitForStockAddress (timeout: number) {
    const n = stock!
    await until(() => n.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit/webrtc')), 'a relay reservation', timeout)
    return n.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit/webrtc'))
  },

  /** A stock relay→WebRTC dial of a `/p2p-circuit/webrtc` address (the stock node's, else the member's) */
  async dialStock (addr: string, timeout: number): Promise<ConnectSummary> {
    const started = Date.now()
    const connection = await any().dial(multiaddr(addr), { signal: AbortSignal.timeout(timeout) })
    return { kind: linkKind(connection), ms: Date.now() - started, remoteAddr: connection.remoteAddr.toString() }
  },

  /** Close every connection to `id`, then wait until none is left */
  async hangUp (id: string, timeout: number) {
    const n = any()
    const peer = peerIdFromString(id)
    await n.hangUp(peer, { signal: AbortSignal.timeout(timeout) }).catch(() => {})
    await until(() => n.getConnections(peer).length === 0, `no connection to ${id}`, timeout)
  },

  /** This member's addresses */
  addrs () {
    return node().getMultiaddrs().map(String)
  },

  /** Dial a multiaddr (a link the test sets up) */
  async dial (addr: string, timeout: number) {
    const connection = await node().dial(multiaddr(addr), { signal: AbortSignal.timeout(timeout) })
    return linkKind(connection)
  },

  /** Kinds of the open connections to `id` */
  links (id: string) {
    return node().getConnections(peerIdFromString(id)).filter(c => c.status === 'open').map(c => ({ kind: linkKind(c), limited: c.limits != null, remoteAddr: c.remoteAddr.toString() }))
  },

  async sendDirect (id: string, text: string, timeout: number) {
    const result = await node().services.directMessages.send(peerIdFromString(id), new TextEncoder().encode(text), { signal: AbortSignal.timeout(timeout) })
    return { kind: linkKind(result.connection), remoteAddr: result.connection.remoteAddr.toString() }
  },

  async waitForSubscriber (id: string, timeout: number) {
    const n = node()
    await until(() => n.services.broadcast.subscribers(TOPIC).some(p => p.toString() === id), `${id} subscribed`, timeout)
  },

  async publish (text: string) {
    await node().services.broadcast.publish(TOPIC, new TextEncoder().encode(text))
  },

  async waitForBroadcast (text: string, timeout: number) {
    await until(() => broadcasts.includes(text), `broadcast "${text}"`, timeout)
  },

  async waitForDirect (text: string, timeout: number) {
    await until(() => directs.includes(text), `direct message "${text}"`, timeout)
  },

  /** Wait until this node has no connection to `id` (a stopped bootstrap peer) */
  async waitForDisconnect (id: string, timeout: number) {
    const n = any()
    const peer: PeerId = peerIdFromString(id)
    await until(() => n.getConnections(peer).length === 0, `no connection to ${id}`, timeout)
  },

  circuitStats () {
    return node().services.meshCircuits.stats()
  },

  /**
   * Send raw UDP datagrams to host:port and collect what comes back within
   * `window` ms (hex in, hex out)
   */
  async udp (host: string, port: number, packets: string[], window: number) {
    const socket = createSocket('udp4')
    const replies: string[] = []
    socket.on('message', (msg) => { replies.push(msg.toString('hex')) })
    await new Promise<void>(resolve => { socket.bind(0, resolve) })
    for (const hex of packets) {
      await new Promise<void>((resolve, reject) => { socket.send(Buffer.from(hex, 'hex'), port, host, (err) => { if (err == null) { resolve() } else { reject(err) } }) })
    }
    await new Promise(resolve => setTimeout(resolve, window))
    socket.close()
    return replies
  },

  async stop () {
    await member?.stop()
    await stock?.stop()
    await boot?.stop()
    member = undefined
    stock = undefined
    boot = undefined
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  let request: { id: number, cmd: string, args: unknown[] }
  try {
    request = JSON.parse(line)
  } catch {
    return
  }
  const reply = (body: Record<string, unknown>): void => { process.stdout.write(JSON.stringify({ id: request.id, ...body }) + '\n') }
  const command = commands[request.cmd]
  if (command == null) {
    reply({ error: { name: 'UnknownCommand', message: request.cmd } })
    return
  }
  Promise.resolve().then(async () => command(...request.args)).then(
    (result) => { reply({ result: result ?? null }) },
    (err: Error) => { reply({ error: { name: err?.name ?? 'Error', message: err?.message ?? String(err) } }) }
  )
})
// the test closes stdin when it is done with this process
lines.on('close', () => { process.exit(0) })
process.stdout.write(JSON.stringify({ ready: true }) + '\n')
