import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface IceRequest {
  counter: bigint
}

export namespace IceRequest {
  let _codec: Codec<IceRequest>

  export const codec = (): Codec<IceRequest> => {
    if (_codec == null) {
      _codec = message<IceRequest>((obj, w, opts = {}) => {
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

  export interface IceRequestCounterFieldEvent {
    field: '$.counter'
    value: bigint
  }

  export function encode (obj: Partial<IceRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, IceRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceRequest>): IceRequest {
    return decodeMessage(buf, IceRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceRequest>): Generator<IceRequestCounterFieldEvent> {
    return streamMessage(buf, IceRequest.codec(), opts)
  }
}

export interface IceChallenge {
  nonce: Uint8Array<ArrayBuffer>
  difficulty: number
}

export namespace IceChallenge {
  let _codec: Codec<IceChallenge>

  export const codec = (): Codec<IceChallenge> => {
    if (_codec == null) {
      _codec = message<IceChallenge>((obj, w, opts = {}) => {
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

  export interface IceChallengeNonceFieldEvent {
    field: '$.nonce'
    value: Uint8Array<ArrayBuffer>
  }

  export interface IceChallengeDifficultyFieldEvent {
    field: '$.difficulty'
    value: number
  }

  export function encode (obj: Partial<IceChallenge>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, IceChallenge.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceChallenge>): IceChallenge {
    return decodeMessage(buf, IceChallenge.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceChallenge>): Generator<IceChallengeNonceFieldEvent | IceChallengeDifficultyFieldEvent> {
    return streamMessage(buf, IceChallenge.codec(), opts)
  }
}

export interface IceResponse {
  stunPort: number
  challenge?: IceChallenge
  turnUrls: string[]
  username: string
  credential: string
  ttl: number
}

export namespace IceResponse {
  let _codec: Codec<IceResponse>

  export const codec = (): Codec<IceResponse> => {
    if (_codec == null) {
      _codec = message<IceResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.stunPort != null && obj.stunPort !== 0)) {
          w.uint32(8)
          w.uint32(obj.stunPort)
        }

        if (obj.challenge != null) {
          w.uint32(18)
          IceChallenge.codec().encode(obj.challenge, w)
        }

        if (obj.turnUrls != null && obj.turnUrls.length > 0) {
          for (const value of obj.turnUrls) {
            w.uint32(26)
            w.string(value)
          }
        }

        if ((obj.username != null && obj.username !== '')) {
          w.uint32(34)
          w.string(obj.username)
        }

        if ((obj.credential != null && obj.credential !== '')) {
          w.uint32(42)
          w.string(obj.credential)
        }

        if ((obj.ttl != null && obj.ttl !== 0)) {
          w.uint32(48)
          w.uint32(obj.ttl)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          stunPort: 0,
          turnUrls: [],
          username: '',
          credential: '',
          ttl: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.stunPort = reader.uint32()
              break
            }
            case 2: {
              obj.challenge = IceChallenge.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.challenge
              })
              break
            }
            case 3: {
              if (opts.limits?.turnUrls != null && obj.turnUrls.length === opts.limits.turnUrls) {
                throw new MaxLengthError('Decode error - repeated field "turnUrls" had too many elements')
              }

              obj.turnUrls.push(reader.string())
              break
            }
            case 4: {
              obj.username = reader.string()
              break
            }
            case 5: {
              obj.credential = reader.string()
              break
            }
            case 6: {
              obj.ttl = reader.uint32()
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
          turnUrls: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.stunPort`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield * IceChallenge.codec().stream(reader, reader.uint32(), `${prefix}.challenge`, {
                limits: opts.limits?.challenge
              })

              break
            }
            case 3: {
              if (opts.limits?.turnUrls != null && obj.turnUrls === opts.limits.turnUrls) {
                throw new MaxLengthError('Streaming decode error - repeated field "turnUrls" had too many elements')
              }

              yield {
                field: `${prefix}.turnUrls[]`,
                index: obj.turnUrls,
                value: reader.string()
              }

              obj.turnUrls++

              break
            }
            case 4: {
              yield {
                field: `${prefix}.username`,
                value: reader.string()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.credential`,
                value: reader.string()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.ttl`,
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

  export interface IceResponseStunPortFieldEvent {
    field: '$.stunPort'
    value: number
  }

  export interface IceResponseChallengeNonceFieldEvent {
    field: '$.challenge.nonce'
    value: Uint8Array<ArrayBuffer>
  }

  export interface IceResponseChallengeDifficultyFieldEvent {
    field: '$.challenge.difficulty'
    value: number
  }

  export interface IceResponseTurnUrlsFieldEvent {
    field: '$.turnUrls[]'
    index: number
    value: string
  }

  export interface IceResponseUsernameFieldEvent {
    field: '$.username'
    value: string
  }

  export interface IceResponseCredentialFieldEvent {
    field: '$.credential'
    value: string
  }

  export interface IceResponseTtlFieldEvent {
    field: '$.ttl'
    value: number
  }

  export function encode (obj: Partial<IceResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, IceResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceResponse>): IceResponse {
    return decodeMessage(buf, IceResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceResponse>): Generator<IceResponseStunPortFieldEvent | IceResponseChallengeNonceFieldEvent | IceResponseChallengeDifficultyFieldEvent | IceResponseTurnUrlsFieldEvent | IceResponseUsernameFieldEvent | IceResponseCredentialFieldEvent | IceResponseTtlFieldEvent> {
    return streamMessage(buf, IceResponse.codec(), opts)
  }
}
