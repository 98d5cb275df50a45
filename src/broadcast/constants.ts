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
