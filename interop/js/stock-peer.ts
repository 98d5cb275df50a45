/**
 * A stock js-libp2p peer for Membrane's interop tests, built from released
 * libp2p packages only (no Membrane code).
 *
 * Flags: `--listen <multiaddr>`, `--dial <multiaddr>`, `--topic <name>`,
 * `--relay <relay multiaddr>` (reserve a slot and listen on
 * `<relay>/p2p-circuit`); each may repeat. Commands arrive as one JSON object
 * per line on stdin: `{"cmd":"dial","addr":..}`,
 * `{"cmd":"publish","topic":..,"data":..}`, `{"cmd":"subscribe","topic":..}`,
 * `{"cmd":"ping","peer":..}`, `{"cmd":"exit"}`. Events go to stdout as one
 * JSON object per line. The peer runs until stdin closes, `exit` arrives or
 * the process is signalled.
 */

import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const AGENT = 'membrane-interop/js-libp2p'

/** Every network operation started from a command gives up after this long */
const COMMAND_TIMEOUT = 20_000

interface Args {
  listen: string[]
  dial: string[]
  topics: string[]
  relays: string[]
}

function emit (fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(fields) + '\n')
}

function emitError (context: string, err: unknown, extra: Record<string, unknown> = {}): void {
  emit({ event: 'error', context, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err), ...extra })
}

function parseArgs (argv: string[]): Args {
  const args: Args = { listen: [], dial: [], topics: [], relays: [] }
  const flags: Record<string, keyof Args> = { '--listen': 'listen', '--dial': 'dial', '--topic': 'topics', '--relay': 'relays' }
  for (let i = 0; i < argv.length; i += 2) {
    const key = flags[argv[i]]
    if (key == null || argv[i + 1] == null) {
      throw new Error(`bad flag ${argv[i]}`)
    }
    args[key].push(argv[i + 1])
  }
  return args
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const node = await createLibp2p({
    addresses: {
      listen: [...args.listen, ...args.relays.map(relay => `${relay}/p2p-circuit`)]
    },
    transports: [
      tcp(),
      webSockets(),
      webRTC({ rtcConfiguration: { iceServers: [] } }),
      circuitRelayTransport()
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // js-libp2p gives each address 6 s by default. A relayed WebRTC dial
    // (signaling over the relay, ICE, DTLS, SCTP, Noise) can take longer than
    // that on a busy core, so a dial here gets the whole command deadline
    connectionManager: { dialTimeout: COMMAND_TIMEOUT, addressDialTimeout: COMMAND_TIMEOUT },
    nodeInfo: { userAgent: AGENT },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ emitSelf: false })
    }
  })

  node.addEventListener('connection:open', ({ detail: conn }) => {
    emit({ event: 'connected', peer: conn.remotePeer.toString(), addr: conn.remoteAddr.toString(), direction: conn.direction })
  })
  node.addEventListener('peer:disconnect', ({ detail: peer }) => {
    emit({ event: 'disconnected', peer: peer.toString() })
  })
  node.addEventListener('peer:identify', ({ detail }) => {
    emit({ event: 'identify', peer: detail.peerId.toString(), agent: detail.agentVersion, protocols: detail.protocols, observedAddr: detail.observedAddr?.toString() })
  })
  const announced = new Set<string>()
  const announce = (): void => {
    for (const addr of node.getMultiaddrs().map(String)) {
      if (announced.has(addr)) {
        continue
      }
      announced.add(addr)
      emit({ event: 'listening', addr })
      const relay = addr.match(/\/p2p\/([^/]+)\/p2p-circuit/)?.[1]
      if (relay != null) {
        emit({ event: 'reserved', relay, addr })
      }
    }
  }
  node.services.pubsub.addEventListener('message', ({ detail: msg }) => {
    emit({ event: 'message', topic: msg.topic, data: new TextDecoder().decode(msg.data), from: msg.type === 'signed' ? msg.from.toString() : undefined })
  })
  node.services.pubsub.addEventListener('subscription-change', ({ detail }) => {
    for (const { topic, subscribe } of detail.subscriptions) {
      if (subscribe) {
        emit({ event: 'subscribed', peer: detail.peerId.toString(), topic })
      }
    }
  })

  emit({ event: 'ready', peer: node.peerId.toString(), agent: AGENT })
  announce()
  node.addEventListener('self:peer:update', announce)
  for (const topic of args.topics) {
    node.services.pubsub.subscribe(topic)
  }

  const commands: Record<string, (cmd: Record<string, string>) => Promise<void>> = {
    dial: async ({ addr }) => {
      const conn = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(COMMAND_TIMEOUT) })
      emit({ event: 'dialed', peer: conn.remotePeer.toString(), addr: conn.remoteAddr.toString() })
    },
    subscribe: async ({ topic }) => {
      node.services.pubsub.subscribe(topic)
    },
    publish: async ({ topic, data }) => {
      await node.services.pubsub.publish(topic, new TextEncoder().encode(data))
      emit({ event: 'published', topic })
    },
    ping: async ({ peer }) => {
      const rtt = await node.services.ping.ping(peerIdFromString(peer), { signal: AbortSignal.timeout(COMMAND_TIMEOUT) })
      emit({ event: 'ping', peer, rtt })
    }
  }

  for (const addr of args.dial) {
    commands.dial({ addr }).catch(err => { emitError('dial', err) })
  }

  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim() === '') {
      continue
    }
    let cmd: Record<string, string>
    try {
      cmd = JSON.parse(line)
    } catch (err) {
      emitError('stdin', err)
      continue
    }
    if (cmd.cmd === 'exit') {
      break
    }
    const run = commands[cmd.cmd]
    if (run == null) {
      emitError('stdin', `unknown command ${cmd.cmd}`)
      continue
    }
    run(cmd).catch(err => { emitError(cmd.cmd, err, { peer: cmd.peer }) })
  }
  await node.stop()
  process.exit(0)
}

main().catch(err => {
  emitError('fatal', err)
  process.exit(1)
})
