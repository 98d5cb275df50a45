import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Offer {
  id: Uint8Array<ArrayBuffer>
  name: string
  size?: bigint
  resume: boolean
  meta: Uint8Array<ArrayBuffer>
}

export namespace Offer {
  let _codec: Codec<Offer>

  export const codec = (): Codec<Offer> => {
    if (_codec == null) {
      _codec = message<Offer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(18)
          w.string(obj.name)
        }

        if (obj.size != null) {
          w.uint32(24)
          w.uint64(obj.size)
        }

        if ((obj.resume != null && obj.resume !== false)) {
          w.uint32(32)
          w.bool(obj.resume)
        }

        if ((obj.meta != null && obj.meta.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.meta)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0),
          name: '',
          resume: false,
          meta: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.bytes()
              break
            }
            case 2: {
              obj.name = reader.string()
              break
            }
            case 3: {
              obj.size = reader.uint64()
              break
            }
            case 4: {
              obj.resume = reader.bool()
              break
            }
            case 5: {
              obj.meta = reader.bytes()
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
                field: `${prefix}.id`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.resume`,
                value: reader.bool()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.meta`,
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

  export interface OfferIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface OfferNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface OfferSizeFieldEvent {
    field: '$.size'
    value: bigint
  }

  export interface OfferResumeFieldEvent {
    field: '$.resume'
    value: boolean
  }

  export interface OfferMetaFieldEvent {
    field: '$.meta'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Offer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Offer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Offer>): Offer {
    return decodeMessage(buf, Offer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Offer>): Generator<OfferIdFieldEvent | OfferNameFieldEvent | OfferSizeFieldEvent | OfferResumeFieldEvent | OfferMetaFieldEvent> {
    return streamMessage(buf, Offer.codec(), opts)
  }
}

export interface Accept {
  status: Accept.Status
  offset: bigint
  window: number
  reason: string
  consumed: bigint
}

export namespace Accept {
  export enum Status {
    OK = 'OK',
    NO_HANDLER = 'NO_HANDLER',
    TOO_LARGE = 'TOO_LARGE',
    BUSY = 'BUSY',
    UNKNOWN = 'UNKNOWN',
    MALFORMED = 'MALFORMED'
  }

  enum __StatusValues {
    OK = 0,
    NO_HANDLER = 1,
    TOO_LARGE = 2,
    BUSY = 3,
    UNKNOWN = 4,
    MALFORMED = 5
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<Accept>

  export const codec = (): Codec<Accept> => {
    if (_codec == null) {
      _codec = message<Accept>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          Accept.Status.codec().encode(obj.status, w)
        }

        if ((obj.offset != null && obj.offset !== 0n)) {
          w.uint32(16)
          w.uint64(obj.offset)
        }

        if ((obj.window != null && obj.window !== 0)) {
          w.uint32(24)
          w.uint32(obj.window)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(34)
          w.string(obj.reason)
        }

        if ((obj.consumed != null && obj.consumed !== 0n)) {
          w.uint32(40)
          w.uint64(obj.consumed)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.OK,
          offset: 0n,
          window: 0,
          reason: '',
          consumed: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = Accept.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.offset = reader.uint64()
              break
            }
            case 3: {
              obj.window = reader.uint32()
              break
            }
            case 4: {
              obj.reason = reader.string()
              break
            }
            case 5: {
              obj.consumed = reader.uint64()
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
                value: Accept.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.offset`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.window`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.reason`,
                value: reader.string()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.consumed`,
                value: reader.uint64()
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

  export interface AcceptStatusFieldEvent {
    field: '$.status'
    value: Accept.Status
  }

  export interface AcceptOffsetFieldEvent {
    field: '$.offset'
    value: bigint
  }

  export interface AcceptWindowFieldEvent {
    field: '$.window'
    value: number
  }

  export interface AcceptReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export interface AcceptConsumedFieldEvent {
    field: '$.consumed'
    value: bigint
  }

  export function encode (obj: Partial<Accept>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Accept.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Accept>): Accept {
    return decodeMessage(buf, Accept.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Accept>): Generator<AcceptStatusFieldEvent | AcceptOffsetFieldEvent | AcceptWindowFieldEvent | AcceptReasonFieldEvent | AcceptConsumedFieldEvent> {
    return streamMessage(buf, Accept.codec(), opts)
  }
}

export interface Chunk {
  kind: Chunk.Kind
  data: Uint8Array<ArrayBuffer>
  digest: Uint8Array<ArrayBuffer>
  size: bigint
  reason: string
}

export namespace Chunk {
  export enum Kind {
    DATA = 'DATA',
    END = 'END',
    CANCEL = 'CANCEL'
  }

  enum __KindValues {
    DATA = 0,
    END = 1,
    CANCEL = 2
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  let _codec: Codec<Chunk>

  export const codec = (): Codec<Chunk> => {
    if (_codec == null) {
      _codec = message<Chunk>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __KindValues[obj.kind] !== 0) {
          w.uint32(8)
          Chunk.Kind.codec().encode(obj.kind, w)
        }

        if ((obj.data != null && obj.data.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.data)
        }

        if ((obj.digest != null && obj.digest.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.digest)
        }

        if ((obj.size != null && obj.size !== 0n)) {
          w.uint32(32)
          w.uint64(obj.size)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(42)
          w.string(obj.reason)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: Kind.DATA,
          data: uint8ArrayAlloc(0),
          digest: uint8ArrayAlloc(0),
          size: 0n,
          reason: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = Chunk.Kind.codec().decode(reader)
              break
            }
            case 2: {
              obj.data = reader.bytes()
              break
            }
            case 3: {
              obj.digest = reader.bytes()
              break
            }
            case 4: {
              obj.size = reader.uint64()
              break
            }
            case 5: {
              obj.reason = reader.string()
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
                field: `${prefix}.kind`,
                value: Chunk.Kind.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.data`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.digest`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.reason`,
                value: reader.string()
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

  export interface ChunkKindFieldEvent {
    field: '$.kind'
    value: Chunk.Kind
  }

  export interface ChunkDataFieldEvent {
    field: '$.data'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ChunkDigestFieldEvent {
    field: '$.digest'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ChunkSizeFieldEvent {
    field: '$.size'
    value: bigint
  }

  export interface ChunkReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export function encode (obj: Partial<Chunk>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Chunk.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Chunk>): Chunk {
    return decodeMessage(buf, Chunk.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Chunk>): Generator<ChunkKindFieldEvent | ChunkDataFieldEvent | ChunkDigestFieldEvent | ChunkSizeFieldEvent | ChunkReasonFieldEvent> {
    return streamMessage(buf, Chunk.codec(), opts)
  }
}

export interface Control {
  kind: Control.Kind
  consumed: bigint
  reason: string
}

export namespace Control {
  export enum Kind {
    ACK = 'ACK',
    DONE = 'DONE',
    CANCEL = 'CANCEL',
    INTEGRITY = 'INTEGRITY',
    TOO_LARGE = 'TOO_LARGE'
  }

  enum __KindValues {
    ACK = 0,
    DONE = 1,
    CANCEL = 2,
    INTEGRITY = 3,
    TOO_LARGE = 4
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  let _codec: Codec<Control>

  export const codec = (): Codec<Control> => {
    if (_codec == null) {
      _codec = message<Control>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __KindValues[obj.kind] !== 0) {
          w.uint32(8)
          Control.Kind.codec().encode(obj.kind, w)
        }

        if ((obj.consumed != null && obj.consumed !== 0n)) {
          w.uint32(16)
          w.uint64(obj.consumed)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(26)
          w.string(obj.reason)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: Kind.ACK,
          consumed: 0n,
          reason: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = Control.Kind.codec().decode(reader)
              break
            }
            case 2: {
              obj.consumed = reader.uint64()
              break
            }
            case 3: {
              obj.reason = reader.string()
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
                field: `${prefix}.kind`,
                value: Control.Kind.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.consumed`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.reason`,
                value: reader.string()
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

  export interface ControlKindFieldEvent {
    field: '$.kind'
    value: Control.Kind
  }

  export interface ControlConsumedFieldEvent {
    field: '$.consumed'
    value: bigint
  }

  export interface ControlReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export function encode (obj: Partial<Control>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Control.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Control>): Control {
    return decodeMessage(buf, Control.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Control>): Generator<ControlKindFieldEvent | ControlConsumedFieldEvent | ControlReasonFieldEvent> {
    return streamMessage(buf, Control.codec(), opts)
  }
}
