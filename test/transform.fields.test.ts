/**
 * readFields (src/transform/json-fields.ts) against JSON.parse, the obvious
 * reference: on generated, mutated, malformed and byte-fuzzed records it
 * either declines, or gives every field JSON.parse gives (a `json` field's
 * text equal to JSON.stringify of the parsed value), and the CardTrader
 * normalizer then stores the same row or rejects for the same reason with
 * the same message. No database.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizeCardtraderProduct, CARDTRADER_FIELDS } from '../src/transform/cardtrader'
import { readFields, compileFieldPlan, JsonText } from '../src/transform/json-fields'
import { Rejection } from '../src/transform/values'
import { Prng, seedFromEnv, randomProduct, freshId, toWire, renderJson, activeMutations, malformedElement } from './helpers'

const seed = seedFromEnv()
const plan = compileFieldPlan(CARDTRADER_FIELDS)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function normalized (rec: unknown): string {
  const out: unknown[] = []
  try {
    normalizeCardtraderProduct(rec, out)
  } catch (e) {
    if (e instanceof Rejection) return `reject ${e.reason}: ${e.message}`
    if (e instanceof RangeError) return 'RangeError'
    throw e
  }
  return JSON.stringify(out, (_k, v: unknown) => Object.is(v, -0) ? '-0' : v)
}

/** Checks one record text; returns whether readFields took it (did not decline). */
function check (text: string, what: string): boolean {
  const buf = Buffer.from(text, 'utf8')
  // Embedded between other bytes, as in a partition: the reader must stay inside [start, end).
  const padded = Buffer.concat([Buffer.from('{"x":1},'), buf, Buffer.from(',{"y":"z"}')])
  const got = readFields(plan, padded, 8, 8 + buf.length)
  let parsed: unknown
  try {
    // What the engine parses: the record's bytes as UTF-8 (a lone surrogate in `text` became U+FFFD).
    parsed = JSON.parse(buf.toString('utf8'))
  } catch {
    assert.equal(got, null, `${what}: JSON.parse refuses ${JSON.stringify(text.slice(0, 200))}, readFields must decline`)
    return false
  }
  if (got === null) return false
  assert.ok(isObject(parsed), `${what}: readFields took a non-object ${text.slice(0, 100)}`)
  for (const k of CARDTRADER_FIELDS.values) {
    assert.ok(!(typeof parsed[k] === 'object' && parsed[k] !== null), `${what}: ${k} is a container, readFields must decline`)
    assert.ok(Object.is(got[k], parsed[k]), `${what}: field ${k}: ${String(got[k])} vs ${String(parsed[k])}`)
  }
  for (const [k, members] of Object.entries(CARDTRADER_FIELDS.pick ?? {})) {
    const p: unknown = parsed[k]; const g: unknown = got[k]
    if (isObject(p)) {
      assert.ok(isObject(g), `${what}: ${k} must be an object`)
      for (const m of members) assert.ok(Object.is(g[m], p[m]), `${what}: ${k}.${m}: ${String(g[m])} vs ${String(p[m])}`)
    } else if (Array.isArray(p)) {
      assert.deepStrictEqual(g, p, `${what}: ${k}`)
    } else {
      assert.ok(Object.is(g, p), `${what}: ${k}: ${String(g)} vs ${String(p)}`)
    }
  }
  for (const k of CARDTRADER_FIELDS.json ?? []) {
    const g: unknown = got[k]
    if (g instanceof JsonText) {
      assert.ok(isObject(parsed[k]), `${what}: ${k} taken as text must be an object`)
      assert.equal(g.text, JSON.stringify(parsed[k]), `${what}: ${k} text must be JSON.stringify's`)
    } else {
      assert.deepStrictEqual(g, parsed[k], `${what}: ${k}`)
    }
  }
  assert.equal(normalized(got), normalized(parsed), `${what}: the normalizer must store the same row or give the same rejection`)
  return true
}

