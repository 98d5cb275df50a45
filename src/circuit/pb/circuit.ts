import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface CircuitRequest {
  target: Uint8Array<ArrayBuffer>
  route: Uint8Array<ArrayBuffer>[]
  path: Uint8Array<ArrayBuffer>[]
  hops: number
  maxHops: number
  mode: CircuitRequest.Mode
}

export namespace CircuitRequest {
  export enum Mode {
    SIGNALING = 'SIGNALING',
    RELAY = 'RELAY'
  }

  enum __ModeValues {
    SIGNALING = 0,
    RELAY = 1
  }

  export namespace Mode {
    export const codec = (): Codec<Mode> => {
      return enumeration<Mode>(__ModeValues)
    }
  }

  let _codec: Codec<CircuitRequest>

  export const codec = (): Codec<CircuitRequest> => {
    if (_codec == null) {
      _codec = message<CircuitRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.target != null && obj.target.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.target)
        }

        if (obj.route != null && obj.route.length > 0) {
          for (const value of obj.route) {
            w.uint32(18)
            w.bytes(value)
          }
        }

        if (obj.path != null && obj.path.length > 0) {
          for (const value of obj.path) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if ((obj.hops != null && obj.hops !== 0)) {
          w.uint32(32)
          w.uint32(obj.hops)
        }

        if ((obj.maxHops != null && obj.maxHops !== 0)) {
          w.uint32(40)
          w.uint32(obj.maxHops)
        }

        if (obj.mode != null && __ModeValues[obj.mode] !== 0) {
          w.uint32(48)
          CircuitRequest.Mode.codec().encode(obj.mode, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          target: uint8ArrayAlloc(0),
          route: [],
          path: [],
          hops: 0,
          maxHops: 0,
          mode: Mode.SIGNALING
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.target = reader.bytes()
              break
            }
            case 2: {
              if (opts.limits?.route != null && obj.route.length === opts.limits.route) {
                throw new MaxLengthError('Decode error - repeated field "route" had too many elements')
              }

              obj.route.push(reader.bytes())
              break
            }
            case 3: {
              if (opts.limits?.path != null && obj.path.length === opts.limits.path) {
                throw new MaxLengthError('Decode error - repeated field "path" had too many elements')
              }

              obj.path.push(reader.bytes())
              break
            }
            case 4: {
              obj.hops = reader.uint32()
              break
            }
            case 5: {
              obj.maxHops = reader.uint32()
              break
            }
            case 6: {
              obj.mode = CircuitRequest.Mode.codec().decode(reader)
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          route: 0,
          path: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.target`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              if (opts.limits?.route != null && obj.route === opts.limits.route) {
                throw new MaxLengthError('Streaming decode error - repeated field "route" had too many elements')
              }

              yield {
                field: `${prefix}.route[]`,
                index: obj.route,
                value: reader.bytes()
              }

              obj.route++

              break
            }
            case 3: {
              if (opts.limits?.path != null && obj.path === opts.limits.path) {
                throw new MaxLengthError('Streaming decode error - repeated field "path" had too many elements')
              }

              yield {
                field: `${prefix}.path[]`,
                index: obj.path,
                value: reader.bytes()
              }

              obj.path++

              break
            }
            case 4: {
              yield {
                field: `${prefix}.hops`,
                value: reader.uint32()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.maxHops`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.mode`,
                value: CircuitRequest.Mode.codec().decode(reader)
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface CircuitRequestTargetFieldEvent {
    field: '$.target'
    value: Uint8Array<ArrayBuffer>
  }

  export interface CircuitRequestRouteFieldEvent {
    field: '$.route[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface CircuitRequestPathFieldEvent {
    field: '$.path[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface CircuitRequestHopsFieldEvent {
    field: '$.hops'
    value: number
  }

  export interface CircuitRequestMaxHopsFieldEvent {
    field: '$.maxHops'
    value: number
  }

  export interface CircuitRequestModeFieldEvent {
    field: '$.mode'
    value: CircuitRequest.Mode
  }

  export function encode (obj: Partial<CircuitRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, CircuitRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CircuitRequest>): CircuitRequest {
    return decodeMessage(buf, CircuitRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CircuitRequest>): Generator<CircuitRequestTargetFieldEvent | CircuitRequestRouteFieldEvent | CircuitRequestPathFieldEvent | CircuitRequestHopsFieldEvent | CircuitRequestMaxHopsFieldEvent | CircuitRequestModeFieldEvent> {
    return streamMessage(buf, CircuitRequest.codec(), opts)
  }
}

export interface CircuitResponse {
  status: CircuitResponse.Status
  reason: string
  from: Uint8Array<ArrayBuffer>
}

export namespace CircuitResponse {
  export enum Status {
    UNUSED = 'UNUSED',
    OK = 'OK',
    NO_ROUTE = 'NO_ROUTE',
    LIMIT_EXCEEDED = 'LIMIT_EXCEEDED',
    RATE_LIMITED = 'RATE_LIMITED',
    HOP_LIMIT = 'HOP_LIMIT',
    LOOP = 'LOOP',
    MALFORMED = 'MALFORMED',
    TARGET_REFUSED = 'TARGET_REFUSED',
    CONNECTION_FAILED = 'CONNECTION_FAILED',
    TIMEOUT = 'TIMEOUT'
  }

  enum __StatusValues {
    UNUSED = 0,
    OK = 100,
    NO_ROUTE = 200,
    LIMIT_EXCEEDED = 201,
    RATE_LIMITED = 202,
    HOP_LIMIT = 203,
    LOOP = 204,
    MALFORMED = 300,
    TARGET_REFUSED = 400,
    CONNECTION_FAILED = 401,
    TIMEOUT = 402
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<CircuitResponse>

  export const codec = (): Codec<CircuitResponse> => {
    if (_codec == null) {
      _codec = message<CircuitResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          CircuitResponse.Status.codec().encode(obj.status, w)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(18)
          w.string(obj.reason)
        }

        if ((obj.from != null && obj.from.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.from)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.UNUSED,
          reason: '',
          from: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = CircuitResponse.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.reason = reader.string()
              break
            }
            case 3: {
              obj.from = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: CircuitResponse.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.reason`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.from`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface CircuitResponseStatusFieldEvent {
    field: '$.status'
    value: CircuitResponse.Status
  }

  export interface CircuitResponseReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export interface CircuitResponseFromFieldEvent {
    field: '$.from'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<CircuitResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, CircuitResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CircuitResponse>): CircuitResponse {
    return decodeMessage(buf, CircuitResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CircuitResponse>): Generator<CircuitResponseStatusFieldEvent | CircuitResponseReasonFieldEvent | CircuitResponseFromFieldEvent> {
    return streamMessage(buf, CircuitResponse.codec(), opts)
  }
}
