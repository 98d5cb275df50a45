/** The keep-alive stream's protocol: one per member link, each end beating on it */
export const PROTOCOL_NAME = 'keepalive'
export const PROTOCOL_VERSION = '1.0.0'
export const PROTOCOL = `/membrane/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`

/**
 * Each end of a member link writes one byte this often, in ms. A beat costs
 * one byte and one muxer frame: a dedicated stream, never a fresh stream per
 * probe (a ping per stream negotiates multistream-select and, over WebRTC,
 * opens a data channel each time — what made a tight libp2p connection
 * monitor cut healthy links on a loaded machine).
 */
export const DEFAULT_BEAT_INTERVAL = 1_000

/**
 * A member link on which nothing arrived for this long, in ms, is aborted:
 * the neighbour went silent (process killed or frozen, tab gone, network
 * gone). Three and a half beats: two beats may go missing or late before a
 * link is judged. Time this node's own event loop stood still is not counted
 * (see {@link CHECK_INTERVAL}), so a slow loop does not cut healthy links.
 * With {@link CHECK_INTERVAL} and {@link CONFIRM_DELAY} a silent neighbour is
 * declared lost within 3.5 + 0.5 + 0.2 = 4.2 s of its last beat (issue 13.2:
 * within 5 s).
 */
export const DEFAULT_SILENCE_TIMEOUT = 3_500

/**
 * How often links are judged and beats sent, in ms. The lateness of each check
 * (the event loop was busy) is added to a stall total that every link's silence
 * is measured without: a peer in the same busy process could not beat either.
 */
export const CHECK_INTERVAL = 500

/**
 * A link found silent is judged again this much later, in ms, before it is
 * aborted. Node runs timers before it reads sockets: after a long stall the
 * first check sees silence while the beats still wait in the socket; the
 * confirmation runs after one pass of I/O.
 */
export const CONFIRM_DELAY = 200

/**
 * The most bytes one message on the stream may carry. Beats are one byte; a
 * few coalesce after a stall. A peer sending more is not beating: the stream is
 * aborted (and its link then falls silent unless other beats arrive).
 */
export const MAX_BEAT_BYTES = 64

/** Keep-alive streams per connection, each way: exactly one */
export const MAX_STREAMS = 1
