/**
 * Say in words why a dial failed: refused, unreachable, TLS or timeout, from
 * whatever the transports threw (Node errno codes, libp2p's typed errors, or a
 * browser's bare WebSocket `error` Event, which carries no message at all).
 */
export function describeDialFailure (err: unknown, address?: string): string {
  const causes = flatten(err)
  const codes = causes.map(c => String((c as { code?: unknown }).code ?? ''))
  const names = causes.map(c => String((c as { name?: unknown }).name ?? ''))
  const messages = causes.map(c => String((c as { message?: unknown }).message ?? ''))
  const secure = address != null && /\/(wss|tls)\b/.test(address)
  if (codes.includes('ECONNREFUSED')) {
    return 'connection refused (nothing listens on that port)'
  }
  if (codes.some(c => /^ERR_TLS|CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(c)) || messages.some(m => /certificate|TLS|SSL/i.test(m))) {
    return `TLS failed: ${messages.find(m => /certificate|TLS|SSL/i.test(m)) ?? codes.find(c => c !== '') ?? 'the certificate was not accepted'}`
  }
  if (codes.some(c => c === 'EHOSTUNREACH' || c === 'ENETUNREACH' || c === 'EADDRNOTAVAIL' || c === 'ENOTFOUND')) {
    return `host unreachable (${codes.find(c => /UNREACH|EADDRNOTAVAIL|ENOTFOUND/.test(c))})`
  }
  if (codes.includes('ETIMEDOUT') || names.some(n => n === 'TimeoutError' || n === 'AbortError') || messages.some(m => /^Could not connect to /.test(m) || /timed? ?out|aborted/i.test(m))) {
    return 'timed out (no answer before the dial deadline)'
  }
  if (causes.some(c => isBareErrorEvent(c))) {
    // browsers deliberately report refused, unreachable and (for wss) TLS failures alike
    return secure
      ? 'connection failed: refused, unreachable, or its TLS certificate not accepted (the browser does not say which)'
      : 'connection failed: refused or unreachable (the browser does not say which)'
  }
  if (names.includes('NoValidAddressesError') || names.includes('DialDeniedError')) {
    return 'refused by this node\'s connection gater (browsers dial ws:// and private addresses only with allowLocalDial)'
  }
  return messages.find(m => m !== '') ?? (names.find(n => n !== '') ?? 'the dial failed without saying why')
}

/** The error, its causes and an AggregateError's errors, outermost first */
function flatten (err: unknown, depth = 0): unknown[] {
  if (err == null || depth > 5) {
    return []
  }
  const nested = (err as { errors?: unknown }).errors
  return [
    err,
    ...flatten((err as { cause?: unknown }).cause, depth + 1),
    ...(Array.isArray(nested) ? nested.flatMap(e => flatten(e, depth + 1)) : [])
  ]
}

/** A DOM `Event` of type `error` (what a failed browser WebSocket rejects with) */
function isBareErrorEvent (value: unknown): boolean {
  return typeof value === 'object' && value != null && (value as { type?: unknown }).type === 'error' && !('message' in value)
}
