import { UnsupportedProtocolError } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { fromString } from 'uint8arrays/from-string'
import { equals } from 'uint8arrays/equals'
import { lengthPrefixed } from '../utils/length-prefix.js'
import { MalformedCircuitMessageError } from './errors.js'
import { CircuitResponse } from './pb/circuit.js'
import { StreamConnection } from './stream-to-conn.js'
import type { StreamConnectionInit } from './stream-to-conn.js'
import type { SendResult } from '@libp2p/utils'

/** The multistream-select protocol id */
const MULTISTREAM = '/multistream/1.0.0\n'

/** One length-prefixed multistream-select message, as multistream-select writes it */
function lp (text: string): Uint8Array {
  return lengthPrefixed(fromString(text))
}

/** A varint at the start of `buf`: [value, bytes used], undefined while incomplete; at most `maxBytes` long */
function readVarint (buf: Uint8ArrayList, maxBytes: number): [number, number] | undefined {
  let value = 0
  for (let i = 0; i < Math.min(buf.byteLength, maxBytes); i++) {
    const b = buf.get(i)
    value += (b & 0x7f) * 2 ** (7 * i)
    if ((b & 0x80) === 0) {
      return [value, i + 1]
    }
  }
  if (buf.byteLength >= maxBytes) {
    throw new MalformedCircuitMessageError('circuit response length is not a short varint')
  }
  return undefined
}

export interface EarlyConnectionInit extends StreamConnectionInit {
  /** The largest circuit response accepted, bytes */
  maxResponseSize: number
  /** The encrypter the upgrader will select (the only one configured, e.g. `/noise`) */
  encrypter: string
}

/**
 * The opener's side of a circuit whose end-to-end handshake starts before the
 * far end has answered. The circuit request is already written; this
 * connection
 *
 * - reads the `CircuitResponse` off the front of the incoming bytes
 *   (`response` settles with it) and passes only what follows to the upgrader;
 * - answers the upgrader's multistream-select of the encrypter at once
 *   (optimistically, as multistream-select's lazy mode does) and strips the
 *   far end's real answer from the incoming bytes, checking it is the same.
 *
 * So the selection and Noise's first message travel right behind the request,
 * with no round trip waited for in between. The bytes on the wire are
 * exactly those of the sequential exchange (request, response, selection,
 * Noise), so targets and hops that expect that order need no change.
 */
export class EarlyOpenerConnection extends StreamConnection {
  /** Settles with the far end's answer to the circuit request */
  readonly response: Promise<CircuitResponse>
  private readonly resolveResponse: (r: CircuitResponse) => void
  private readonly rejectResponse: (err: Error) => void
  private readonly maxResponseSize: number
  private readonly select: Uint8Array
  private readonly answer: Uint8Array
  private readonly incoming = new Uint8ArrayList()
  private state: 'response' | 'answer' | 'data' | 'refused' = 'response'
  /** Whether the upgrader's first write was the expected selection, answered locally */
  private answeredLocally = false
  private firstWrite = true
  /** Set when the far end answered the selection with something else (e.g. `na`) */
  refusedProtocol = false

  constructor (init: EarlyConnectionInit) {
    super(init)
    const { promise, resolve, reject } = Promise.withResolvers<CircuitResponse>()
    this.response = promise
    this.resolveResponse = resolve
    this.rejectResponse = reject
    // an unread rejection (e.g. the stream closed before any answer) must not be unhandled
    promise.catch(() => {})
    this.maxResponseSize = init.maxResponseSize
    this.select = new Uint8ArrayList(lp(MULTISTREAM), lp(`${init.encrypter}\n`)).subarray()
    this.answer = this.select
    this.addEventListener('close', (evt) => {
      this.rejectResponse(evt.error ?? new MalformedCircuitMessageError('the circuit closed before its response'))
    })
  }

  sendData (data: Uint8ArrayList): SendResult {
    if (this.firstWrite) {
      this.firstWrite = false
      if (data.byteLength === this.select.byteLength && equals(data.subarray(), this.select)) {
        this.answeredLocally = true
        // what the far end will answer for a protocol it speaks: the same two lines
        queueMicrotask(() => { this.onData(new Uint8ArrayList(this.answer)) })
      }
    }
    return super.sendData(data)
  }

  protected receive (data: Uint8ArrayList | Uint8Array): void {
    if (this.state === 'data') {
      this.onData(data)
      return
    }
    if (this.state === 'refused') {
      return
    }
    this.incoming.append(data)
    try {
      this.parse()
    } catch (err) {
      this.rejectResponse(err as Error)
      this.abort(err as Error)
    }
  }

  private parse (): void {
    if (this.state === 'response') {
      const length = readVarint(this.incoming, 2)
      if (length == null) {
        return
      }
      const [size, used] = length
      if (size > this.maxResponseSize) {
        throw new MalformedCircuitMessageError(`circuit response of ${size} bytes, the limit is ${this.maxResponseSize}`)
      }
      if (this.incoming.byteLength < used + size) {
        return
      }
      const response = CircuitResponse.decode(this.incoming.sublist(used, used + size))
      this.incoming.consume(used + size)
      if (response.status !== CircuitResponse.Status.OK) {
        this.state = 'refused'
        this.resolveResponse(response)
        return
      }
      this.state = this.answeredLocally ? 'answer' : 'data'
      this.resolveResponse(response)
    }
    if (this.state === 'answer') {
      const n = Math.min(this.incoming.byteLength, this.answer.byteLength)
      if (!equals(this.incoming.subarray(0, n), this.answer.subarray(0, n))) {
        this.refusedProtocol = true
        throw new UnsupportedProtocolError(`the far end of the circuit does not speak ${new TextDecoder().decode(this.answer.subarray(lp(MULTISTREAM).byteLength)).trim()}`)
      }
      if (n < this.answer.byteLength) {
        return
      }
      this.incoming.consume(n)
      this.state = 'data'
    }
    if (this.incoming.byteLength > 0) {
      const rest = this.incoming.sublist()
      this.incoming.consume(rest.byteLength)
      this.onData(rest)
    }
  }
}
