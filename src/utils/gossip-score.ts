import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import type { GossipSub } from '@libp2p/gossipsub'
import type { PeerScore } from '@libp2p/gossipsub/score'
import type { PeerId } from '@libp2p/interface'

/**
 * Gossipsub scores invalid messages (bad signature, failed validation) only on
 * topics that have score parameters. Membrane installs these on each topic it
 * joins, unless the app configured its own: each invalid message counts, the
 * penalty is the square of the count, so one mistake decays away within
 * seconds while a flood drives the sender below the graylist threshold (-80)
 * and its RPCs are ignored.
 */
export const INVALID_MESSAGE_SCORE = {
  topicWeight: 1,
  timeInMeshWeight: 0,
  firstMessageDeliveriesWeight: 0,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -20,
  invalidMessageDeliveriesDecay: 0.5
}

/**
 * Peer score parameters Membrane sets over gossipsub's defaults.
 *
 * IP colocation (P6) is off. Gossipsub counts the peers it has met from each
 * IP and, above 10, scores every peer from that IP down quadratically. In
 * Membrane that count is not a Sybil signal: members reach each other through
 * circuit relays (a relayed address carries the relay's IP), WebRTC and
 * shared NATs, so honest members share IPs. Worse, gossipsub retains the
 * stats of disconnected peers whose score is not positive, which with
 * {@link INVALID_MESSAGE_SCORE} is every well-behaved peer (score 0), for
 * `retainScore` (1 h), IPs included: the count grows with every peer a member
 * ever linked to, so after churn a long-lived member scores all its
 * neighbours below the graylist threshold (15 peers met: -125 < -80), drops
 * their messages and prunes them from its mesh, and never hears a broadcast
 * again (issue 6). Invalid messages and the behaviour penalty still score.
 */
export const PEER_SCORE_PARAMS = {
  IPColocationFactorWeight: 0
} as const

/** The gossipsub score keeper, when the pubsub service is @libp2p/gossipsub */
function peerScore (pubsub: GossipSub): PeerScore | undefined {
  return (pubsub as GossipSub & { score?: PeerScore }).score
}

/**
 * Installs {@link INVALID_MESSAGE_SCORE} on topics a service joins and removes
 * only those it installed, so a topic validator's `Reject` lowers the
 * sender's gossipsub score.
 */
export class TopicScores {
  private readonly pubsub: GossipSub
  private readonly installed = new Set<string>()

  constructor (pubsub: GossipSub) {
    this.pubsub = pubsub
  }

  install (topic: string): void {
    const score = peerScore(this.pubsub)
    if (score == null || score.params.topics[topic] != null) {
      return
    }
    score.params.topics[topic] = createTopicScoreParams(INVALID_MESSAGE_SCORE)
    this.installed.add(topic)
  }

  remove (topic: string): void {
    if (this.installed.delete(topic)) {
      const score = peerScore(this.pubsub)
      if (score != null) {
        delete score.params.topics[topic]
      }
    }
  }

  removeAll (): void {
    for (const topic of [...this.installed]) {
      this.remove(topic)
    }
  }
}

/**
 * Lower a peer's gossipsub score for misbehaviour outside gossipsub's own
 * messages (e.g. an invalid message on another protocol). Gossipsub squares
 * the accumulated behaviour penalty, so repeat offenders are graylisted.
 */
export function penalise (pubsub: GossipSub, peer: PeerId, penalty = 1): void {
  peerScore(pubsub)?.addPenalty(peer.toString(), penalty, 'membrane_invalid_message' as Parameters<PeerScore['addPenalty']>[2])
}
