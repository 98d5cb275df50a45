import siftModule from 'sift'
import { MAX_QUERY_DEPTH, MAX_QUERY_NODES, MAX_QUERY_SIZE } from './constants.js'
import { InvalidQueryError, QueryTooLargeError, UnsafeKeyError } from './errors.js'

// sift is CommonJS: Node hands over module.exports (whose `default` is the tester), ESM bundlers the tester itself
const sift = ((siftModule as { default?: unknown }).default ?? siftModule) as typeof siftModule.default

/** A MongoDB-style query over a channel's decoded values, e.g. `{ age: { $gt: 4 } }` */
export type Query = Record<string, unknown>

/** A validated query: its canonical JSON and the compiled matcher */
export interface CompiledQuery {
  json: string
  matches: (value: unknown) => boolean
}

/**
 * The operators a query may use. `$regex` is excluded: JavaScript's RegExp
 * backtracks, a pattern as short as `(a+)+$` takes exponential time, and every
 * forwarder evaluates announced (remote) queries against every message - a
 * length cap cannot make that safe. `$where`, `$function`, `$expr` and the
 * rest are refused because they run code or are not needed.
 */
export const QUERY_OPERATORS: ReadonlySet<string> = new Set([
  '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin',
  '$and', '$or', '$nor', '$not', '$exists', '$size', '$all', '$elemMatch'
])

/** Keys that could reach an object's prototype if a value were ever merged or assigned */
export const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

const CODE_OPERATORS = new Set(['$where', '$function', '$expr', '$accumulator'])
const ARRAY_OPERATORS = new Set(['$in', '$nin', '$all'])
const LOGICAL_OPERATORS = new Set(['$and', '$or', '$nor'])

interface Limits { depth: number, nodes: number }

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value == null || Array.isArray(value)) {
    return false
  }
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Throws an {@link UnsafeKeyError} when `key`, or a segment of a dotted path, is a prototype key */
export function assertSafeKey (key: string): void {
  if (UNSAFE_KEYS.has(key) || key.split('.').some(segment => UNSAFE_KEYS.has(segment))) {
    throw new UnsafeKeyError(`key "${key}" is not allowed`)
  }
}

function checkOperator (op: string, operand: unknown): void {
  if (CODE_OPERATORS.has(op)) {
    throw new InvalidQueryError(`operator ${op} runs code and is not allowed`)
  }
  if (!QUERY_OPERATORS.has(op)) {
    throw new InvalidQueryError(`unknown or unsupported operator ${op}`)
  }
  if (LOGICAL_OPERATORS.has(op) && (!Array.isArray(operand) || operand.length === 0 || !operand.every(isPlainObject))) {
    throw new InvalidQueryError(`${op} takes a non-empty array of queries`)
  }
  if (ARRAY_OPERATORS.has(op) && !Array.isArray(operand)) {
    throw new InvalidQueryError(`${op} takes an array`)
  }
  if ((op === '$not' || op === '$elemMatch') && !isPlainObject(operand)) {
    throw new InvalidQueryError(`${op} takes an object`)
  }
  if (op === '$exists' && typeof operand !== 'boolean') {
    throw new InvalidQueryError('$exists takes a boolean')
  }
  if (op === '$size' && !(Number.isInteger(operand) && (operand as number) >= 0)) {
    throw new InvalidQueryError('$size takes a non-negative integer')
  }
}

function walk (value: unknown, depth: number, limits: Limits): void {
  if (depth > MAX_QUERY_DEPTH) {
    throw new QueryTooLargeError(`query is nested deeper than ${MAX_QUERY_DEPTH} levels`)
  }
  if (++limits.nodes > MAX_QUERY_NODES) {
    throw new QueryTooLargeError(`query has more than ${MAX_QUERY_NODES} values`)
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new InvalidQueryError('query numbers must be finite')
    }
    return
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      walk(item, depth + 1, limits)
    }
    return
  }
  if (!isPlainObject(value)) {
    throw new InvalidQueryError(`query values must be JSON (null, boolean, number, string, array, object), got ${Object.prototype.toString.call(value)}`)
  }
  for (const key of Object.keys(value)) {
    assertSafeKey(key)
    if (key.startsWith('$')) {
      checkOperator(key, value[key])
    }
    walk(value[key], depth + 1, limits)
  }
}

/**
 * Check `query` against the operator whitelist and the size, depth and key
 * rules, and compile it with `sift`.
 *
 * @throws {InvalidQueryError | QueryTooLargeError | UnsafeKeyError}
 * @example
 * ```ts
 * const q = compileQuery({ type: { $in: [1, 4, 5] }, age: { $gt: 4 } })
 * q.matches({ type: 4, age: 9 }) // true
 * ```
 */
export function compileQuery (query: unknown): CompiledQuery {
  if (!isPlainObject(query)) {
    throw new InvalidQueryError('a query must be a plain object')
  }
  walk(query, 0, { depth: 0, nodes: 0 })
  const json = JSON.stringify(query)
  if (new TextEncoder().encode(json).byteLength > MAX_QUERY_SIZE) {
    throw new QueryTooLargeError(`query is larger than ${MAX_QUERY_SIZE} bytes as JSON`)
  }
  let test: (value: unknown) => boolean
  try {
    test = sift(query)
  } catch (err) {
    throw new InvalidQueryError(`query does not compile: ${(err as Error).message}`)
  }
  return {
    json,
    matches: (value) => {
      try {
        return test(value)
      } catch {
        return false
      }
    }
  }
}

/**
 * Parse and compile a query received as JSON (an interest announcement)
 *
 * @throws {InvalidQueryError | QueryTooLargeError | UnsafeKeyError}
 */
export function parseQuery (json: string): CompiledQuery {
  if (json.length > MAX_QUERY_SIZE) {
    throw new QueryTooLargeError(`query is larger than ${MAX_QUERY_SIZE} bytes as JSON`)
  }
  let query: unknown
  try {
    query = JSON.parse(json)
  } catch (err) {
    throw new InvalidQueryError(`query is not JSON: ${(err as Error).message}`)
  }
  return compileQuery(query)
}
