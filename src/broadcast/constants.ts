/**
 * The largest payload `publish()` accepts and subscribers deliver. Gossipsub
 * forwards a message whole to every mesh peer, so large payloads multiply
 * across the mesh; 64 KiB keeps a burst of messages inside one yamux window.
 */
export const MAX_MESSAGE_SIZE = 64 * 1024

/**
 * The longest topic name accepted. Topics travel in every RPC and are held per
 * peer by gossipsub, so they are kept short.
 */
export const MAX_TOPIC_LENGTH = 256

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
