import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Interest {
  seq: bigint
  expires: bigint
  channels: ChannelInterest[]
}

export namespace Interest {
  let _codec: Codec<Interest>

  export const codec = (): Codec<Interest> => {
    if (_codec == null) {
      _codec = message<Interest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.seq != null && obj.seq !== 0n)) {
          w.uint32(8)
          w.uint64(obj.seq)
        }

        if ((obj.expires != null && obj.expires !== 0n)) {
          w.uint32(16)
          w.uint64(obj.expires)
        }

        if (obj.channels != null && obj.channels.length > 0) {
          for (const value of obj.channels) {
            w.uint32(26)
            ChannelInterest.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          seq: 0n,
          expires: 0n,
          channels: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.seq = reader.uint64()
              break
            }
            case 2: {
              obj.expires = reader.uint64()
              break
            }
            case 3: {
              if (opts.limits?.channels != null && obj.channels.length === opts.limits.channels) {
                throw new MaxLengthError('Decode error - repeated field "channels" had too many elements')
              }

              obj.channels.push(ChannelInterest.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.channels$
              }))
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
          channels: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.expires`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              if (opts.limits?.channels != null && obj.channels === opts.limits.channels) {
                throw new MaxLengthError('Streaming decode error - repeated field "channels" had too many elements')
              }

              for (const evt of ChannelInterest.codec().stream(reader, reader.uint32(), `${prefix}.channels[]`, {
                limits: opts.limits?.channels$
              })) {
                yield {
                  ...evt,
                  index: obj.channels
                }
              }

              obj.channels++

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

  export interface InterestSeqFieldEvent {
    field: '$.seq'
    value: bigint
  }

  export interface InterestExpiresFieldEvent {
    field: '$.expires'
    value: bigint
  }

  export interface InterestChannelsChannelFieldEvent {
    field: '$.channels[].channel'
    value: string
    index: number
  }

  export interface InterestChannelsQueriesFieldEvent {
    field: '$.channels[].queries[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<Interest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Interest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Interest>): Interest {
    return decodeMessage(buf, Interest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Interest>): Generator<InterestSeqFieldEvent | InterestExpiresFieldEvent | InterestChannelsChannelFieldEvent | InterestChannelsQueriesFieldEvent> {
    return streamMessage(buf, Interest.codec(), opts)
  }
}

export interface ChannelInterest {
  channel: string
  queries: string[]
}

export namespace ChannelInterest {
  let _codec: Codec<ChannelInterest>

  export const codec = (): Codec<ChannelInterest> => {
    if (_codec == null) {
      _codec = message<ChannelInterest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.channel != null && obj.channel !== '')) {
          w.uint32(10)
          w.string(obj.channel)
        }

        if (obj.queries != null && obj.queries.length > 0) {
          for (const value of obj.queries) {
            w.uint32(18)
            w.string(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          channel: '',
          queries: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.channel = reader.string()
              break
            }
            case 2: {
              if (opts.limits?.queries != null && obj.queries.length === opts.limits.queries) {
                throw new MaxLengthError('Decode error - repeated field "queries" had too many elements')
              }

              obj.queries.push(reader.string())
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
          queries: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.channel`,
                value: reader.string()
              }
              break
            }
            case 2: {
              if (opts.limits?.queries != null && obj.queries === opts.limits.queries) {
                throw new MaxLengthError('Streaming decode error - repeated field "queries" had too many elements')
              }

              yield {
                field: `${prefix}.queries[]`,
                index: obj.queries,
                value: reader.string()
              }

              obj.queries++

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

  export interface ChannelInterestChannelFieldEvent {
    field: '$.channel'
    value: string
  }

  export interface ChannelInterestQueriesFieldEvent {
    field: '$.queries[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<ChannelInterest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ChannelInterest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChannelInterest>): ChannelInterest {
    return decodeMessage(buf, ChannelInterest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ChannelInterest>): Generator<ChannelInterestChannelFieldEvent | ChannelInterestQueriesFieldEvent> {
    return streamMessage(buf, ChannelInterest.codec(), opts)
  }
}

export interface RoutedMessage {
  channel: string
  data: Uint8Array<ArrayBuffer>
  from: Uint8Array<ArrayBuffer>
  seqno: bigint
  signature: Uint8Array<ArrayBuffer>
  hops: number
  targets: Uint8Array<ArrayBuffer>[]
}

export namespace RoutedMessage {
  let _codec: Codec<RoutedMessage>

  export const codec = (): Codec<RoutedMessage> => {
    if (_codec == null) {
      _codec = message<RoutedMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.channel != null && obj.channel !== '')) {
          w.uint32(10)
          w.string(obj.channel)
        }

        if ((obj.data != null && obj.data.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.data)
        }

        if ((obj.from != null && obj.from.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.from)
        }

        if ((obj.seqno != null && obj.seqno !== 0n)) {
          w.uint32(32)
          w.uint64(obj.seqno)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.signature)
        }

        if ((obj.hops != null && obj.hops !== 0)) {
          w.uint32(48)
          w.uint32(obj.hops)
        }

        if (obj.targets != null && obj.targets.length > 0) {
          for (const value of obj.targets) {
            w.uint32(58)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          channel: '',
          data: uint8ArrayAlloc(0),
          from: uint8ArrayAlloc(0),
          seqno: 0n,
          signature: uint8ArrayAlloc(0),
          hops: 0,
          targets: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.channel = reader.string()
              break
            }
            case 2: {
              obj.data = reader.bytes()
              break
            }
            case 3: {
              obj.from = reader.bytes()
              break
            }
            case 4: {
              obj.seqno = reader.uint64()
              break
            }
            case 5: {
              obj.signature = reader.bytes()
              break
            }
            case 6: {
              obj.hops = reader.uint32()
              break
            }
            case 7: {
              if (opts.limits?.targets != null && obj.targets.length === opts.limits.targets) {
                throw new MaxLengthError('Decode error - repeated field "targets" had too many elements')
              }

              obj.targets.push(reader.bytes())
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
          targets: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.channel`,
                value: reader.string()
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
                field: `${prefix}.from`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.seqno`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.hops`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              if (opts.limits?.targets != null && obj.targets === opts.limits.targets) {
                throw new MaxLengthError('Streaming decode error - repeated field "targets" had too many elements')
              }

              yield {
                field: `${prefix}.targets[]`,
                index: obj.targets,
                value: reader.bytes()
              }

              obj.targets++

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

  export interface RoutedMessageChannelFieldEvent {
    field: '$.channel'
    value: string
  }

  export interface RoutedMessageDataFieldEvent {
    field: '$.data'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoutedMessageFromFieldEvent {
    field: '$.from'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoutedMessageSeqnoFieldEvent {
    field: '$.seqno'
    value: bigint
  }

  export interface RoutedMessageSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoutedMessageHopsFieldEvent {
    field: '$.hops'
    value: number
  }

  export interface RoutedMessageTargetsFieldEvent {
    field: '$.targets[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<RoutedMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RoutedMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoutedMessage>): RoutedMessage {
    return decodeMessage(buf, RoutedMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoutedMessage>): Generator<RoutedMessageChannelFieldEvent | RoutedMessageDataFieldEvent | RoutedMessageFromFieldEvent | RoutedMessageSeqnoFieldEvent | RoutedMessageSignatureFieldEvent | RoutedMessageHopsFieldEvent | RoutedMessageTargetsFieldEvent> {
    return streamMessage(buf, RoutedMessage.codec(), opts)
  }
}
