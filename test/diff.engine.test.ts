/**
 * The engine diff (src/diff): the same randomized pairs of exports through
 * both diff paths must leave equal tables and equal reports, both equal to
 * the reference model; the jsonb text the workers compare is PostgreSQL's own
 * or nothing; a key lookup never decides from a hash; and what a foreign
 * writer's change between the read and the merge leads to.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import pino from 'pino'
import fs from 'node:fs'
import { applyExport, parseElements, type Row, type State } from './model'
import { DATABASE_URL, makePool, randomUser, removeTmp, Prng, seedFromEnv, writeExport, readUserRows, readNdjson, tmpPath, api, randomProduct, freshId, changeProduct, renderExport } from './helpers'
import { pgJsonbText, sameFlatJsonb } from '../src/diff/jsonb'
import { readExisting } from '../src/diff/read'
import { findSlot, hashBytes, indexRows, tableSize } from '../src/diff/store'
import { cardtraderInventory } from '../src/dataset/cardtrader'
import { BinaryWriter } from '../src/encode'
import { Partitioner, type Partition } from '../src/read/partitioner'
import { normalizeCardtraderProduct } from '../src/transform/cardtrader'
import { transformPartition } from '../src/transform/partition'
import { canonicalJson } from './model'
import { spawnCli } from './fault-helpers'

const seed = seedFromEnv()
const pool = makePool()

before(async () => { await api.migrate({ databaseUrl: DATABASE_URL }) })
after(async () => { await pool.end(); removeTmp() })

const COUNTS = ['read', 'valid', 'rejected', 'duplicates', 'unmapped', 'excluded', 'written', 'inserted', 'updated', 'unchanged', 'deleted'] as const

async function syncFile (userId: string, texts: string[], mode: 'mirror' | 'upsert', diff: 'engine' | 'database'): Promise<any> {
  const file = writeExport(texts, { format: 'json', separator: ',\n', pad: '\n' })
  return await api.sync({ input: file.path, userId, mode, diff, databaseUrl: DATABASE_URL, mapping: { source: 'none' }, partitionBytes: 4096, allowMassDelete: true })
}

const key = (p: { blueprint_id: number, id: number | string }): string => `${p.blueprint_id}|${String(p.id)}`

test(`randomized pairs of exports through both diff paths: equal tables, equal reports, both as the model (seed ${seed})`, { timeout: 240_000 }, async t => {
  t.diagnostic(`seed ${seed} (replay with BRX_SEED=${seed})`)
  const rng = new Prng(seed)
  for (let round = 0; round < 6; round++) {
    const mode = rng.chance(0.75) ? 'mirror' as const : 'upsert' as const
    const catalog = new Map<string, ReturnType<typeof randomProduct>>()
    for (let i = rng.int(50, 600); i > 0; i--) { const p = randomProduct(rng, freshId(rng)); catalog.set(key(p), p) }
    const first = renderExport(rng, [...catalog.values()], { rejectRate: 0.02 })
    const changeRate = rng.pick([0, 0.01, 0.05, 0.3])
    for (const [k, p] of [...catalog]) {
      if (rng.chance(0.03)) catalog.delete(k)
      else if (rng.chance(changeRate)) catalog.set(k, changeProduct(rng, p))
    }
    for (let i = rng.int(0, 40); i > 0; i--) { const p = randomProduct(rng, freshId(rng)); catalog.set(key(p), p) }
    const second = renderExport(rng, rng.shuffle([...catalog.values()]), { rejectRate: rng.pick([0, 0.03]), dupRate: rng.pick([0, 0.03, 0.2]) })

    const [a, b] = [randomUser(), randomUser()]
    const state: State = new Map()
    applyExport(state, a, parseElements(first), 'mirror')
    const expected = applyExport(state, a, parseElements(second), mode)
    await syncFile(a, first, 'mirror', 'database')
    await syncFile(b, first, 'mirror', 'engine')
    const ra = await syncFile(a, second, mode, 'database')
    const rb = await syncFile(b, second, mode, 'engine')
    const label = `round ${round} (${mode}, ${second.length} records)`
    assert.equal(ra.diff, 'database', label)
    assert.equal(rb.diff, 'engine', label)
    for (const k of COUNTS) {
      assert.equal(rb.rows[k], ra.rows[k], `${label}: report.rows.${k}: engine ${String(rb.rows[k])}, database ${String(ra.rows[k])}`)
      assert.equal(rb.rows[k], expected.counts[k], `${label}: report.rows.${k}: engine ${String(rb.rows[k])}, model ${String(expected.counts[k])}`)
    }
    const ta = await readUserRows(pool, a); const tb = await readUserRows(pool, b)
    assert.deepEqual([...tb.entries()], [...ta.entries()], `${label}: the tables differ`)
    const byKey = (m: Map<string, Row>): Array<[string, Row]> => [...m.entries()].sort((x, y) => x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)
    assert.deepEqual(byKey(tb), byKey(state.get(a) ?? new Map()), `${label}: the engine's table differs from the model`)
  }
})

/** Random JSON values with what jsonb normalizes: key order, duplicates, number forms, escapes, non-ASCII keys. */
function randomJson (rng: Prng, depth = 0): unknown {
  const r = rng.int(0, depth > 2 ? 5 : 7)
  switch (r) {
    case 0: return null
    case 1: return rng.chance(0.5)
    case 2: return rng.pick([0, -0, 1, -7, 42, 1.5, 0.1, -2.25, 1e21, 1e-7, 123456789012345, 1234567890123456789, 3.141592653589793, 2 ** 53, 5e-324, 1.7976931348623157e308])
    case 3: return rng.int(-1e9, 1e9) / rng.pick([1, 10, 1000, 7])
    case 4: case 5: return rng.pick(['', 'a', 'Grade "A"', 'back\\slash', 'tab\there', 'nl\n', '\u0001\u001f', 'é', '日本', '😀', '\u2028', '/', '\u007f'])
    case 6: return Array.from({ length: rng.int(0, 4) }, () => randomJson(rng, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (let i = rng.int(0, 6); i > 0; i--) o[rng.pick(['a', 'b', 'aa', 'ab', 'B', 'zz', 'é', 'ü', 'key', 'k', 'condition', 'foil', '10', '2', '', 'ñame', 'Z'])] = randomJson(rng, depth + 1)
      return o
    }
  }
}

test('the jsonb text the workers compare is exactly PostgreSQL\'s output, or none (the row is then staged)', async () => {
  const rng = new Prng(seed ^ 0x5eed)
  let exact = 0
  const texts = Array.from({ length: 3000 }, () => JSON.stringify(randomJson(rng)))
  const { rows } = await pool.query<{ t: string }>('SELECT (x::jsonb)::text AS t FROM unnest($1::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i', [texts])
  for (let i = 0; i < texts.length; i++) {
    const ours = pgJsonbText(texts[i])
    if (ours === null) continue
    exact++
    assert.equal(ours, rows[i].t, `jsonb ${texts[i]}`)
  }
  // Most values are ordinary: the comparison must be usable, not always "stage it".
  assert.ok(exact > texts.length / 2, `only ${exact} of ${texts.length} values had an exact text`)
  assert.equal(pgJsonbText(JSON.stringify({ b: 1, aa: [1, 2], a: { y: 'é', x: null } })), '{"a": {"x": null, "y": "é"}, "b": 1, "aa": [1, 2]}')
  assert.equal(pgJsonbText('1e+21'), null)
})

/** A flat JSON object's compact text, written member by member (numbers as given: trailing zeros, -0, exponents). */
function randomFlatText (rng: Prng): string {
  const keys = ['a', 'b', 'aa', 'ab', 'B', 'zz', 'é', 'ü', '日本', 'key', 'k', 'condition', 'mtg_foil', '10', '2', '', 'ñame', 'Z', 'a"b', 'tab\t']
  const numbers = ['0', '-0', '1', '-7', '1.50', '-2.25', '0.000', '-0.5', '10', '1e5', '2E-3', '123456789012345678901234567890', '3.141592653589793', '12.0']
  const strings = ['', 'a', 'Grade "A"', 'back\\slash', 'tab\there', 'nl\n', '\u0001\u001f', 'é', '日本', '😀', '\u2028', '/', '\u007f']
  const members: string[] = []
  for (let i = rng.int(0, 7); i > 0; i--) {
    const k = JSON.stringify(rng.pick(keys))
    const r = rng.int(0, 9)
    const v = r < 3 ? rng.pick(numbers) : r < 7 ? JSON.stringify(rng.pick(strings)) : r === 7 ? rng.pick(['true', 'false', 'null']) : r === 8 ? '{"x":1}' : '[1,"two"]'
    members.push(`${k}:${v}`)
  }
  return `{${members.join(',')}}`
}

test('a flat jsonb object is compared in place exactly as PostgreSQL writes it, and never called equal to another value', async () => {
  const rng = new Prng(seed ^ 0x7a1b)
  const texts = Array.from({ length: 4000 }, () => randomFlatText(rng))
  const { rows } = await pool.query<{ t: string }>('SELECT (x::jsonb)::text AS t FROM unnest($1::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i', [texts])
  const pgText = rows.map(r => Buffer.from(r.t))
  let proven = 0
  for (let i = 0; i < texts.length; i++) {
    const raw = Buffer.from(texts[i])
    const r = sameFlatJsonb(raw, 0, raw.length, pgText[i], 0, pgText[i].length)
    // Its own value: equal, or "cannot tell" (then pgJsonbText decides); never "different".
    assert.notEqual(r, false, `${texts[i]} vs PostgreSQL's ${rows[i].t}`)
    if (r === true) proven++
    // Another value's text: never equal unless PostgreSQL says the two values are the same.
    const j = (i + 1 + rng.int(0, texts.length - 2)) % texts.length
    if (sameFlatJsonb(raw, 0, raw.length, pgText[j], 0, pgText[j].length) === true) assert.equal(rows[j].t, rows[i].t, `${texts[i]} called equal to ${rows[j].t}`)
    // A changed byte of PostgreSQL's text: never equal.
    if (pgText[i].length > 2) {
      const bent = Buffer.from(pgText[i])
      const at = rng.int(1, bent.length - 2)
      bent[at] = bent[at] === 0x61 ? 0x62 : 0x61
      assert.notEqual(sameFlatJsonb(raw, 0, raw.length, bent, 0, bent.length), true, `${texts[i]} called equal to ${bent.toString()}`)
    }
  }
  assert.ok(proven > texts.length / 4, `only ${proven} of ${texts.length} flat objects were proven equal in place`)
  const t = Buffer.from('{"b":1,"aa":[1],"a":"x"}')
  assert.equal(sameFlatJsonb(t, 0, t.length, Buffer.from('{"a": "x", "b": 1, "aa": [1]}'), 0, 31), null, 'a nested value is left to pgJsonbText')
  const f = Buffer.from('{"b":1.50,"a":"x"}')
  const fp = Buffer.from('{"a": "x", "b": 1.50}')
  assert.equal(sameFlatJsonb(f, 0, f.length, fp, 0, fp.length), true)
})

test('the workers mark a row unchanged exactly when its values equal the stored ones (a real scope read)', { timeout: 60_000 }, async () => {
  const rng = new Prng(seed ^ 0x3c4d)
  const u = randomUser()
  const base = Array.from({ length: 3000 }, () => randomProduct(rng, freshId(rng)))
  const clean = { rejectRate: 0, dupRate: 0, malformedRate: 0 }
  await syncFile(u, renderExport(rng, base, clean), 'mirror', 'database')
  const next = base.map(p => rng.chance(0.2) ? changeProduct(rng, p) : p)
  for (let i = 0; i < 200; i++) next.push(randomProduct(rng, freshId(rng)))
  const texts = renderExport(rng, rng.shuffle(next), clean)
  const c = await pool.connect()
  const existing = await readExisting(c, cardtraderInventory, [u]).finally(() => c.release())
  assert.ok(existing !== null && existing.rows === base.length)
  const cutter = new Partitioner('json', 16 * 1024, 'test')
  cutter.push(Buffer.from(`[\n${texts.join(',\n')}\n]\n`))
  cutter.end()
  const parts: Partition[] = []
  for (let p = cutter.take(); p !== undefined; p = cutter.take()) parts.push(p)
  // The reference: both sides normalized as the worker does (the rendered text spells values variously), jsonb as canonical JSON.
  const normalized = (p: unknown): unknown[] => {
    const out = new Array<unknown>(15)
    normalizeCardtraderProduct(JSON.parse(JSON.stringify(p)), out)
    out[8] = canonicalJson(JSON.parse(out[8] as string))
    return out
  }
  const rowKey = (p: unknown): string => { const n = normalized(p); return `${String(n[0])}|${String(n[1])}` }
  const before = new Map(base.map(p => [rowKey(p), p]))
  const inputs = texts.map(t => JSON.parse(t))
  let row = 0; let same = 0; let changed = 0; let fresh = 0
  for (const p of parts) {
    const r = await transformPartition({ ...p, dataset: cardtraderInventory, keepRaw: false, unmapped: null, layout: { prefix: [], seq: true }, existing })
    assert.equal(r.rows, p.count)
    for (let i = 0; i < r.rows; i++, row++) {
      const product = inputs[row]
      const old = before.get(rowKey(product))
      const marks = r.marks as NonNullable<typeof r.marks>
      if (old === undefined) { fresh++; assert.equal(marks.slots[i], -1, `row ${row}: a new key found in the scope: ${JSON.stringify(product)}`); continue }
      assert.ok(marks.slots[i] >= 0, `row ${row}: an existing key not found`)
      const equal = JSON.stringify(normalized(old)) === JSON.stringify(normalized(product))
      if (!equal) { changed++; assert.equal(marks.same[i], 0, `row ${row}: a changed row marked unchanged: ${JSON.stringify(product)}`); continue }
      assert.equal(marks.same[i], 1, `row ${row}: an unchanged row marked changed: ${JSON.stringify(product)}`)
      same++
    }
  }
  assert.equal(row, next.length)
  assert.ok(same > 2000 && changed > 300 && fresh === 200, `same ${same}, changed ${changed}, new ${fresh}`)
})

/** An encoded (int4, text) key, as binary COPY fields. */
function encodedKey (w: BinaryWriter, a: number, b: string): [number, number] {
  const s = w.pos
  w.int4(a); w.text(b)
  return [s, w.pos]
}

test('a key lookup decides by the key\'s bytes: colliding buckets, absent keys, and a forced hash collision', () => {
  const w = new BinaryWriter(1 << 16)
  w.pos = 0
  const n = 20_000
  const starts = new Uint32Array(n + 1)
  for (let i = 0; i < n; i++) {
    w.tuple(2)
    starts[i] = w.pos
    encodedKey(w, i % 97, `stock-${i}`)
  }
  w.tuple(-1)
  starts[n] = w.pos
  const bytes = w.finish()
  const table = new Int32Array(tableSize(n))
  indexRows(bytes, starts, table, n, 2)
  const view = { bytes, starts, table }
  const probe = new BinaryWriter(256)
  for (let i = 0; i < n; i++) {
    probe.pos = 0
    const [s, e] = encodedKey(probe, i % 97, `stock-${i}`)
    assert.equal(findSlot(view, probe.buf, s, e), i)
    probe.pos = 0
    const [s2, e2] = encodedKey(probe, (i + 1) % 97, `stock-${i}`)
    assert.equal(findSlot(view, probe.buf, s2, e2), -1, `key ${(i + 1) % 97}/stock-${i} is absent`)
  }
  // A forced collision: the bucket of row 1's key holds row 0, row 1 is one probe later. Found by bytes, not by bucket.
  const small = new Int32Array(16)
  probe.pos = 0
  const [bs, be] = encodedKey(probe, 1, 'stock-1')
  const h = hashBytes(probe.buf, bs, be) & 15
  small[h] = 1
  small[(h + 1) & 15] = 2
  assert.equal(findSlot({ bytes, starts, table: small }, probe.buf, bs, be), 1, 'row 1 is found past the colliding row 0')
  probe.pos = 0
  const [cs, ce] = encodedKey(probe, 0, 'stock-1')
  small.fill(0); small[hashBytes(probe.buf, cs, ce) & 15] = 1; small[(hashBytes(probe.buf, cs, ce) + 1) & 15] = 2
  assert.equal(findSlot({ bytes, starts, table: small }, probe.buf, cs, ce), -1, 'a key sharing its bucket with two stored keys matches neither')
})

test('a foreign writer between the read and the merge: staged rows are decided on current values; unchanged rows keep the foreign change (stated in README)', { timeout: 60_000 }, async () => {
  const u = randomUser()
  const rng = new Prng(seed ^ 0xf0e1)
  const products = Array.from({ length: 40 }, () => randomProduct(rng, freshId(rng)))
  const first = renderExport(rng, products, { rejectRate: 0, dupRate: 0, malformedRate: 0 })
  await syncFile(u, first, 'mirror', 'database')
  const keys = products.map(p => [p.blueprint_id, String(p.id)] as const)
  // The second export changes product 1's quantity; products 0 and 2 are sent unchanged.
  const changed = products.map((p, i) => i === 1 ? { ...p, quantity: p.quantity + 1000 } : p)
  const second = renderExport(new Prng(1), changed, { rejectRate: 0, dupRate: 0, malformedRate: 0 })
  const file = writeExport(second, { format: 'json', separator: ',\n', pad: '\n' })
  const data = fs.readFileSync(file.path)
  let foreign: Promise<unknown> | null = null
  // The foreign writes wait for the engine's scope read (its log line), and the input waits for them: they land
  // between the read and the merge. (The input is read early too: the light-path peek asks for its first bytes.)
  let scopeRead!: () => void
  const read = new Promise<void>(resolve => { scopeRead = resolve })
  const logger = pino({ level: 'info' }, new Writable({
    write (chunk: Buffer, _enc, done) {
      if (chunk.toString().includes('"phase":"diff-read"')) scopeRead()
      done()
    },
  }))
  const input = new Readable({
    read () {
      if (foreign !== null) return
      foreign = (async () => {
        await read
        await pool.query('UPDATE user_inventory_items SET quantity = 777 WHERE user_id = $1 AND blueprint_id = $2 AND external_stock_id = $3', [u, ...keys[0]])
        await pool.query('UPDATE user_inventory_items SET quantity = 778 WHERE user_id = $1 AND blueprint_id = $2 AND external_stock_id = $3', [u, ...keys[1]])
        await pool.query('DELETE FROM user_inventory_items WHERE user_id = $1 AND blueprint_id = $2 AND external_stock_id = $3', [u, ...keys[2]])
      })().then(() => { this.push(data); this.push(null) }, err => this.destroy(err))
    },
  })
  const r = await api.sync({ input, gzip: false, userId: u, diff: 'engine', databaseUrl: DATABASE_URL, mapping: { source: 'none' }, logger })
  assert.equal(r.diff, 'engine')
  const rows = await readUserRows(pool, u)
  const get = (k: readonly [number, string]): Row | undefined => rows.get(`${k[0]}|${k[1]}`)
  // Staged (changed in the input): the merge compares with the row as it is now and writes the input's value.
  assert.equal(get(keys[1])?.quantity, products[1].quantity + 1000)
  // Classed unchanged against the read: not in the merge, so the foreign writer's value stays until the next sync.
  assert.equal(get(keys[0])?.quantity, 777)
  assert.equal(get(keys[2]), undefined, 'a row the foreign writer deleted and the input sent unchanged stays deleted')
  // The next sync repairs both.
  const again = writeExport(second, { format: 'json', separator: ',\n', pad: '\n' })
  await api.sync({ input: again.path, userId: u, diff: 'engine', databaseUrl: DATABASE_URL, mapping: { source: 'none' } })
  const healed = await readUserRows(pool, u)
  assert.equal(healed.get(`${keys[0][0]}|${keys[0][1]}`)?.quantity, products[0].quantity)
  assert.equal(healed.get(`${keys[2][0]}|${keys[2][1]}`)?.quantity, products[2].quantity)
})

test('a key whose equal values can differ in bytes (float8 -0 and 0) takes the database diff: mirror keeps the row the input has', { timeout: 60_000 }, async () => {
  const spec = { name: 'f8-key', table: 'brx_f8_key', scope: [{ name: 'part', type: 'text' as const }], columns: [{ name: 'k', type: 'float8' as const, nullable: false }, { name: 'v', type: 'text' as const }], key: ['k'] }
  await pool.query('DROP TABLE IF EXISTS brx_f8_key')
  await api.migrate({ databaseUrl: DATABASE_URL, dataset: spec })
  const run = async (lines: string[]): Promise<any> => {
    const file = tmpPath('f8.ndjson')
    fs.writeFileSync(file, lines.join('\n') + '\n')
    return await api.sync({ input: file, dataset: spec, scope: { part: 'p' }, mode: 'mirror', diff: 'engine', databaseUrl: DATABASE_URL, allowMassDelete: true })
  }
  await run(['{"k":0,"v":"zero"}', '{"k":1,"v":"one"}'])
  // -0 = 0 in PostgreSQL: the same row, spelled otherwise. Found by bytes, it would be "absent" and deleted.
  const r = await run(['{"k":-0,"v":"zero again"}', '{"k":1,"v":"one"}'])
  assert.equal(r.diff, 'database')
  assert.deepEqual([r.rows.inserted, r.rows.updated, r.rows.deleted, r.rows.unchanged], [0, 1, 0, 1])
  const { rows } = await pool.query<{ v: string }>('SELECT v FROM brx_f8_key ORDER BY k')
  assert.deepEqual(rows.map(x => x.v), ['zero again', 'one'])
  await pool.query('DROP TABLE brx_f8_key')
})

test('diff auto: a feed much smaller than the scope (or a small input) is staged; a full export and an explicit engine diff read the scope', { timeout: 60_000 }, async () => {
  const u = randomUser()
  // 12,000 rows of ~450 bytes each in the scope: a store of ~5.5 MB.
  await pool.query(`INSERT INTO user_inventory_items (user_id, blueprint_id, external_stock_id, name_en, quantity, price_cents, properties, graded)
    SELECT $1, 1 + i % 1000, i::text, repeat('n', 420), 1, 100, '{}'::jsonb, false FROM generate_series(1, 12000) i`, [u])
  const feed = (n: number, from = 1): string => {
    const lines: string[] = []
    for (let i = from; i < from + n; i++) lines.push(JSON.stringify({ id: String(i), blueprint_id: 1 + i % 1000, name_en: 'n'.repeat(420), quantity: 2, price_cents: 100, properties_hash: {}, graded: false }))
    const file = tmpPath(`auto-${n}.ndjson`)
    fs.writeFileSync(file, lines.join('\n') + '\n')
    return file
  }
  const run = async (input: string, diff?: 'auto' | 'engine', mode: 'upsert' | 'mirror' = 'upsert'): Promise<any> =>
    await api.sync({ input, userId: u, mode, databaseUrl: DATABASE_URL, mapping: { source: 'none' }, ...(diff !== undefined ? { diff } : {}) })
  const tiny = feed(5)
  assert.equal((await run(tiny)).diff, 'database', 'a small input (the light path) is staged by default')
  assert.equal((await run(tiny, 'engine')).diff, 'engine', 'unless the engine diff is asked')
  // 2,600 rows of ~500 bytes: past the light path's 1 MiB, under half the scope's store.
  const partial = feed(2600)
  assert.ok(fs.statSync(partial).size > 1024 * 1024)
  const p = await run(partial)
  assert.equal(p.diff, 'database')
  assert.equal(p.rows.updated, 2595, 'quantity 1 -> 2, but for the 5 rows the small input changed')
  const pe = await run(partial, 'engine')
  assert.equal(pe.diff, 'engine')
  assert.equal(pe.rows.unchanged, 2600)
  const full = await run(feed(12000), undefined, 'mirror')
  assert.equal(full.diff, 'engine', 'a whole export diffs in the engine by default')
  assert.deepEqual([full.rows.updated, full.rows.unchanged, full.rows.deleted], [9400, 2600, 0])
})

test('the scope read overlaps the load: partitions transformed before it ends are marked afterwards; counts and table as the database diff', { timeout: 90_000 }, async () => {
  const [a, b] = [randomUser(), randomUser()]
  // 60,000 rows of ~450 bytes: a read of ~27 MB, long against a 16 KiB partition's transform.
  for (const u of [a, b]) {
    await pool.query(`INSERT INTO user_inventory_items (user_id, blueprint_id, external_stock_id, name_en, quantity, price_cents, properties, graded)
      SELECT $1, 1 + i % 1000, i::text, repeat('n', 420), 1, 100, '{"condition": "Mint"}'::jsonb, false FROM generate_series(1, 60000) i`, [u])
  }
  const lines: string[] = []
  for (let i = 1; i <= 60_300; i++) {
    if (i % 100 === 7) continue // 600 existing rows removed (and 3 new ids never sent)
    const quantity = i % 33 === 0 || i > 60_000 ? 5 : 1 // ~1,800 changed, 300 new
    lines.push(JSON.stringify({ id: String(i), blueprint_id: 1 + i % 1000, name_en: 'n'.repeat(420), quantity, price_cents: 100, properties_hash: { condition: 'Mint' }, graded: false }))
  }
  const file = tmpPath('overlap.ndjson')
  fs.writeFileSync(file, lines.join('\n') + '\n')
  let late = -1
  const logger = pino({ level: 'info' }, new Writable({
    write (chunk: Buffer, _enc, done) {
      const m = /"markedLate":(\d+)/.exec(chunk.toString())
      if (m !== null) late = Number(m[1])
      done()
    },
  }))
  const opts = { input: file, mode: 'mirror' as const, databaseUrl: DATABASE_URL, mapping: { source: 'none' as const }, partitionBytes: 16 * 1024 }
  const ra = await api.sync({ ...opts, userId: a, diff: 'database' })
  const rb = await api.sync({ ...opts, userId: b, diff: 'engine', logger })
  assert.equal(rb.diff, 'engine')
  assert.ok(late > 0, `no partition was marked after the read (markedLate ${late}): the read did not overlap the load`)
  for (const k of COUNTS) assert.equal(rb.rows[k], ra.rows[k], `report.rows.${k}: engine ${String(rb.rows[k])}, database ${String(ra.rows[k])}`)
  assert.deepEqual([rb.rows.inserted, rb.rows.deleted], [297, 600]) // 300 new ids but 3 of them (x07) skipped too
  const ta = await readUserRows(pool, a); const tb = await readUserRows(pool, b)
  assert.deepEqual([...tb.entries()].sort(), [...ta.entries()].sort(), 'the tables differ')
})

test('change capture and insert-new take the database diff when the engine diff is asked: the report says so, the changes file and the dry run hold exactly the changes', { timeout: 60_000 }, async () => {
  const rng = new Prng(seed ^ 0xca97)
  const u = randomUser()
  // Quantity 0 is a reason of its own (see the model): every product here is an ordinary row.
  const product = (): ReturnType<typeof randomProduct> => { const p = randomProduct(rng, freshId(rng)); return { ...p, quantity: Math.max(1, p.quantity) } }
  const products = Array.from({ length: 300 }, product)
  const clean = { rejectRate: 0, dupRate: 0, malformedRate: 0 }
  await syncFile(u, renderExport(rng, products, clean), 'mirror', 'database')
  // 3 changed, 2 removed, 1 new: were unchanged rows read as "missing from staging", the capture would list ~295 deletes.
  const next = products.slice(2).map((p, i) => i < 3 ? { ...p, quantity: p.quantity + 5 } : p)
  next.push(product())
  const file = writeExport(renderExport(rng, next, clean), { format: 'json', separator: ',\n', pad: '\n' })
  const base = { input: file.path, userId: u, diff: 'engine' as const, databaseUrl: DATABASE_URL, mapping: { source: 'none' as const } }

  const dry = await api.sync({ ...base, dryRun: true })
  assert.equal(dry.diff, 'database')
  assert.deepEqual([dry.rows.inserted, dry.rows.updated, dry.rows.deleted, dry.rows.unchanged], [1, 3, 2, 295])
  assert.deepEqual([dry.preview?.samples.inserted.length, dry.preview?.samples.updated.length, dry.preview?.samples.deleted.length], [1, 3, 2])

  const changesFile = tmpPath('engine-asked-changes.ndjson')
  const real = await api.sync({ ...base, changesFile })
  assert.equal(real.diff, 'database')
  assert.deepEqual([real.rows.inserted, real.rows.updated, real.rows.deleted, real.rows.unchanged], [1, 3, 2, 295])
  const ops = (readNdjson(changesFile) as Array<{ op: string }>).map(l => l.op).sort()
  assert.deepEqual(ops, ['delete', 'delete', 'insert', 'update', 'update', 'update'])

  // Without capture the same re-sync diffs in the engine (nothing left to change).
  const again = await api.sync({ ...base })
  assert.equal(again.diff, 'engine')
  assert.deepEqual([again.rows.inserted, again.rows.updated, again.rows.deleted, again.rows.unchanged], [0, 0, 0, 299])

  const fresh = product()
  const more = writeExport(renderExport(rng, [...next, fresh], clean), { format: 'json', separator: ',\n', pad: '\n' })
  const ins = await api.sync({ ...base, input: more.path, mode: 'insert-new' })
  assert.equal(ins.diff, 'database')
  assert.equal(ins.rows.inserted, 1)
})

test('the CLI exits once an engine-diff re-sync is done: the scope read (COPY TO) leaves no query-timeout timer behind', { timeout: 150_000 }, async () => {
  const rng = new Prng(seed ^ 0xe417)
  const u = randomUser()
  const products = Array.from({ length: 200 }, () => randomProduct(rng, freshId(rng)))
  await syncFile(u, renderExport(rng, products, { rejectRate: 0 }), 'mirror', 'database')
  const next = writeExport(renderExport(rng, products.map(p => rng.chance(0.1) ? changeProduct(rng, p) : p), { rejectRate: 0 }), { format: 'json', separator: ',\n', pad: '\n' })
  const { child, exited } = spawnCli(['sync', '--input', next.path, '--user', u, '--no-mapping', '--database-url', DATABASE_URL, '--log-level', 'warn', '--diff', 'engine', '--json'])
  // pg's query timeout (pgQueryTimeoutMs, 600 s by default) would hold the process open that long after a raw COPY TO.
  let bound: NodeJS.Timeout | undefined
  const exit = await Promise.race([exited, new Promise<null>(resolve => { bound = setTimeout(() => resolve(null), 120_000) })])
  clearTimeout(bound)
  if (exit === null) child.kill('SIGKILL')
  assert.notEqual(exit, null, 'the CLI was still running 120 s after it was started')
  assert.equal(exit?.code, 0, exit?.stderr)
  assert.equal(JSON.parse(exit?.stdout ?? '{}').diff, 'engine')
})
