/** No route to the target: the hop is not connected to it and has no router, or the router found no path */
export class NoRouteError extends Error {
  static name = 'NoRouteError'
  name = 'NoRouteError'
}

/** A hop refused because one of its limits (circuits per peer, total circuits, relay circuits) was reached */
export class CircuitLimitError extends Error {
  static name = 'CircuitLimitError'
  name = 'CircuitLimitError'
}

/** A hop refused because the requesting neighbour sent too many circuit requests */
export class CircuitRateLimitError extends Error {
  static name = 'CircuitRateLimitError'
  name = 'CircuitRateLimitError'
}

/** The path would exceed the maximum number of relaying peers */
export class HopLimitError extends Error {
  static name = 'HopLimitError'
  name = 'HopLimitError'
}

/** A peer already on the path was asked to relay the circuit again */
export class CircuitLoopError extends Error {
  static name = 'CircuitLoopError'
  name = 'CircuitLoopError'
}

/** A circuit request or response was malformed, oversize or of the wrong kind */
export class MalformedCircuitMessageError extends Error {
  static name = 'MalformedCircuitMessageError'
  name = 'MalformedCircuitMessageError'
}

/** The target (or a hop on its behalf) refused the circuit, or the next hop could not be reached */
export class CircuitRefusedError extends Error {
  static name = 'CircuitRefusedError'
  name = 'CircuitRefusedError'
}

/** The circuit did not open, or Noise + yamux did not finish, before the deadline */
export class CircuitTimeoutError extends Error {
  static name = 'CircuitTimeoutError'
  name = 'CircuitTimeoutError'
}

/**
 * The circuit opened but the end-to-end Noise handshake failed: the bytes were
 * corrupted, or the peer at the far end is not the target (a hop redirected
 * the circuit). No connection was made.
 */
export class CircuitUpgradeError extends Error {
  static name = 'CircuitUpgradeError'
  name = 'CircuitUpgradeError'
}

/** The mesh circuit transport is not configured on this node */
export class CircuitTransportMissingError extends Error {
  static name = 'CircuitTransportMissingError'
  name = 'CircuitTransportMissingError'
}

/** WebRTC could not connect over the circuit and the relay fallback was disabled */
export class WebRTCUpgradeError extends Error {
  static name = 'WebRTCUpgradeError'
  name = 'WebRTCUpgradeError'
}
