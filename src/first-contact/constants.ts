/** The first retry after a failed first contact, ms: long enough not to hammer a restarting bootstrap peer */
export const DEFAULT_INITIAL_DELAY = 1000

/** The longest wait between retries, ms: a page left open finds the network within a minute of it returning */
export const DEFAULT_MAX_DELAY = 60_000

/** How long one dial to a bootstrap peer may take, ms (a WebSockets or WebRTC-direct handshake on a slow link) */
export const DEFAULT_DIAL_TIMEOUT = 10_000
