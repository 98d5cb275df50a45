import { pbStream } from '@libp2p/utils'
import { concat } from 'uint8arrays/concat'
import { fromString } from 'uint8arrays/from-string'
import { MessageTooLargeError } from '../broadcast/errors.js'
import { typedDecodeError } from '../utils/decode-error.js'
import { SeenCache } from '../utils/seen-cache.js'
import * as C from './constants.js'
import { InvalidMessageError } from './errors.js'
import { RoutedMessage } from './pb/channels.js'
import { assertChannelName, assertPeerIdBytes, parseAuthor, peerKey } from './validation.js'
import { deadlineSignal } from '../utils/timeout-signal.js'
import type { DefaultChannel } from './channel.js'
import type { ChannelPublishResult, ChannelStats } from './index.js'
import type { InterestTable } from './interests.js'
import type { Logger, PeerId, PrivateKey, Stream } from '@libp2p/interface'

/** A value a forwarder could not decode because it has not opened the channel */
const UNKNOWN = Symbol('unknown value')

/** What the route protocol needs from the node around it */
export interface InterestRouterInit {
  peerId: PeerId
  privateKey: PrivateKey
  interests: InterestTable
  log: Logger
  /** The deadline for sending or receiving one routed message, in ms */
  routeTimeout: number
  /** The open interest channel called `name`, if any */
  channel(name: string): DefaultChannel<unknown> | undefined
  /** Whether `peer` has a connection the route protocol may run on */
  canReach(peer: PeerId): boolean
  /** Open a route protocol stream to `peer` on such a connection */
  newStream(peer: PeerId, signal: AbortSignal): Promise<Stream>
  /** The neighbours a message is flooded to when a route broke */
  neighbours(): PeerId[]
  /** `peer` sent an invalid message (`err` says why): lower its standing */
  onInvalid(peer: PeerId, err: Error): void
}

/**
 * The route protocol (`/membrane/channels/route/1.0.0`): one signed
 * {@link RoutedMessage} per stream, sent only towards peers whose announced
 * queries match, along the reverse paths of their announcements.
 */
export class InterestRouter {
  private readonly init: InterestRouterInit
  private readonly log: Logger
  /** Routed messages seen, by author and seqno */
  private readonly seen = new SeenCache(C.SEEN_CACHE_SIZE, C.SEEN_TTL)
  private readonly counters: Omit<ChannelStats, 'announcementsLearned'> = { published: 0, received: 0, forwarded: 0, rejected: 0, duplicates: 0 }
  private seqno: bigint
  private shutdownController = new AbortController()

  constructor (init: InterestRouterInit) {
    this.init = init
    this.log = init.log
    // seqnos start at the clock so a restarted node's messages are not taken for duplicates
    this.seqno = BigInt(Date.now()) * 1000n
    this.handle = this.handle.bind(this)
  }

  start (): void {
    this.shutdownController = new AbortController()
    this.seqno = BigInt(Date.now()) * 1000n
  }

  stop (): void {
    this.shutdownController.abort()
    this.seen.clear()
  }

  stats (): ChannelStats {
    return { ...this.counters, announcementsLearned: this.init.interests.announcementsLearned() }
  }

  /** Sign `value` (already encoded as `data`) and send it towards the peers that want it */
  async publish <T>(channel: DefaultChannel<T>, value: T, data: Uint8Array): Promise<ChannelPublishResult> {
    this.seqno++
    const unsigned: RoutedMessage = {
      channel: channel.name,
      data: data as Uint8Array<ArrayBuffer>,
      from: this.init.peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      seqno: this.seqno,
      signature: new Uint8Array(0),
      hops: 0,
      targets: []
    }
    const signature = await this.init.privateKey.sign(signedBytes(unsigned)) as Uint8Array<ArrayBuffer>
    const message = { ...unsigned, signature }
    this.seen.add(seenKey(message))
    this.counters.published++
    return { recipients: this.forward(message, value, undefined) }
  }

  /** The inbound side of the route protocol: read one message, then verify, deliver and forward it */
  async handle (stream: Stream, remotePeer: PeerId): Promise<void> {
    // not AbortSignal.any(): it leaves a cell per call on the long-lived shutdown signal (src/utils/timeout-signal.ts)
    const deadline = deadlineSignal(this.init.routeTimeout, this.shutdownController.signal)
    const signal = deadline.signal
    let message: RoutedMessage
    try {
      message = await pbStream(stream, { maxDataLength: C.MAX_ROUTED_MESSAGE_SIZE }).pb(RoutedMessage).read({ signal, limits: { targets: C.MAX_TARGETS } })
      await stream.close({ signal })
    } catch (err) {
      const typed = typedDecodeError(err, why => new InvalidMessageError(`routed message ${why}`))
      stream.abort(typed)
      if (!signal.aborted) {
        // oversized or malformed bytes, not a slow peer
        this.reject(remotePeer, 'unreadable routed message', typed)
      }
      return
    } finally {
      deadline.clear()
    }
    try {
      await this.receive(message, remotePeer)
    } catch (err) {
      this.reject(remotePeer, 'routed message', err as Error)
    }
  }

  private reject (peer: PeerId, what: string, err: Error): void {
    this.counters.rejected++
    this.log('rejecting %s from %p - %e', what, peer, err)
    this.init.onInvalid(peer, err)
  }

