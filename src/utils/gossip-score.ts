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
