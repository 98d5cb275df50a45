import { pbStream } from '@libp2p/utils'
import { raceSignal } from 'race-signal'
import { bestConnection } from '../utils/connections.js'
import { circuitAddress } from './address.js'
import { CIRCUIT_PROTOCOL, MAX_RESPONSE_SIZE } from './constants.js'
import { connectionLimits } from './context.js'
import { CircuitLoopError, CircuitRefusedError, CircuitTimeoutError, CircuitUpgradeError, HopLimitError, MalformedCircuitMessageError, NoRouteError } from './errors.js'
import { CircuitRequest, CircuitResponse } from './pb/circuit.js'
import { EarlyOpenerConnection } from './early-data.js'
import { streamToConnection } from './stream-to-conn.js'
import { errorFor, isAbort, isCircuitError, isUnsupportedProtocol } from './wire.js'
import { deadlineSignal, timeoutSignal } from '../utils/timeout-signal.js'
import type { CircuitMode } from './index.js'
import type { SpliceLimit } from './relay.js'
import type { Connection, Logger, PeerId, Stream, Upgrader } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { ProtobufStream } from '@libp2p/utils'
import type { ProgressEvent } from 'progress-events'

/** What opening a circuit uses of the node */
export interface OpenerNode {
  peerId: PeerId
  connectionManager: ConnectionManager
  upgrader: Upgrader
  log: Logger
  maxHops: number
  signalingLimit: SpliceLimit
  /** How long opening and upgrading may take, in ms */
  openTimeout: number
  /** Start the end-to-end handshake right behind the request (see EarlyOpenerConnection) */
  earlyHandshake: boolean
}

export interface OpenOptions {
  /** The relaying peers, nearest first */
  route: PeerId[]
  mode: CircuitMode
  signal?: AbortSignal
  onProgress?(evt: ProgressEvent): void
}

/**
 * The relaying peers of a route: a full network-map path `[self, …, target]`
 * or the hops alone, checked for loops and the hop limit. Throws a typed error.
 */
export function routeHops (self: PeerId, target: PeerId, path: PeerId[] | undefined, maxHops: number): PeerId[] {
  if (path == null) {
    throw new NoRouteError(`no route to ${target}: not a neighbour and no router or route given`)
  }
  let hops = path
  if (hops.length > 0 && hops[0].equals(self)) {
    hops = hops.slice(1)
  }
  if (hops.length > 0 && hops[hops.length - 1].equals(target)) {
    hops = hops.slice(0, -1)
  }
  if (hops.length === 0) {
    throw new NoRouteError(`no relaying peer between this node and ${target}`)
  }
  const seen = new Set<string>([self.toString(), target.toString()])
  for (const hop of hops) {
    if (seen.has(hop.toString())) {
      throw new CircuitLoopError(`route to ${target} visits ${hop} twice`)
    }
    seen.add(hop.toString())
  }
  if (hops.length > maxHops) {
    throw new HopLimitError(`route to ${target} has ${hops.length} hops, the limit is ${maxHops}`)
  }
  return hops
}

/** Map what went wrong while opening to one of the typed circuit errors */
function openError (err: unknown, signal: AbortSignal, first: PeerId, target: PeerId): Error {
  if (isCircuitError(err)) {
    return err
  }
  if (isAbort(err, signal)) {
    return new CircuitTimeoutError(`circuit to ${target} did not open in time`, { cause: err })
  }
  if (isUnsupportedProtocol(err)) {
    return new CircuitRefusedError(`${first} does not relay mesh circuits`, { cause: err })
  }
  return err instanceof Error ? err : new CircuitRefusedError(String(err))
}

/**
 * Open a circuit to `target` along `route` and upgrade it to an ordinary
 * libp2p connection: Noise authenticating `target`, then yamux. Signaling
 * circuits are limited connections; relay circuits are not.
 */
export async function openCircuit (node: OpenerNode, target: PeerId, options: OpenOptions): Promise<Connection> {
  const { route, mode } = options
  // not AbortSignal.any([options.signal, timeout]): when the caller's signal is (or is built on) a service's
  // shutdown signal, that leaves a cell per call on it (src/utils/timeout-signal.ts)
  const deadline = options.signal == null
    ? { signal: timeoutSignal(node.openTimeout), clear: () => {} }
    : deadlineSignal(node.openTimeout, options.signal)
  const signal = deadline.signal
  const first = route[0]
  const connection = bestConnection(node.connectionManager.getConnections(first), { allowLimited: mode === 'signaling' })
  if (connection == null) {
    throw new NoRouteError(`not connected to the first hop ${first} of the route to ${target}`)
  }

  let stream: Stream | undefined
  try {
    // negotiateFully: false is meant to send the selection with the request, but
    // @libp2p/multistream-select 7.0.28 ignores it: the selection still costs a round trip
    stream = await connection.newStream(CIRCUIT_PROTOCOL, { signal, runOnLimitedConnection: true, negotiateFully: false })
    const messages = pbStream(stream, { maxDataLength: MAX_RESPONSE_SIZE })
    const sent = Date.now()
    await messages.write({
      target: target.toMultihash().bytes,
      route: route.slice(1).map(p => p.toMultihash().bytes),
      path: [node.peerId.toMultihash().bytes],
      hops: 0,
      maxHops: node.maxHops,
      mode: mode === 'relay' ? CircuitRequest.Mode.RELAY : CircuitRequest.Mode.SIGNALING
    }, CircuitRequest, { signal })
    const encrypters = [...node.upgrader.getConnectionEncrypters().keys()]
    const conn = node.earlyHandshake && encrypters.length === 1
      ? await earlyUpgrade(node, target, stream, messages.unwrap(), { ...options, signal, sent, encrypter: encrypters[0] })
      : await sequentialUpgrade(node, target, stream, messages, { ...options, signal, sent })
    options.onProgress?.(new CustomEvent('noise', { detail: { target, remotePeer: conn.remotePeer, time: Date.now() } }))
    node.log('opened %s circuit to %p via %s', mode, target, route.map(String).join(' → '))
    return conn
  } catch (err) {
    stream?.abort(err as Error)
    throw openError(err, signal, first, target)
  } finally {
    deadline.clear()
  }
}

