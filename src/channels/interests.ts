import { TopicValidatorResult } from '@libp2p/gossipsub'
import * as C from './constants.js'
import { InvalidMessageError } from './errors.js'
import { Interest } from './pb/channels.js'
import { parseQuery } from './query.js'
import { assertChannelName, peerKey } from './validation.js'
import type { CompiledQuery } from './query.js'
import type { Message, TopicValidatorFn } from '@libp2p/gossipsub'
import type { Logger, PeerId } from '@libp2p/interface'

/** What a peer announced, and the neighbour its announcement first came from */
export interface PeerInterest {
  peer: PeerId
  seq: bigint
  expires: number
  /** The next hop towards `peer`: the reverse path of its announcement */
  nextHop: PeerId
  /** Channel name → queries; an empty list means every message */
  channels: Map<string, CompiledQuery[]>
}

/** One channel's part of this node's announcement */
export interface OwnInterest {
  channel: string
  queries: string[]
}

export interface InterestTableInit {
  /** Publish an encoded announcement on the interest topic */
  publish(data: Uint8Array): Promise<unknown>
  log: Logger
  /** How long this node's announcements stay valid, in ms */
  interestTtl: number
}

/**
 * Interest announcements on the gossipsub interest topic: this node's own
 * (signed by gossipsub's StrictSign), and the table of other peers', each
 * with the neighbour its announcement first arrived from.
 */
export class InterestTable {
  private readonly publish: (data: Uint8Array) => Promise<unknown>
  private readonly log: Logger
  private readonly interestTtl: number
  /** Announced interests by author (see {@link peerKey}) */
  private readonly interests = new Map<string, PeerInterest>()
  /** Announcements checked by the topic validator, handed to the message event without decoding twice */
  private readonly validated = new WeakMap<Message, PeerInterest>()
  /** Announcements taken into the table */
  private learned = 0
  private interestSeq = 0n
  /** Whether the last announcement listed any channel, so dropping the last one is announced too */
  private announcedInterest = false

  constructor (init: InterestTableInit) {
    this.publish = init.publish
    this.log = init.log
    this.interestTtl = init.interestTtl
  }

  /** How many announcements {@link learn} took into the table */
  announcementsLearned (): number {
    return this.learned
  }

  /** Peers' announced interests, keyed by {@link peerKey} of their peer id */
  entries (): IterableIterator<[string, PeerInterest]> {
    return this.interests.entries()
  }

  interestedPeers (channel: string): PeerId[] {
    const now = Date.now()
    return [...this.interests.values()]
      .filter(entry => entry.expires >= now && entry.channels.has(channel))
      .map(entry => entry.peer)
  }

  /** This node's announcement of `channels` */
  announcement (channels: OwnInterest[]): Interest {
    const now = BigInt(Date.now())
    this.interestSeq = this.interestSeq < now ? now : this.interestSeq + 1n
    return { seq: this.interestSeq, expires: now + BigInt(this.interestTtl), channels }
  }

  /** Whether an announcement is due: there is interest, or an earlier one must be withdrawn */
  due (channels: OwnInterest[]): boolean {
    return channels.length > 0 || this.announcedInterest
  }

  async announce (channels: OwnInterest[]): Promise<void> {
    if (!this.due(channels)) {
      return
    }
    try {
      await this.publish(Interest.encode(this.announcement(channels)))
      this.announcedInterest = channels.length > 0
      this.log.trace('announced interest in %d channels', channels.length)
    } catch (err) {
      // no neighbour yet: a neighbour joining the interest topic triggers the next announcement
      this.log.trace('could not announce interest - %e', err)
    }
  }

  /** Drop expired announcements */
  prune (): void {
    const now = Date.now()
    for (const [key, entry] of this.interests) {
      if (entry.expires < now) {
        this.interests.delete(key)
      }
    }
  }

  clear (): void {
    this.interests.clear()
    this.announcedInterest = false
  }

  /** The gossipsub validator of the interest topic */
  validator (): TopicValidatorFn {
    return (peer: PeerId, message: Message) => {
      if (message.type !== 'signed' || message.data.byteLength > C.MAX_INTEREST_SIZE) {
        return TopicValidatorResult.Reject
      }
      let interest: PeerInterest
      try {
        interest = parseInterest(message)
      } catch (err) {
        this.log('rejecting interest announcement from %p via %p - %e', message.from, peer, err)
        return TopicValidatorResult.Reject
      }
      const known = this.interests.get(peerKey(message.from.toMultihash().bytes))
      if (known != null && known.seq >= interest.seq) {
        return TopicValidatorResult.Ignore
      }
      if (known == null && this.interests.size >= C.MAX_INTEREST_PEERS) {
        return TopicValidatorResult.Ignore
      }
      if (interest.expires < Date.now()) {
        return TopicValidatorResult.Ignore
      }
      this.validated.set(message, interest)
      return TopicValidatorResult.Accept
    }
  }

  /** Record a validated announcement delivered by gossipsub */
  learn (message: Message & { type: 'signed' }, propagationSource: PeerId): void {
    const interest = this.validated.get(message)
    if (interest == null) {
      return
    }
    this.validated.delete(message)
    const key = peerKey(interest.peer.toMultihash().bytes)
    const known = this.interests.get(key)
    if (known != null && known.seq >= interest.seq) {
      return
    }
    // gossipsub delivers an announcement once, from the neighbour whose copy came first: the reverse path to its author
    interest.nextHop = propagationSource
    this.learned++
    if (interest.channels.size === 0) {
      this.interests.delete(key)
    } else {
      this.interests.set(key, interest)
    }
    this.log.trace('%p is interested in %d channels, next hop %p', interest.peer, interest.channels.size, propagationSource)
  }
}

/** Decode and check an announcement; throws on anything malformed */
export function parseInterest (message: Message & { type: 'signed' }): PeerInterest {
  const decoded = Interest.decode(message.data, {
    limits: { channels: C.MAX_INTEREST_CHANNELS, channels$: { queries: C.MAX_QUERIES_PER_CHANNEL } }
  })
  const expires = Number(decoded.expires)
  if (expires > Date.now() + C.MAX_INTEREST_TTL) {
    throw new InvalidMessageError(`announcement expires more than ${C.MAX_INTEREST_TTL} ms ahead`)
  }
  const channels = new Map<string, CompiledQuery[]>()
  for (const { channel, queries } of decoded.channels) {
    assertChannelName(channel)
    channels.set(channel, queries.map(parseQuery))
  }
  return { peer: message.from, seq: decoded.seq, expires, nextHop: message.from, channels }
}