const compact = { escape: 0, dupKeys: 0, ws: 0 }
const liberal = { escape: 0.3, dupKeys: 0.15, ws: 0.2 }

test('compact generated products are all read field by field, with JSON.parse\'s values', () => {
  const rng = new Prng(seed)
  let taken = 0
  for (let i = 0; i < 3000; i++) {
    const text = JSON.stringify(toWire(rng, randomProduct(rng, freshId(rng))))
    if (check(text, `seed ${seed} product ${i}`)) taken++
  }
  // The exports the engine sees are compact: a reader that declined them would only be slower, not wrong, so say it.
  assert.equal(taken, 3000, 'every compact product must be read without falling back')
})

test('liberal JSON, every mutation and malformed records: the same values or a decline', () => {
  const rng = new Prng(seed ^ 0x5bd1)
  for (const m of activeMutations(['text-too-large', 'properties-too-large', 'text-large-valid'])) {
    for (let i = 0; i < 40; i++) {
      const wire = toWire(rng, randomProduct(rng, freshId(rng)))
      const rec = m.apply(wire, rng)
      check(renderJson(rng, rec, rng.chance(0.5) ? compact : liberal), `seed ${seed} mutation ${m.name}`)
    }
  }
  for (let i = 0; i < 1500; i++) {
    const text = JSON.stringify(toWire(rng, randomProduct(rng, freshId(rng))))
    check(malformedElement(rng, text), `seed ${seed} malformed ${i}`)
    check(renderJson(rng, JSON.parse(text), liberal), `seed ${seed} liberal ${i}`)
  }
})

/** JSON values JSON.stringify may not write back as they are: numbers in every form, index-like and repeated keys, escapes, nesting. */
function oddValue (rng: Prng, depth: number): string {
  const r = rng.int(0, depth > 3 ? 5 : 8)
  switch (r) {
    case 0: return rng.pick(['0', '-0', '1', '-1', '10', '1.0', '1.5', '1e2', '1E+2', '-1e-2', '123456789012345', '1234567890123456', '12345678901234567890', '9007199254740993', '0.1', '5e-324', '1e400'])
    case 1: return rng.pick(['true', 'false', 'null'])
    case 2: return JSON.stringify(rng.pick(['', 'a', 'Mint', 'ピカ', '★', '🐉', 'x\u2028y', '\u007f']))
    case 3: return rng.pick(['"a\\"b"', '"\\u0041"', '"\\/"', '"\\n"', '"\\ud83d\\udc09"', '"\\ud800"'])
    case 4: return rng.pick(['" "', '"\\\\"', '"\\\\\\""'])
    case 5: return rng.pick(['{}', '[]'])
    case 6: return '[' + Array.from({ length: rng.int(0, 3) }, () => oddValue(rng, depth + 1)).join(',') + ']'
    default: {
      const keys = Array.from({ length: rng.int(0, 4) }, () => rng.pick(['a', 'b', 'condition', '0', '1', '12', '01', '4294967294', '4294967295', '-1', '__proto__', 'a\\u0062', 'é']))
      return '{' + keys.map(k => `"${k}":${oddValue(rng, depth + 1)}`).join(',') + '}'
    }
  }
}

test('properties_hash in odd but valid forms: its text is taken only when it is JSON.stringify\'s', () => {
  const rng = new Prng(seed ^ 0x9e37)
  let asText = 0
  for (let i = 0; i < 4000; i++) {
    const base = JSON.stringify(toWire(rng, { ...randomProduct(rng, freshId(rng)), properties_hash: { condition: 'Mint' } }))
    const props = oddValue(rng, 0)
    const sp = rng.chance(0.1) ? ' ' : ''
    const text = base.replace(/"properties_hash":/, () => `"properties_hash":${sp}${props},"p_old":`)
    if (check(text, `seed ${seed} props ${props}`)) {
      const got = readFields(plan, Buffer.from(text), 0, Buffer.byteLength(text))
      if (got?.properties_hash instanceof JsonText) asText++
    }
  }
  assert.ok(asText > 200, `some canonical objects must be taken as text (got ${asText})`)
})

