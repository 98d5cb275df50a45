import { decodeMessage, encodeMessage, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Challenge {
  nonce: Uint8Array<ArrayBuffer>
  difficulty: number
}

export namespace Challenge {
  let _codec: Codec<Challenge>

  export const codec = (): Codec<Challenge> => {
    if (_codec == null) {
      _codec = message<Challenge>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.nonce != null && obj.nonce.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.nonce)
        }

        if ((obj.difficulty != null && obj.difficulty !== 0)) {
          w.uint32(16)
          w.uint32(obj.difficulty)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          nonce: uint8ArrayAlloc(0),
          difficulty: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.nonce = reader.bytes()
              break
            }
            case 2: {
              obj.difficulty = reader.uint32()
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
                field: `${prefix}.nonce`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.difficulty`,
                value: reader.uint32()
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

  export interface ChallengeNonceFieldEvent {
    field: '$.nonce'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ChallengeDifficultyFieldEvent {
    field: '$.difficulty'
    value: number
  }

  export function encode (obj: Partial<Challenge>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Challenge.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Challenge>): Challenge {
    return decodeMessage(buf, Challenge.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Challenge>): Generator<ChallengeNonceFieldEvent | ChallengeDifficultyFieldEvent> {
    return streamMessage(buf, Challenge.codec(), opts)
  }
}

export interface Solution {
  counter: bigint
}

export namespace Solution {
  let _codec: Codec<Solution>

  export const codec = (): Codec<Solution> => {
    if (_codec == null) {
      _codec = message<Solution>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.counter != null && obj.counter !== 0n)) {
          w.uint32(8)
          w.uint64(obj.counter)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          counter: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.counter = reader.uint64()
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
                field: `${prefix}.counter`,
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

  export interface SolutionCounterFieldEvent {
    field: '$.counter'
    value: bigint
  }

  export function encode (obj: Partial<Solution>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Solution.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Solution>): Solution {
    return decodeMessage(buf, Solution.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Solution>): Generator<SolutionCounterFieldEvent> {
    return streamMessage(buf, Solution.codec(), opts)
  }
}

export interface Verdict {
  admitted: boolean
  reason: string
}

export namespace Verdict {
  let _codec: Codec<Verdict>

  export const codec = (): Codec<Verdict> => {
    if (_codec == null) {
      _codec = message<Verdict>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.admitted != null && obj.admitted !== false)) {
          w.uint32(8)
          w.bool(obj.admitted)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(18)
          w.string(obj.reason)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          admitted: false,
          reason: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.admitted = reader.bool()
              break
            }
            case 2: {
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
                field: `${prefix}.admitted`,
                value: reader.bool()
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

  export interface VerdictAdmittedFieldEvent {
    field: '$.admitted'
    value: boolean
  }

  export interface VerdictReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export function encode (obj: Partial<Verdict>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Verdict.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Verdict>): Verdict {
    return decodeMessage(buf, Verdict.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Verdict>): Generator<VerdictAdmittedFieldEvent | VerdictReasonFieldEvent> {
    return streamMessage(buf, Verdict.codec(), opts)
  }
}