  /** Verify, deduplicate, deliver and forward a routed message; throws to reject it */
  private async receive (message: RoutedMessage, receivedFrom: PeerId): Promise<void> {
    assertChannelName(message.channel)
    if (message.data.byteLength > C.MAX_MESSAGE_SIZE) {
      throw new MessageTooLargeError(`message of ${message.data.byteLength} bytes exceeds the ${C.MAX_MESSAGE_SIZE} byte limit`)
    }
    // every peer id is checked for length before it is used as a key or parsed
    assertPeerIdBytes(message.from, 'author')
    for (const target of message.targets) {
      assertPeerIdBytes(target, 'target')
    }
    const key = seenKey(message)
    if (this.seen.has(key)) {
      this.counters.duplicates++
      return
    }
    const author = parseAuthor(message.from)
    if (message.signature.byteLength > C.MAX_SIGNATURE_SIZE) {
      throw new InvalidMessageError(`signature of ${message.signature.byteLength} bytes`)
    }
    let verified: boolean
    try {
      verified = await author.publicKey.verify(signedBytes(message), message.signature)
    } catch (err) {
      // a signature of the wrong length or form for the key type
      throw new InvalidMessageError(`malformed signature: ${(err as Error).message}`)
    }
    if (!verified) {
      throw new InvalidMessageError('bad signature')
    }
    // checked again: a copy from another neighbour may have been verified meanwhile
    if (this.seen.has(key)) {
      this.counters.duplicates++
      return
    }
    const channel = this.init.channel(message.channel)
    if (channel == null) {
      this.seen.add(key)
      this.counters.received++
      this.forward(message, UNKNOWN, receivedFrom)
      return
    }
    let value: unknown
    try {
      value = channel.decode(message.data)
    } finally {
      // an invalid message is remembered too, so later copies are dropped without decoding again
      this.seen.add(key)
    }
    this.counters.received++
    const { id, fresh } = channel.admit(value)
    if (!fresh) {
      this.counters.duplicates++
      return
    }
    if (channel.wants(value)) {
      channel.deliver({ channel: channel.name, value, from: author, receivedFrom, id: id ?? key }, this.log)
    }
    this.forward(message, value, receivedFrom)
  }

  /**
   * Send `message` to the next hop of each of its targets - or, when it names
   * none (we publish it, or the list overflowed), of every peer whose announced
   * query matches `value` (every interested peer when `value` is UNKNOWN). Each
   * copy names only the targets behind its next hop, so the message follows
   * the union of the reverse paths; neighbours with no matching peer behind
   * them are skipped.
   */
  private forward (message: RoutedMessage, value: unknown, receivedFrom: PeerId | undefined): PeerId[] {
    if (message.hops >= C.MAX_HOPS) {
      return []
    }
    const now = Date.now()
    const author = peerKey(message.from)
    // the publisher matched queries and named the targets; forwarders only split them by next hop
    const targets = message.targets.length > 0 ? new Set(message.targets.map(peerKey)) : undefined
    const nextHops = new Map<string, { peer: PeerId, targets: Array<Uint8Array<ArrayBuffer>> }>()
    let brokenRoute = false
    for (const [key, entry] of this.init.interests.entries()) {
      const queries = entry.channels.get(message.channel)
      if (queries == null || entry.expires < now || key === author || entry.peer.equals(this.init.peerId)) {
        continue
      }
      if (targets != null ? !targets.has(key) : (value !== UNKNOWN && queries.length > 0 && !queries.some(query => query.matches(value)))) {
        continue
      }
      if (receivedFrom?.equals(entry.nextHop) === true) {
        continue
      }
      if (!this.init.canReach(entry.nextHop)) {
        brokenRoute = true
        continue
      }
      const hop = entry.nextHop.toString()
      const group = nextHops.get(hop) ?? { peer: entry.nextHop, targets: [] }
      group.targets.push(entry.peer.toMultihash().bytes as Uint8Array<ArrayBuffer>)
      nextHops.set(hop, group)
    }
    if (brokenRoute) {
      // a next hop left since the last announcement: flood this one message to the neighbours, who match and route it on
      for (const peer of this.init.neighbours()) {
        if (receivedFrom?.equals(peer) !== true && peerKey(peer.toMultihash().bytes) !== author) {
          nextHops.set(peer.toString(), { peer, targets: [] })
        }
      }
    }
    for (const { peer, targets } of nextHops.values()) {
      this.counters.forwarded++
      const onward = { ...message, hops: message.hops + 1, targets: targets.length <= C.MAX_TARGETS ? targets : [] }
      this.send(peer, onward).catch(err => {
        this.log('could not send routed message on %s to %p - %e', message.channel, peer, err)
      })
    }
    return [...nextHops.values()].map(({ peer }) => peer)
  }

  private async send (peer: PeerId, message: RoutedMessage): Promise<void> {
    const deadline = deadlineSignal(this.init.routeTimeout, this.shutdownController.signal)
    const signal = deadline.signal
    try {
      const stream = await this.init.newStream(peer, signal)
      try {
        await pbStream(stream, { maxDataLength: C.MAX_ROUTED_MESSAGE_SIZE }).pb(RoutedMessage).write(message, { signal })
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    } finally {
      deadline.clear()
    }
  }
}

/** protons reports truncated or malformed bytes as a RangeError or plain Error: give those a name */
/** The deduplication key of a message whose author bytes were length-checked */
function seenKey (message: RoutedMessage): string {
  return `${peerKey(message.from)}/${message.seqno}`
}

const SIGNATURE_PREFIX = fromString(C.SIGNATURE_PREFIX)

/** The bytes a routed message's author signs: the message without signature, hop count and targets */
export function signedBytes (message: RoutedMessage): Uint8Array {
  return concat([SIGNATURE_PREFIX, RoutedMessage.encode({ ...message, signature: new Uint8Array(0), hops: 0, targets: [] })])
}