test('properties_hash that JSON.stringify writes differently is never taken as its text', () => {
  const rng = new Prng(seed ^ 0x77)
  // The base must carry the member the odd forms replace (a random product omits it ~2.5% of the time).
  const base = JSON.stringify(toWire(rng, { ...randomProduct(rng, freshId(rng)), properties_hash: { condition: 'Mint' } }))
  const odd = ['{"a":-0}', '{"1":1,"b":2}', '{"b":1,"0":2}', '{"a":1,"a":2}', '{"a":1.0}', '{"a":1e2}', '{"a":0.5}', '{ "a":1}', '{"a" :1}', '{"a":1 }',
    '{"a\\u0062":1}', '{"a":"\\/"}', '{"a":[1,{"b":-0}]}', '{"a":{"b":1,"b":1}}', '{"a":12345678901234567}', '{"a":[1, 2]}', '{"4294967294":1}']
  for (const props of odd) {
    const text = base.replace(/"properties_hash":/, () => `"properties_hash":${props},"p_old":`)
    assert.ok(text.includes(props), 'the record carries the odd properties')
    check(text, `props ${props}`)
    const got = readFields(plan, Buffer.from(text), 0, Buffer.byteLength(text))
    assert.ok(!(got?.properties_hash instanceof JsonText), `${props} is not JSON.stringify's form: it must be parsed`)
  }
  // And the forms that are, taken as they are.
  for (const props of ['{}', '{"a":1}', '{"a":-1,"b":[true,null,"x"],"c":{"d":"é"}}', '{"01":1,"4294967295":2}', '{"__proto__":{"x":1}}']) {
    const text = base.replace(/"properties_hash":/, () => `"properties_hash":${props},"p_old":`)
    check(text, `props ${props}`)
    const got = readFields(plan, Buffer.from(text), 0, Buffer.byteLength(text))
    assert.ok(got?.properties_hash instanceof JsonText, `${props} is JSON.stringify's form: it is taken as text`)
  }
})

test('a key that only starts like the one seen at its position before is read as itself', () => {
  // The reader remembers the key at each member position; these differ from it by a suffix, a prefix or an escape.
  const base = (k: string, v: string): string => `{"id":7,${k}:${v},"blueprint_id":3,"quantity":1,"price_cents":5}`
  const seq = [
    base('"name_en"', '"A"'), base('"name_en2"', '"B"'), base('"name_e"', '"C"'), base('"name_en"', '"D"'),
    base('"name_e\\u006e"', '"E"'), base('"name_en"', '"F"'), base('"namE_en"', '"G"'), base('"name_en"', '"H"'),
    base('"price_cents"', '9'), base('"name_en"', '"I"'),
  ]
  for (let round = 0; round < 3; round++) for (const text of seq) check(text, `predicted key ${text}`)
})

test('byte-level fuzz: a flipped, dropped or inserted byte never yields a value JSON.parse would not', () => {
  const rng = new Prng(seed ^ 0x1234)
  const bytes = ['"', '\\', '{', '}', '[', ']', ',', ':', ' ', '0', '-', '.', 'e', 'u', 'n', 't', 'f', '\u0001', 'é']
  for (let i = 0; i < 6000; i++) {
    let text = JSON.stringify(toWire(rng, randomProduct(rng, freshId(rng))))
    for (let k = rng.int(1, 3); k > 0; k--) {
      const at = rng.int(0, text.length - 1)
      const op = rng.int(0, 2)
      if (op === 0) text = text.slice(0, at) + text.slice(at + 1)
      else if (op === 1) text = text.slice(0, at) + rng.pick(bytes) + text.slice(at)
      else text = text.slice(0, at) + rng.pick(bytes) + text.slice(at + 1)
    }
    check(text, `seed ${seed} fuzz ${i}`)
  }
})