interface UpgradeOptions extends OpenOptions {
  signal: AbortSignal
  /** When the request was written, for the circuit's round trip */
  sent: number
}

function circuitProgress (target: PeerId, options: UpgradeOptions): void {
  // the answer comes from the target, so request → answer is one round trip end to end
  const time = Date.now()
  options.onProgress?.(new CustomEvent('circuit', { detail: { target, route: options.route, mode: options.mode, rtt: time - options.sent, time } }))
}

function upgradeError (err: unknown, signal: AbortSignal, target: PeerId): Error {
  if (isAbort(err, signal)) {
    return new CircuitTimeoutError(`Noise/yamux over the circuit to ${target} did not finish in time`, { cause: err })
  }
  return new CircuitUpgradeError(`the end-to-end handshake with ${target} failed (${(err as Error).name}: ${(err as Error).message})`, { cause: err })
}

/** Wait for the far end's OK, then run Noise and yamux: three round trips before the connection is up */
async function sequentialUpgrade (node: OpenerNode, target: PeerId, stream: Stream, messages: ProtobufStream<Stream>, options: UpgradeOptions): Promise<Connection> {
  const { signal } = options
  const first = options.route[0]
  const response = await messages.read(CircuitResponse, { signal }).catch((err: Error) => {
    if (isAbort(err, signal) || isUnsupportedProtocol(err)) {
      throw err
    }
    // truncated, oversize or undecodable
    throw new MalformedCircuitMessageError(`bad circuit response from ${first}: ${err.message}`, { cause: err })
  })
  if (response.status !== CircuitResponse.Status.OK) {
    throw errorFor(response, target)
  }
  circuitProgress(target, options)
  const maConn = streamToConnection({
    stream: messages.unwrap(),
    remoteAddr: circuitAddress(options.route, target),
    log: stream.log.newScope('membrane:circuit:connection')
  })
  try {
    return await node.upgrader.upgradeOutbound(maConn, {
      signal,
      onProgress: options.onProgress,
      limits: connectionLimits(options.mode, node.signalingLimit)
    })
  } catch (err) {
    maConn.abort(err as Error)
    throw upgradeError(err, signal, target)
  }
}

/**
 * Run the encrypter's selection and Noise's first message right behind the
 * request, reading the far end's OK on the way: one round trip end to end
 * before the connection is up (Noise's last message follows it), instead of
 * three. A refusal still surfaces as its typed error.
 */
async function earlyUpgrade (node: OpenerNode, target: PeerId, stream: Stream, raw: Stream, options: UpgradeOptions & { encrypter: string }): Promise<Connection> {
  const { signal } = options
  const first = options.route[0]
  const maConn = new EarlyOpenerConnection({
    stream: raw,
    remoteAddr: circuitAddress(options.route, target),
    log: stream.log.newScope('membrane:circuit:connection'),
    maxResponseSize: MAX_RESPONSE_SIZE,
    encrypter: options.encrypter
  })
  const upgrading = node.upgrader.upgradeOutbound(maConn, {
    signal,
    onProgress: options.onProgress,
    limits: connectionLimits(options.mode, node.signalingLimit)
  })
  // settled below in every path; a refusal aborts it, and that rejection is not the error to report
  upgrading.catch(() => {})
  let response: CircuitResponse
  try {
    response = await raceSignal(maConn.response, signal)
  } catch (err) {
    maConn.abort(err as Error)
    if (isAbort(err, signal) || isUnsupportedProtocol(err) || isCircuitError(err)) {
      throw err
    }
    throw new MalformedCircuitMessageError(`bad circuit response from ${first}: ${(err as Error).message}`, { cause: err })
  }
  if (response.status !== CircuitResponse.Status.OK) {
    const refused = errorFor(response, target)
    maConn.abort(refused)
    throw refused
  }
  circuitProgress(target, options)
  try {
    return await upgrading
  } catch (err) {
    maConn.abort(err as Error)
    if (maConn.refusedProtocol) {
      throw new CircuitUpgradeError(`${target} does not speak ${options.encrypter} over the circuit`, { cause: err })
    }
    throw upgradeError(err, signal, target)
  }
}
