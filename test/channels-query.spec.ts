import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compileQuery, decodeJson, encodeJson, parseQuery, MAX_QUERY_DEPTH, MAX_QUERY_SIZE } from '../src/index.js'

describe('query validation', () => {
  it('compiles whitelisted operators and matches like MongoDB', () => {
    const q = compileQuery({ type: { $in: [1, 4, 5] }, age: { $gt: 4 } })
    assert.equal(q.matches({ type: 4, age: 5 }), true)
    assert.equal(q.matches({ type: 4, age: 4 }), false)
    assert.equal(q.matches({ type: 2, age: 9 }), false)
    assert.equal(q.matches({ age: 9 }), false)
    assert.equal(q.matches('not an object'), false)

    const or = compileQuery({ $or: [{ name: 'rex' }, { tags: { $all: ['a', 'b'] } }], owner: { $exists: true } })
    assert.equal(or.matches({ name: 'rex', owner: 1 }), true)
    assert.equal(or.matches({ tags: ['b', 'c', 'a'], owner: null }), true)
    assert.equal(or.matches({ tags: ['b'], owner: 1 }), false)

    const nested = compileQuery({ 'pos.x': { $gte: 0, $lt: 10 }, legs: { $size: 4 }, items: { $elemMatch: { n: { $ne: 3 } } }, kind: { $not: { $eq: 'cat' } } })
    assert.equal(nested.matches({ pos: { x: 3 }, legs: [1, 2, 3, 4], items: [{ n: 3 }, { n: 4 }], kind: 'dog' }), true)
    assert.equal(nested.matches({ pos: { x: 3 }, legs: [1, 2, 3, 4], items: [{ n: 3 }], kind: 'dog' }), false)
    assert.equal(nested.matches({ pos: { x: 3 }, legs: [1, 2, 3, 4], items: [{ n: 4 }], kind: 'cat' }), false)
  })

  it('round-trips through JSON for announcements', () => {
    const q = parseQuery(JSON.stringify({ a: { $nin: [1, 2] }, $nor: [{ b: 1 }] }))
    assert.equal(q.matches({ a: 3, b: 2 }), true)
    assert.equal(q.matches({ a: 1, b: 2 }), false)
  })

  it('refuses operators that run code, unknown operators and $regex', () => {
    for (const query of [
      { $where: 'this.age > 4' },
      { $where: () => true },
      { a: { $function: { body: 'return 1' } } },
      { $expr: { $gt: ['$a', 1] } },
      { a: { $regex: '(a+)+$' } },
      { a: { $mod: [2, 0] } },
      { a: { $bogus: 1 } }
    ]) {
      assert.throws(() => compileQuery(query), { name: 'InvalidQueryError' }, JSON.stringify(query))
    }
    assert.throws(() => compileQuery({ $where: 'x' }), /runs code/)
  })

  it('refuses malformed operands and non-JSON values', () => {
    for (const query of [
      { $or: [] }, { $and: {} }, { a: { $in: 3 } }, { a: { $exists: 'yes' } }, { a: { $size: -1 } },
      { a: { $not: 1 } }, { a: /x/ }, { a: new Date() }, { a: Infinity }, { a: () => 1 }
    ]) {
      assert.throws(() => compileQuery(query), { name: 'InvalidQueryError' }, String(Object.keys(query)))
    }
    assert.throws(() => compileQuery([{ a: 1 }]), { name: 'InvalidQueryError' })
    assert.throws(() => compileQuery(null), { name: 'InvalidQueryError' })
    assert.throws(() => parseQuery('{not json'), { name: 'InvalidQueryError' })
  })

  it('refuses prototype keys anywhere, including dotted paths and parsed JSON', () => {
    assert.throws(() => parseQuery('{"__proto__": {"polluted": 1}}'), { name: 'UnsafeKeyError' })
    assert.throws(() => parseQuery('{"a": {"$elemMatch": {"constructor": 1}}}'), { name: 'UnsafeKeyError' })
    assert.throws(() => compileQuery({ 'a.prototype.b': 1 }), { name: 'UnsafeKeyError' })
    assert.throws(() => compileQuery({ $or: [{ constructor: { $exists: true } }] }), { name: 'UnsafeKeyError' })
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  it('refuses queries over the size, depth and value-count limits', () => {
    let deep: Record<string, unknown> = { x: 1 }
    for (let i = 0; i < MAX_QUERY_DEPTH + 1; i++) {
      deep = { $and: [deep] }
    }
    assert.throws(() => compileQuery(deep), { name: 'QueryTooLargeError' })
    assert.throws(() => compileQuery({ a: { $in: Array.from({ length: 300 }, (_, i) => i) } }), { name: 'QueryTooLargeError' })
    assert.throws(() => compileQuery({ a: 'x'.repeat(MAX_QUERY_SIZE) }), { name: 'QueryTooLargeError' })
    assert.throws(() => parseQuery(JSON.stringify({ a: 'x'.repeat(MAX_QUERY_SIZE) })), { name: 'QueryTooLargeError' })
    // a cyclic object stops at the depth limit instead of overflowing the stack
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.throws(() => compileQuery(cyclic), { name: 'QueryTooLargeError' })
  })
})

describe('JSON channel codec', () => {
  it('round-trips values and refuses bad payloads with typed errors', () => {
    assert.deepEqual(decodeJson(encodeJson({ a: [1, 'x', null] })), { a: [1, 'x', null] })
    assert.throws(() => decodeJson(new TextEncoder().encode('{oops')), { name: 'DecodeError' })
    assert.throws(() => decodeJson(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), { name: 'DecodeError' })
    assert.throws(() => decodeJson(new TextEncoder().encode('{"a":{"__proto__":{"x":1}}}')), { name: 'UnsafeKeyError' })
    assert.throws(() => decodeJson(new TextEncoder().encode('[{"constructor":{"prototype":1}}]')), { name: 'UnsafeKeyError' })
    assert.throws(() => encodeJson(undefined), { name: 'InvalidMessageError' })
    assert.throws(() => encodeJson({ n: 1n }), { name: 'InvalidMessageError' })
  })
})
