/**
 * The CardTrader normalizer against the reference model's own restatement of
 * the rules, on thousands of generated and fuzzed records: the same
 * accept/reject decision, the same reason, the same stored values.
 * No database.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizeCardtraderProduct } from '../src/transform/cardtrader'
import { Rejection } from '../src/transform/values'
import { canonicalJson, tryNormalize, type Row } from './model'
import { Prng, seedFromEnv, randomProduct, freshId, toWire, renderJson, activeMutations, changeProduct } from './helpers'

const seed = seedFromEnv()

type Outcome = { row: Row, reason?: undefined } | { row?: undefined, reason: string }

/** The engine's normalizer, its output read back as the columns the table would hold. */
function engine (rec: unknown): Outcome {
  const out: unknown[] = []
  try {
    normalizeCardtraderProduct(rec, out)
  } catch (e) {
    if (e instanceof Rejection) return { reason: e.reason }
    return { reason: `THREW ${(e as Error)?.name}: ${(e as Error)?.message}` }
  }
  const z = (v: unknown): unknown => (v === 0 ? 0 : v) // -0 and 0 are the same int4
  assert.equal(out.length, 15, 'the normalizer must fill all 15 columns')
  assert.equal(typeof out[8], 'string', 'properties must be JSON text')
  return {
    row: {
      blueprint_id: z(out[0]),
      external_stock_id: out[1],
      print_id: out[2],
      print_table: out[3],
      name_en: out[4],
      quantity: z(out[5]),
      price_cents: z(out[6]),
      price_currency: out[7],
      properties: canonicalJson(JSON.parse(out[8] as string)),
      description: out[9],
      user_data_field: out[10],
      graded: out[11],
      tag: out[12],
      game_id: z(out[13]),
      expansion_code: out[14],
    } as Row,
  }
}

const TRICKY: unknown[] = [
  undefined, null, true, false, 0, -0, 1, -1, 1.5, 2147483647, 2147483648, -2147483648, 1e21, 2 ** 53, 2 ** 53 + 2,
  '', ' ', '0', '1', '-1', '-0', ' 12 ', '1e2', '12.0', 'abc', 'true', 'false', '\u0000', 'ピカチュウ', '🐉', '\\u0000',
  'a\ud800', '\udc00x',
  'EUR', 'eur', 'x'.repeat(64), 'x'.repeat(65), [], [1], ['EUR'], {}, { cents: 5 }, { cents: '7', currency: 'EUR' }, { cents: 1.5 },
  { code: 'KHM' }, { code: null }, { code: 5 }, { condition: 'Mint' }, { a: { b: ['\u0000'] } },
]
const FIELDS = ['id', 'blueprint_id', 'quantity', 'price_cents', 'price_currency', 'price', 'properties_hash', 'name_en',
  'description', 'user_data_field', 'graded', 'tag', 'game_id', 'expansion']

interface Mismatch { record: string, model: string, engine: string }
interface Group { count: number, examples: Mismatch[] }

function describe (o: Outcome): string {
  return o.reason !== undefined ? `reject ${o.reason}` : 'accept'
}

function compare (rec: unknown, label: string, bad: Map<string, Group>): void {
  const m = tryNormalize(rec)
  const e = engine(rec)
  let kind: string | undefined
  if (m.reason !== e.reason) {
    kind = `${label}: model ${describe(m)}, engine ${describe(e)}`
  } else if (m.row !== undefined && e.row !== undefined) {
    const cols = (Object.keys(m.row) as Array<keyof Row>).filter(c => !Object.is(m.row[c], e.row[c]))
    if (cols.length > 0) kind = `${label}: values differ in ${cols.join(', ')}`
  }
  if (kind === undefined) return
  const g = bad.get(kind) ?? { count: 0, examples: [] }
  g.count++
  if (g.examples.length < 2) {
    g.examples.push({
      record: JSON.stringify(rec)?.slice(0, 240) ?? String(rec),
      model: JSON.stringify(m.row ?? m.reason)?.slice(0, 160),
      engine: JSON.stringify(e.row ?? e.reason)?.slice(0, 160),
    })
  }
  bad.set(kind, g)
}

function report (bad: Map<string, Group>): string {
  const lines = [`${bad.size} kinds of disagreement (seed ${seed}):`]
  for (const [kind, g] of bad) {
    lines.push(`- ${kind} (${g.count} records)`)
    for (const x of g.examples) lines.push(`    record ${x.record}\n      model  ${x.model}\n      engine ${x.engine}`)
  }
  return lines.join('\n')
}

