/**
 * The RFC 5389 wire format, as far as a binding responder needs it: parse a
 * binding request strictly, encode a success response with
 * XOR-MAPPED-ADDRESS and nothing else.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { crc32 } from 'node:zlib'
import { BINDING_REQUEST, BINDING_SUCCESS, FINGERPRINT, FINGERPRINT_XOR, HEADER_SIZE, MAGIC_COOKIE, MAX_REQUEST_SIZE, XOR_MAPPED_ADDRESS } from './constants.js'
import { MalformedStunMessageError } from './errors.js'

export interface BindingRequest {
  /** The 96-bit transaction id, echoed in the response */
  transactionId: Uint8Array
}

/**
 * Parse a datagram as a binding request. Throws MalformedStunMessageError for
 * anything else: other message types and classes, a wrong cookie or length,
 * truncated or overrunning attributes, a FINGERPRINT that is not last or does
 * not match, and any comprehension-required attribute (0x0000-0x7FFF: a
 * binding request to a server needs none; USERNAME and MESSAGE-INTEGRITY are
 * for ICE checks between peers, which this service does not take part in).
 */
export function parseBindingRequest (data: Uint8Array): BindingRequest {
  if (data.byteLength < HEADER_SIZE || data.byteLength > MAX_REQUEST_SIZE) {
    throw new MalformedStunMessageError(`datagram of ${data.byteLength} bytes`)
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const type = view.getUint16(0)
  if (type !== BINDING_REQUEST) {
    throw new MalformedStunMessageError(`message type 0x${type.toString(16)}`)
  }
  const length = view.getUint16(2)
  if (length !== data.byteLength - HEADER_SIZE || length % 4 !== 0) {
    throw new MalformedStunMessageError(`length field ${length} for ${data.byteLength - HEADER_SIZE} bytes of attributes`)
  }
  if (view.getUint32(4) !== MAGIC_COOKIE) {
    throw new MalformedStunMessageError('no magic cookie (RFC 3489 requests are not answered)')
  }
  let offset = HEADER_SIZE
  while (offset < data.byteLength) {
    if (offset + 4 > data.byteLength) {
      throw new MalformedStunMessageError('truncated attribute header')
    }
    const attr = view.getUint16(offset)
    const valueLength = view.getUint16(offset + 2)
    const end = offset + 4 + Math.ceil(valueLength / 4) * 4
    if (end > data.byteLength) {
      throw new MalformedStunMessageError(`attribute 0x${attr.toString(16)} overruns the message`)
    }
    if (attr < 0x8000) {
      throw new MalformedStunMessageError(`comprehension-required attribute 0x${attr.toString(16)}`)
    }
    if (attr === FINGERPRINT) {
      if (valueLength !== 4 || end !== data.byteLength) {
        throw new MalformedStunMessageError('FINGERPRINT must be the last attribute, 4 bytes long')
      }
      const expected = (crc32(data.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0
      if (view.getUint32(offset + 4) !== expected) {
        throw new MalformedStunMessageError('FINGERPRINT does not match')
      }
    }
    offset = end
  }
  return { transactionId: data.slice(8, 20) }
}

/**
 * A binding success response carrying only XOR-MAPPED-ADDRESS: 32 bytes for
 * IPv4, 44 for IPv6, so never more than the request (≥ 20 bytes) plus the
 * mapped address attribute
 */
export function encodeBindingSuccess (request: BindingRequest, address: string, port: number): Uint8Array {
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0
  if (family === 0) {
    throw new MalformedStunMessageError(`not an IP address: ${address}`)
  }
  const addressLength = family === 4 ? 4 : 16
  const out = new Uint8Array(HEADER_SIZE + 8 + addressLength)
  const view = new DataView(out.buffer)
  view.setUint16(0, BINDING_SUCCESS)
  view.setUint16(2, 4 + 4 + addressLength)
  view.setUint32(4, MAGIC_COOKIE)
  out.set(request.transactionId, 8)
  view.setUint16(20, XOR_MAPPED_ADDRESS)
  view.setUint16(22, 4 + addressLength)
  view.setUint8(24, 0)
  view.setUint8(25, family === 4 ? 0x01 : 0x02)
  view.setUint16(26, port ^ (MAGIC_COOKIE >>> 16))
  const bytes = family === 4 ? ipv4Bytes(address) : ipv6Bytes(address)
  // XOR with the cookie, then (IPv6) the transaction id
  const mask = out.subarray(4, 4 + addressLength)
  for (let i = 0; i < addressLength; i++) {
    out[28 + i] = bytes[i] ^ mask[i]
  }
  return out
}

function ipv4Bytes (address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map(Number))
}

function ipv6Bytes (address: string): Uint8Array {
  // an IPv4-mapped tail (::ffff:1.2.3.4) becomes two groups
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  let text = address
  if (v4 != null) {
    const [a, b, c, d] = v4[1].split('.').map(Number)
    text = address.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail = ''] = text.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = text.includes('::') ? (tail === '' ? [] : tail.split(':')) : []
  const groups = [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    const n = parseInt(g, 16)
    out[i * 2] = n >> 8
    out[i * 2 + 1] = n & 0xff
  })
  return out
}
