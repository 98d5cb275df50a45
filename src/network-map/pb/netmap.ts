import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface NetmapRecord {
  peerId: Uint8Array<ArrayBuffer>
  seq: bigint
  expires: bigint
  neighbours: NetmapRecord.Neighbour[]
  alias?: string
  roles: string[]
  multiaddrs: Uint8Array<ArrayBuffer>[]
  departing: boolean
}

export namespace NetmapRecord {
  export enum LinkKind {
    DIRECT = 'DIRECT',
    RELAYED = 'RELAYED',
    CIRCUIT = 'CIRCUIT'
  }

  enum __LinkKindValues {
    DIRECT = 0,
    RELAYED = 1,
    CIRCUIT = 2
  }

  export namespace LinkKind {
    export const codec = (): Codec<LinkKind> => {
      return enumeration<LinkKind>(__LinkKindValues)
    }
  }

  export interface Neighbour {
    peerId: Uint8Array<ArrayBuffer>
    kind: NetmapRecord.LinkKind
    rtt?: number
    webrtc?: boolean
  }

  export namespace Neighbour {
    let _codec: Codec<Neighbour>

    export const codec = (): Codec<Neighbour> => {
      if (_codec == null) {
        _codec = message<Neighbour>((obj, w, opts = {}) => {
          if (opts.lengthDelimited !== false) {
            w.fork()
          }

          if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
            w.uint32(10)
            w.bytes(obj.peerId)
          }

          if (obj.kind != null && __LinkKindValues[obj.kind] !== 0) {
            w.uint32(16)
            NetmapRecord.LinkKind.codec().encode(obj.kind, w)
          }

          if (obj.rtt != null) {
            w.uint32(24)
            w.uint32(obj.rtt)
          }

          if (obj.webrtc != null) {
            w.uint32(32)
            w.bool(obj.webrtc)
          }

          if (opts.lengthDelimited !== false) {
            w.ldelim()
          }
        }, (reader, length, opts = {}) => {
          const obj: any = {
            peerId: uint8ArrayAlloc(0),
            kind: LinkKind.DIRECT
          }

          const end = length == null ? reader.len : reader.pos + length

          while (reader.pos < end) {
            const tag = reader.uint32()

            switch (tag >>> 3) {
              case 1: {
                obj.peerId = reader.bytes()
                break
              }
              case 2: {
                obj.kind = NetmapRecord.LinkKind.codec().decode(reader)
                break
              }
              case 3: {
                obj.rtt = reader.uint32()
                break
              }
              case 4: {
                obj.webrtc = reader.bool()
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
                  field: `${prefix}.peerId`,
                  value: reader.bytes()
                }
                break
              }
              case 2: {
                yield {
                  field: `${prefix}.kind`,
                  value: NetmapRecord.LinkKind.codec().decode(reader)
                }
                break
              }
              case 3: {
                yield {
                  field: `${prefix}.rtt`,
                  value: reader.uint32()
                }
                break
              }
              case 4: {
                yield {
                  field: `${prefix}.webrtc`,
                  value: reader.bool()
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

    export interface NeighbourPeerIdFieldEvent {
      field: '$.peerId'
      value: Uint8Array<ArrayBuffer>
    }

    export interface NeighbourKindFieldEvent {
      field: '$.kind'
      value: NetmapRecord.LinkKind
    }

    export interface NeighbourRttFieldEvent {
      field: '$.rtt'
      value: number
    }

    export interface NeighbourWebrtcFieldEvent {
      field: '$.webrtc'
      value: boolean
    }

    export function encode (obj: Partial<Neighbour>): Uint8Array<ArrayBuffer> {
      return encodeMessage(obj, Neighbour.codec())
    }

    export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Neighbour>): Neighbour {
      return decodeMessage(buf, Neighbour.codec(), opts)
    }

    export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Neighbour>): Generator<NeighbourPeerIdFieldEvent | NeighbourKindFieldEvent | NeighbourRttFieldEvent | NeighbourWebrtcFieldEvent> {
      return streamMessage(buf, Neighbour.codec(), opts)
    }
  }

  let _codec: Codec<NetmapRecord>

  export const codec = (): Codec<NetmapRecord> => {
    if (_codec == null) {
      _codec = message<NetmapRecord>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.peerId)
        }

        if ((obj.seq != null && obj.seq !== 0n)) {
          w.uint32(16)
          w.uint64(obj.seq)
        }

        if ((obj.expires != null && obj.expires !== 0n)) {
          w.uint32(24)
          w.uint64(obj.expires)
        }

        if (obj.neighbours != null && obj.neighbours.length > 0) {
          for (const value of obj.neighbours) {
            w.uint32(34)
            NetmapRecord.Neighbour.codec().encode(value, w)
          }
        }

        if (obj.alias != null) {
          w.uint32(42)
          w.string(obj.alias)
        }

        if (obj.roles != null && obj.roles.length > 0) {
          for (const value of obj.roles) {
            w.uint32(50)
            w.string(value)
          }
        }

        if (obj.multiaddrs != null && obj.multiaddrs.length > 0) {
          for (const value of obj.multiaddrs) {
            w.uint32(58)
            w.bytes(value)
          }
        }

        if ((obj.departing != null && obj.departing !== false)) {
          w.uint32(64)
          w.bool(obj.departing)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peerId: uint8ArrayAlloc(0),
          seq: 0n,
          expires: 0n,
          neighbours: [],
          roles: [],
          multiaddrs: [],
          departing: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peerId = reader.bytes()
              break
            }
            case 2: {
              obj.seq = reader.uint64()
              break
            }
            case 3: {
              obj.expires = reader.uint64()
              break
            }
            case 4: {
              if (opts.limits?.neighbours != null && obj.neighbours.length === opts.limits.neighbours) {
                throw new MaxLengthError('Decode error - repeated field "neighbours" had too many elements')
              }

              obj.neighbours.push(NetmapRecord.Neighbour.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.neighbours$
              }))
              break
            }
            case 5: {
              obj.alias = reader.string()
              break
            }
            case 6: {
              if (opts.limits?.roles != null && obj.roles.length === opts.limits.roles) {
                throw new MaxLengthError('Decode error - repeated field "roles" had too many elements')
              }

              obj.roles.push(reader.string())
              break
            }
            case 7: {
              if (opts.limits?.multiaddrs != null && obj.multiaddrs.length === opts.limits.multiaddrs) {
                throw new MaxLengthError('Decode error - repeated field "multiaddrs" had too many elements')
              }

              obj.multiaddrs.push(reader.bytes())
              break
            }
            case 8: {
              obj.departing = reader.bool()
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
          neighbours: 0,
          roles: 0,
          multiaddrs: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.expires`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              if (opts.limits?.neighbours != null && obj.neighbours === opts.limits.neighbours) {
                throw new MaxLengthError('Streaming decode error - repeated field "neighbours" had too many elements')
              }

              for (const evt of NetmapRecord.Neighbour.codec().stream(reader, reader.uint32(), `${prefix}.neighbours[]`, {
                limits: opts.limits?.neighbours$
              })) {
                yield {
                  ...evt,
                  index: obj.neighbours
                }
              }

              obj.neighbours++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.alias`,
                value: reader.string()
              }
              break
            }
            case 6: {
              if (opts.limits?.roles != null && obj.roles === opts.limits.roles) {
                throw new MaxLengthError('Streaming decode error - repeated field "roles" had too many elements')
              }

              yield {
                field: `${prefix}.roles[]`,
                index: obj.roles,
                value: reader.string()
              }

              obj.roles++

              break
            }
            case 7: {
              if (opts.limits?.multiaddrs != null && obj.multiaddrs === opts.limits.multiaddrs) {
                throw new MaxLengthError('Streaming decode error - repeated field "multiaddrs" had too many elements')
              }

              yield {
                field: `${prefix}.multiaddrs[]`,
                index: obj.multiaddrs,
                value: reader.bytes()
              }

              obj.multiaddrs++

              break
            }
            case 8: {
              yield {
                field: `${prefix}.departing`,
                value: reader.bool()
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

  export interface NetmapRecordPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface NetmapRecordSeqFieldEvent {
    field: '$.seq'
    value: bigint
  }

  export interface NetmapRecordExpiresFieldEvent {
    field: '$.expires'
    value: bigint
  }

  export interface NetmapRecordNeighboursPeerIdFieldEvent {
    field: '$.neighbours[].peerId'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface NetmapRecordNeighboursKindFieldEvent {
    field: '$.neighbours[].kind'
    value: NetmapRecord.LinkKind
    index: number
  }

  export interface NetmapRecordNeighboursRttFieldEvent {
    field: '$.neighbours[].rtt'
    value: number
    index: number
  }

  export interface NetmapRecordNeighboursWebrtcFieldEvent {
    field: '$.neighbours[].webrtc'
    value: boolean
    index: number
  }

  export interface NetmapRecordAliasFieldEvent {
    field: '$.alias'
    value: string
  }

  export interface NetmapRecordRolesFieldEvent {
    field: '$.roles[]'
    index: number
    value: string
  }

  export interface NetmapRecordMultiaddrsFieldEvent {
    field: '$.multiaddrs[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface NetmapRecordDepartingFieldEvent {
    field: '$.departing'
    value: boolean
  }

  export function encode (obj: Partial<NetmapRecord>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, NetmapRecord.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NetmapRecord>): NetmapRecord {
    return decodeMessage(buf, NetmapRecord.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NetmapRecord>): Generator<NetmapRecordPeerIdFieldEvent | NetmapRecordSeqFieldEvent | NetmapRecordExpiresFieldEvent | NetmapRecordNeighboursPeerIdFieldEvent | NetmapRecordNeighboursKindFieldEvent | NetmapRecordNeighboursRttFieldEvent | NetmapRecordNeighboursWebrtcFieldEvent | NetmapRecordAliasFieldEvent | NetmapRecordRolesFieldEvent | NetmapRecordMultiaddrsFieldEvent | NetmapRecordDepartingFieldEvent> {
    return streamMessage(buf, NetmapRecord.codec(), opts)
  }
}

export interface DigestEntry {
  peerId: Uint8Array<ArrayBuffer>
  seq: bigint
}

export namespace DigestEntry {
  let _codec: Codec<DigestEntry>

  export const codec = (): Codec<DigestEntry> => {
    if (_codec == null) {
      _codec = message<DigestEntry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.peerId)
        }

        if ((obj.seq != null && obj.seq !== 0n)) {
          w.uint32(16)
          w.uint64(obj.seq)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peerId: uint8ArrayAlloc(0),
          seq: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peerId = reader.bytes()
              break
            }
            case 2: {
              obj.seq = reader.uint64()
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
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.seq`,
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

  export interface DigestEntryPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DigestEntrySeqFieldEvent {
    field: '$.seq'
    value: bigint
  }

  export function encode (obj: Partial<DigestEntry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DigestEntry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DigestEntry>): DigestEntry {
    return decodeMessage(buf, DigestEntry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DigestEntry>): Generator<DigestEntryPeerIdFieldEvent | DigestEntrySeqFieldEvent> {
    return streamMessage(buf, DigestEntry.codec(), opts)
  }
}

export interface NetmapMessage {
  type: NetmapMessage.Type
  digest: DigestEntry[]
  records: Uint8Array<ArrayBuffer>[]
  want: Uint8Array<ArrayBuffer>[]
  more: boolean
  summary?: Summary
  scope?: bigint
  deltas: Uint8Array<ArrayBuffer>[]
}

export namespace NetmapMessage {
  export enum Type {
    PUSH = 'PUSH',
    SYNC = 'SYNC',
    SUMMARY = 'SUMMARY',
    RECORDS = 'RECORDS'
  }

  enum __TypeValues {
    PUSH = 0,
    SYNC = 1,
    SUMMARY = 2,
    RECORDS = 3
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<NetmapMessage>

  export const codec = (): Codec<NetmapMessage> => {
    if (_codec == null) {
      _codec = message<NetmapMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(8)
          NetmapMessage.Type.codec().encode(obj.type, w)
        }

        if (obj.digest != null && obj.digest.length > 0) {
          for (const value of obj.digest) {
            w.uint32(18)
            DigestEntry.codec().encode(value, w)
          }
        }

        if (obj.records != null && obj.records.length > 0) {
          for (const value of obj.records) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if (obj.want != null && obj.want.length > 0) {
          for (const value of obj.want) {
            w.uint32(34)
            w.bytes(value)
          }
        }

        if ((obj.more != null && obj.more !== false)) {
          w.uint32(40)
          w.bool(obj.more)
        }

        if (obj.summary != null) {
          w.uint32(50)
          Summary.codec().encode(obj.summary, w)
        }

        if (obj.scope != null) {
          w.uint32(57)
          w.fixed64(obj.scope)
        }

        if (obj.deltas != null && obj.deltas.length > 0) {
          for (const value of obj.deltas) {
            w.uint32(66)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          type: Type.PUSH,
          digest: [],
          records: [],
          want: [],
          more: false,
          deltas: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.type = NetmapMessage.Type.codec().decode(reader)
              break
            }
            case 2: {
              if (opts.limits?.digest != null && obj.digest.length === opts.limits.digest) {
                throw new MaxLengthError('Decode error - repeated field "digest" had too many elements')
              }

              obj.digest.push(DigestEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.digest$
              }))
              break
            }
            case 3: {
              if (opts.limits?.records != null && obj.records.length === opts.limits.records) {
                throw new MaxLengthError('Decode error - repeated field "records" had too many elements')
              }

              obj.records.push(reader.bytes())
              break
            }
            case 4: {
              if (opts.limits?.want != null && obj.want.length === opts.limits.want) {
                throw new MaxLengthError('Decode error - repeated field "want" had too many elements')
              }

              obj.want.push(reader.bytes())
              break
            }
            case 5: {
              obj.more = reader.bool()
              break
            }
            case 6: {
              obj.summary = Summary.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.summary
              })
              break
            }
            case 7: {
              obj.scope = reader.fixed64()
              break
            }
            case 8: {
              if (opts.limits?.deltas != null && obj.deltas.length === opts.limits.deltas) {
                throw new MaxLengthError('Decode error - repeated field "deltas" had too many elements')
              }

              obj.deltas.push(reader.bytes())
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
          digest: 0,
          records: 0,
          want: 0,
          deltas: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.type`,
                value: NetmapMessage.Type.codec().decode(reader)
              }
              break
            }
            case 2: {
              if (opts.limits?.digest != null && obj.digest === opts.limits.digest) {
                throw new MaxLengthError('Streaming decode error - repeated field "digest" had too many elements')
              }

              for (const evt of DigestEntry.codec().stream(reader, reader.uint32(), `${prefix}.digest[]`, {
                limits: opts.limits?.digest$
              })) {
                yield {
                  ...evt,
                  index: obj.digest
                }
              }

              obj.digest++

              break
            }
            case 3: {
              if (opts.limits?.records != null && obj.records === opts.limits.records) {
                throw new MaxLengthError('Streaming decode error - repeated field "records" had too many elements')
              }

              yield {
                field: `${prefix}.records[]`,
                index: obj.records,
                value: reader.bytes()
              }

              obj.records++

              break
            }
            case 4: {
              if (opts.limits?.want != null && obj.want === opts.limits.want) {
                throw new MaxLengthError('Streaming decode error - repeated field "want" had too many elements')
              }

              yield {
                field: `${prefix}.want[]`,
                index: obj.want,
                value: reader.bytes()
              }

              obj.want++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.more`,
                value: reader.bool()
              }
              break
            }
            case 6: {
              yield * Summary.codec().stream(reader, reader.uint32(), `${prefix}.summary`, {
                limits: opts.limits?.summary
              })

              break
            }
            case 7: {
              yield {
                field: `${prefix}.scope`,
                value: reader.fixed64()
              }
              break
            }
            case 8: {
              if (opts.limits?.deltas != null && obj.deltas === opts.limits.deltas) {
                throw new MaxLengthError('Streaming decode error - repeated field "deltas" had too many elements')
              }

              yield {
                field: `${prefix}.deltas[]`,
                index: obj.deltas,
                value: reader.bytes()
              }

              obj.deltas++

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

  export interface NetmapMessageTypeFieldEvent {
    field: '$.type'
    value: NetmapMessage.Type
  }

  export interface NetmapMessageDigestPeerIdFieldEvent {
    field: '$.digest[].peerId'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface NetmapMessageDigestSeqFieldEvent {
    field: '$.digest[].seq'
    value: bigint
    index: number
  }

  export interface NetmapMessageRecordsFieldEvent {
    field: '$.records[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface NetmapMessageWantFieldEvent {
    field: '$.want[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface NetmapMessageMoreFieldEvent {
    field: '$.more'
    value: boolean
  }

  export interface NetmapMessageSummaryCountFieldEvent {
    field: '$.summary.count'
    value: number
  }

  export interface NetmapMessageSummaryRootFieldEvent {
    field: '$.summary.root'
    value: bigint
  }

  export interface NetmapMessageSummaryBucketsFieldEvent {
    field: '$.summary.buckets[]'
    index: number
    value: bigint
  }

  export interface NetmapMessageScopeFieldEvent {
    field: '$.scope'
    value: bigint
  }

  export interface NetmapMessageDeltasFieldEvent {
    field: '$.deltas[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<NetmapMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, NetmapMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NetmapMessage>): NetmapMessage {
    return decodeMessage(buf, NetmapMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<NetmapMessage>): Generator<NetmapMessageTypeFieldEvent | NetmapMessageDigestPeerIdFieldEvent | NetmapMessageDigestSeqFieldEvent | NetmapMessageRecordsFieldEvent | NetmapMessageWantFieldEvent | NetmapMessageMoreFieldEvent | NetmapMessageSummaryCountFieldEvent | NetmapMessageSummaryRootFieldEvent | NetmapMessageSummaryBucketsFieldEvent | NetmapMessageScopeFieldEvent | NetmapMessageDeltasFieldEvent> {
    return streamMessage(buf, NetmapMessage.codec(), opts)
  }
}

export interface RecordDelta {
  peerId: Uint8Array<ArrayBuffer>
  baseSeq: bigint
  seq: bigint
  expires: bigint
  neighbours: RecordDelta.Slot[]
  signature: Uint8Array<ArrayBuffer>
}

export namespace RecordDelta {
  export interface Slot {
    base?: number
    rtt?: number
    neighbour?: Uint8Array<ArrayBuffer>
  }

  export namespace Slot {
    let _codec: Codec<Slot>

    export const codec = (): Codec<Slot> => {
      if (_codec == null) {
        _codec = message<Slot>((obj, w, opts = {}) => {
          if (opts.lengthDelimited !== false) {
            w.fork()
          }

          if (obj.base != null) {
            w.uint32(8)
            w.uint32(obj.base)
          }

          if (obj.rtt != null) {
            w.uint32(16)
            w.uint32(obj.rtt)
          }

          if (obj.neighbour != null) {
            w.uint32(26)
            w.bytes(obj.neighbour)
          }

          if (opts.lengthDelimited !== false) {
            w.ldelim()
          }
        }, (reader, length, opts = {}) => {
          const obj: any = {}

          const end = length == null ? reader.len : reader.pos + length

          while (reader.pos < end) {
            const tag = reader.uint32()

            switch (tag >>> 3) {
              case 1: {
                obj.base = reader.uint32()
                break
              }
              case 2: {
                obj.rtt = reader.uint32()
                break
              }
              case 3: {
                obj.neighbour = reader.bytes()
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
                  field: `${prefix}.base`,
                  value: reader.uint32()
                }
                break
              }
              case 2: {
                yield {
                  field: `${prefix}.rtt`,
                  value: reader.uint32()
                }
                break
              }
              case 3: {
                yield {
                  field: `${prefix}.neighbour`,
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

    export interface SlotBaseFieldEvent {
      field: '$.base'
      value: number
    }

    export interface SlotRttFieldEvent {
      field: '$.rtt'
      value: number
    }

    export interface SlotNeighbourFieldEvent {
      field: '$.neighbour'
      value: Uint8Array<ArrayBuffer>
    }

    export function encode (obj: Partial<Slot>): Uint8Array<ArrayBuffer> {
      return encodeMessage(obj, Slot.codec())
    }

    export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Slot>): Slot {
      return decodeMessage(buf, Slot.codec(), opts)
    }

    export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Slot>): Generator<SlotBaseFieldEvent | SlotRttFieldEvent | SlotNeighbourFieldEvent> {
      return streamMessage(buf, Slot.codec(), opts)
    }
  }

  let _codec: Codec<RecordDelta>

  export const codec = (): Codec<RecordDelta> => {
    if (_codec == null) {
      _codec = message<RecordDelta>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.peerId != null && obj.peerId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.peerId)
        }

        if ((obj.baseSeq != null && obj.baseSeq !== 0n)) {
          w.uint32(16)
          w.uint64(obj.baseSeq)
        }

        if ((obj.seq != null && obj.seq !== 0n)) {
          w.uint32(24)
          w.uint64(obj.seq)
        }

        if ((obj.expires != null && obj.expires !== 0n)) {
          w.uint32(32)
          w.uint64(obj.expires)
        }

        if (obj.neighbours != null && obj.neighbours.length > 0) {
          for (const value of obj.neighbours) {
            w.uint32(42)
            RecordDelta.Slot.codec().encode(value, w)
          }
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peerId: uint8ArrayAlloc(0),
          baseSeq: 0n,
          seq: 0n,
          expires: 0n,
          neighbours: [],
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peerId = reader.bytes()
              break
            }
            case 2: {
              obj.baseSeq = reader.uint64()
              break
            }
            case 3: {
              obj.seq = reader.uint64()
              break
            }
            case 4: {
              obj.expires = reader.uint64()
              break
            }
            case 5: {
              if (opts.limits?.neighbours != null && obj.neighbours.length === opts.limits.neighbours) {
                throw new MaxLengthError('Decode error - repeated field "neighbours" had too many elements')
              }

              obj.neighbours.push(RecordDelta.Slot.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.neighbours$
              }))
              break
            }
            case 6: {
              obj.signature = reader.bytes()
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
          neighbours: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.baseSeq`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.expires`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              if (opts.limits?.neighbours != null && obj.neighbours === opts.limits.neighbours) {
                throw new MaxLengthError('Streaming decode error - repeated field "neighbours" had too many elements')
              }

              for (const evt of RecordDelta.Slot.codec().stream(reader, reader.uint32(), `${prefix}.neighbours[]`, {
                limits: opts.limits?.neighbours$
              })) {
                yield {
                  ...evt,
                  index: obj.neighbours
                }
              }

              obj.neighbours++

              break
            }
            case 6: {
              yield {
                field: `${prefix}.signature`,
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

  export interface RecordDeltaPeerIdFieldEvent {
    field: '$.peerId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RecordDeltaBaseSeqFieldEvent {
    field: '$.baseSeq'
    value: bigint
  }

  export interface RecordDeltaSeqFieldEvent {
    field: '$.seq'
    value: bigint
  }

  export interface RecordDeltaExpiresFieldEvent {
    field: '$.expires'
    value: bigint
  }

  export interface RecordDeltaNeighboursBaseFieldEvent {
    field: '$.neighbours[].base'
    value: number
    index: number
  }

  export interface RecordDeltaNeighboursRttFieldEvent {
    field: '$.neighbours[].rtt'
    value: number
    index: number
  }

  export interface RecordDeltaNeighboursNeighbourFieldEvent {
    field: '$.neighbours[].neighbour'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface RecordDeltaSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<RecordDelta>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RecordDelta.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordDelta>): RecordDelta {
    return decodeMessage(buf, RecordDelta.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RecordDelta>): Generator<RecordDeltaPeerIdFieldEvent | RecordDeltaBaseSeqFieldEvent | RecordDeltaSeqFieldEvent | RecordDeltaExpiresFieldEvent | RecordDeltaNeighboursBaseFieldEvent | RecordDeltaNeighboursRttFieldEvent | RecordDeltaNeighboursNeighbourFieldEvent | RecordDeltaSignatureFieldEvent> {
    return streamMessage(buf, RecordDelta.codec(), opts)
  }
}

export interface Summary {
  count: number
  root: bigint
  buckets: bigint[]
}

export namespace Summary {
  let _codec: Codec<Summary>

  export const codec = (): Codec<Summary> => {
    if (_codec == null) {
      _codec = message<Summary>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.count != null && obj.count !== 0)) {
          w.uint32(8)
          w.uint32(obj.count)
        }

        if ((obj.root != null && obj.root !== 0n)) {
          w.uint32(17)
          w.fixed64(obj.root)
        }

        if (obj.buckets != null && obj.buckets.length > 0) {
          for (const value of obj.buckets) {
            w.uint32(25)
            w.fixed64(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          count: 0,
          root: 0n,
          buckets: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.count = reader.uint32()
              break
            }
            case 2: {
              obj.root = reader.fixed64()
              break
            }
            case 3: {
              if (opts.limits?.buckets != null && obj.buckets.length === opts.limits.buckets) {
                throw new MaxLengthError('Decode error - repeated field "buckets" had too many elements')
              }

              obj.buckets.push(reader.fixed64())
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
          buckets: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.count`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.root`,
                value: reader.fixed64()
              }
              break
            }
            case 3: {
              if (opts.limits?.buckets != null && obj.buckets === opts.limits.buckets) {
                throw new MaxLengthError('Streaming decode error - repeated field "buckets" had too many elements')
              }

              yield {
                field: `${prefix}.buckets[]`,
                index: obj.buckets,
                value: reader.fixed64()
              }

              obj.buckets++

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

  export interface SummaryCountFieldEvent {
    field: '$.count'
    value: number
  }

  export interface SummaryRootFieldEvent {
    field: '$.root'
    value: bigint
  }

  export interface SummaryBucketsFieldEvent {
    field: '$.buckets[]'
    index: number
    value: bigint
  }

  export function encode (obj: Partial<Summary>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Summary.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Summary>): Summary {
    return decodeMessage(buf, Summary.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Summary>): Generator<SummaryCountFieldEvent | SummaryRootFieldEvent | SummaryBucketsFieldEvent> {
    return streamMessage(buf, Summary.codec(), opts)
  }
}

export interface SignedEnvelope {
  publicKey: Uint8Array<ArrayBuffer>
  payloadType: Uint8Array<ArrayBuffer>
  payload: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace SignedEnvelope {
  let _codec: Codec<SignedEnvelope>

  export const codec = (): Codec<SignedEnvelope> => {
    if (_codec == null) {
      _codec = message<SignedEnvelope>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.publicKey != null && obj.publicKey.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.publicKey)
        }

        if ((obj.payloadType != null && obj.payloadType.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.payloadType)
        }

        if ((obj.payload != null && obj.payload.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.payload)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          publicKey: uint8ArrayAlloc(0),
          payloadType: uint8ArrayAlloc(0),
          payload: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.publicKey = reader.bytes()
              break
            }
            case 2: {
              obj.payloadType = reader.bytes()
              break
            }
            case 3: {
              obj.payload = reader.bytes()
              break
            }
            case 5: {
              obj.signature = reader.bytes()
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
                field: `${prefix}.publicKey`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.payloadType`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.payload`,
                value: reader.bytes()
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

  export interface SignedEnvelopePublicKeyFieldEvent {
    field: '$.publicKey'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedEnvelopePayloadTypeFieldEvent {
    field: '$.payloadType'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedEnvelopePayloadFieldEvent {
    field: '$.payload'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedEnvelopeSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SignedEnvelope>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SignedEnvelope.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedEnvelope>): SignedEnvelope {
    return decodeMessage(buf, SignedEnvelope.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedEnvelope>): Generator<SignedEnvelopePublicKeyFieldEvent | SignedEnvelopePayloadTypeFieldEvent | SignedEnvelopePayloadFieldEvent | SignedEnvelopeSignatureFieldEvent> {
    return streamMessage(buf, SignedEnvelope.codec(), opts)
  }
}