test(`the normalizer agrees with the model on generated and mutated records (seed ${seed})`, (t) => {
  const rng = new Prng(seed)
  const mutations = activeMutations()
  const bad = new Map<string, Group>()
  const style = { escape: 0.2, dupKeys: 0.02, ws: 0.2 }
  let n = 0
  // every mutation many times, each on a fresh product
  for (const m of mutations) {
    const times = /large/.test(m.name) ? 3 : 30 // megabyte-sized records are slow to build
    for (let i = 0; i < times; i++) {
      const wire = toWire(rng, randomProduct(rng, freshId(rng)))
      const rec = JSON.parse(renderJson(rng, m.apply(wire, rng), style))
      compare(rec, m.name, bad)
      n++
    }
  }
  // plain products in all their wire forms
  for (let i = 0; i < 3000; i++) {
    const p = randomProduct(rng, freshId(rng))
    compare(JSON.parse(renderJson(rng, toWire(rng, rng.chance(0.3) ? changeProduct(rng, p) : p), style)), 'valid product', bad)
    n++
  }
  // fuzz: one to three fields replaced by tricky values
  for (let i = 0; i < 5000; i++) {
    const wire = toWire(rng, randomProduct(rng, freshId(rng)))
    const changed: string[] = []
    for (let j = rng.int(1, 3); j > 0; j--) {
      const f = rng.pick(FIELDS)
      const v = rng.pick(TRICKY)
      if (v === undefined) delete wire[f]; else wire[f] = v
      changed.push(f)
    }
    compare(JSON.parse(renderJson(rng, wire, style)), 'fuzz', bad)
    n++
  }
  t.diagnostic(`${n} records compared`)
  assert.equal(bad.size, 0, report(bad))
})

// The disagreements found so far, one test each, named after what broke.

test('properties_hash holding the six characters "\\u0000" (backslash, u, 0000 — not a NUL) is accepted', () => {
  const rec = { id: 1, blueprint_id: 2, quantity: 1, price_cents: 100, properties_hash: { path: 'C:\\u0000\\dir' } }
  assert.equal(tryNormalize(rec).reason, undefined)
  assert.deepEqual(engine(rec).reason, undefined, 'the engine rejects a legitimate backslash sequence as nul_byte')
})

test('properties_hash holding the text "\\ud800" (backslash sequence, not a surrogate) is accepted', () => {
  const rec = { id: 1, blueprint_id: 2, quantity: 1, price_cents: 100, properties_hash: { note: 'x\\ud800y' } }
  assert.equal(tryNormalize(rec).reason, undefined)
  assert.deepEqual(engine(rec).reason, undefined, 'the engine rejects a legitimate backslash sequence as a lone surrogate')
})

test('a lone surrogate in a text column or id is rejected (UTF-8 cannot hold it; the writer would store U+FFFD)', () => {
  for (const rec of [
    { id: 1, blueprint_id: 2, quantity: 1, price_cents: 100, name_en: 'a\ud800b' },
    { id: 'k\udc00', blueprint_id: 2, quantity: 1, price_cents: 100 },
  ]) {
    assert.equal(tryNormalize(rec).reason, 'invalid_value')
    assert.equal(engine(rec).reason, 'invalid_value', `engine accepts ${JSON.stringify(rec)}`)
  }
})

test('an id of 40 emoji (40 characters, 80 UTF-16 units) fits external_stock_id varchar(64)', () => {
  const rec = { id: '🐉'.repeat(40), blueprint_id: 2, quantity: 1, price_cents: 100 }
  assert.equal(tryNormalize(rec).reason, undefined)
  assert.equal(engine(rec).reason, undefined, 'the engine counts UTF-16 units, PostgreSQL counts characters')
})

test('the model itself: one example per reject reason', () => {
  const base = { id: 1, blueprint_id: 2, quantity: 3, price_cents: 4 }
  const cases: Array<[unknown, string | undefined]> = [
    [base, undefined],
    [[base], 'not_an_object'],
    [null, 'not_an_object'],
    [{ ...base, id: undefined }, 'missing_field'],
    [{ ...base, id: true }, 'invalid_type'],
    [{ ...base, id: -1 }, 'invalid_value'],
    [{ ...base, blueprint_id: 0 }, 'out_of_range'],
    [{ ...base, quantity: '1.5' }, 'invalid_value'],
    [{ ...base, price_cents: { currency: 'EUR' } }, 'missing_field'],
    [{ ...base, price_currency: 'eur' }, 'invalid_value'],
    [{ ...base, name_en: 'a\u0000' }, 'nul_byte'],
    [{ ...base, description: 'x'.repeat(1_000_001) }, 'value_too_large'],
    [{ ...base, graded: 'yes' }, 'invalid_value'],
    [{ ...base, quantity: 'x', blueprint_id: 0 }, 'out_of_range'], // blueprint_id is checked first
  ]
  for (const [rec, reason] of cases) assert.equal(tryNormalize(rec).reason, reason, JSON.stringify(rec)?.slice(0, 100))
  const ok = tryNormalize({ ...base, price_cents: undefined, price: { cents: '250', currency: 'USD' }, graded: '0', name_en: 7, properties_hash: { b: 1, a: [true] } })
  assert.deepEqual(ok.row, {
    blueprint_id: 2, external_stock_id: '1', print_id: null, print_table: null, name_en: '7', quantity: 3, price_cents: 250,
    price_currency: 'USD', properties: '{"a":[true],"b":1}', description: null, user_data_field: null, graded: false, tag: null,
    game_id: null, expansion_code: null,
  })
})
