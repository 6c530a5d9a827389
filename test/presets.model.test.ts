/**
 * The three presets end to end through the real PostgreSQL against the
 * reference model (test/dataset-model.ts, extended here with insert-new and
 * the order book's derived balances): randomized inputs with duplicates,
 * malformed rows and changes between runs; after every sync the table, the
 * report's counts and the rejects file (row + reason) equal the model's.
 * BRX_SEED=<seed> replays a run.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import pg from 'pg'
import { createEngine, migrate, type Engine } from '../src'
import { presets } from '../src/dataset'
import { buildMergeSql } from '../src/merge/sql'
import { modelRow, modelSync, ModelReject, type ModelRow, type ModelSpec } from './dataset-model'
import { DATABASE_URL, Prng, readNdjson, removeTmp, seedFromEnv, tmpPath } from './helpers'

const seed = seedFromEnv()
let engine: Engine
let db: pg.Client
before(async () => {
  for (const d of ['catalog-snapshots', 'market-candles', 'order-book']) await migrate({ databaseUrl: DATABASE_URL, dataset: d })
  engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' }, partitionBytes: [400, 4096, 1 << 20][seed % 3], workers: 2 })
  db = new pg.Client({ connectionString: DATABASE_URL, options: '-c timezone=UTC' })
  await db.connect()
})
after(async () => {
  await engine.close()
  await db.end()
  removeTmp()
})

const cellText = (v: string | null, r: Prng): string => v === null ? '' : v === '' || /[",\r\n]/.test(v) || r.chance(0.2) ? '"' + v.replace(/"/g, '""') + '"' : v

function writeCsv (r: Prng, header: string[], rows: Array<Record<string, string | null>>, name: string): string {
  const file = tmpPath(name)
  fs.writeFileSync(file, [header.join(','), ...rows.map(c => header.map(h => cellText(c[h], r)).join(','))].join('\n') + '\n')
  return file
}

function writeNdjson (records: unknown[], name: string): string {
  const file = tmpPath(name)
  fs.writeFileSync(file, records.map(x => JSON.stringify(x)).join('\n') + '\n')
  return file
}

function rejectsOf (file: string): Array<{ row: number, reason: string }> {
  return fs.existsSync(file) ? (readNdjson(file) as Array<{ row: number, reason: string }>).map(x => ({ row: x.row, reason: x.reason })) : []
}

async function tableRows (sql: string, params: unknown[], key: string[]): Promise<Map<string, ModelRow>> {
  const { rows } = await db.query<ModelRow>(sql, params)
  return new Map(rows.map(x => [key.map(k => x[k]).join('\u0001'), x]))
}

// --- catalog-snapshots ------------------------------------------------------------

const CATALOG_HEADER = ['variant_id', 'sku', 'product_name', 'price', 'currency', 'stock', 'attributes']

function catalogCells (r: Prng): Record<string, string | null> {
  return {
    variant_id: r.chance(0.03) ? null : `V${r.int(0, 59)}`,
    sku: r.pick([null, 'SKU-1', 'a,b', 'say "x"']),
    product_name: r.pick([null, 'Shirt', 'two\nlines', 'Café, "bio"', '🧢 cap']),
    price: r.pick([null, '12.50', '0.1', '-3', '1.005', '9999999999.99', '10000000000.00', String(r.int(0, 99999) / 100), 'abc']),
    currency: r.pick([null, 'EUR', 'USD']),
    stock: r.pick([null, '0', '5', String(r.int(0, 1000)), '-1', '2.5']),
    attributes: r.pick([null, '{"size": "M"}', '{"tags": ["a", "b"], "n": 1}', '[1, 2]', '{bad']),
  }
}

test(`catalog-snapshots: CSV uploads upserted per csv_upload_id equal the model (seed ${seed})`, async () => {
  const spec = presets['catalog-snapshots'] as unknown as ModelSpec
  await db.query('DELETE FROM catalog_snapshots WHERE csv_upload_id = ANY($1)', [[9001, 9002]])
  const model = new Map<number, Map<string, ModelRow>>([[9001, new Map()], [9002, new Map()]])
  const r = new Prng(seed)
  for (let step = 0; step < 6; step++) {
    const upload = step % 3 === 2 ? 9002 : 9001
    const cells = Array.from({ length: r.int(20, 70) }, () => catalogCells(r))
    const file = writeCsv(r, CATALOG_HEADER, cells, `catalog-${step}.csv`)
    const rejectsFile = tmpPath(`catalog-${step}.rejects.ndjson`)
    const expected = modelSync(spec, model.get(upload) as Map<string, ModelRow>, cells, 'upsert', true)
    const rep = await engine.sync({ input: file, dataset: 'catalog-snapshots', scope: { csv_upload_id: upload }, rejectsFile })
    assert.equal(rep.mode, 'upsert', 'the preset upserts by default')
    const { existing, unmapped, excluded, ...counts } = rep.rows
    assert.deepEqual({ existing, unmapped, excluded }, { existing: 0, unmapped: 0, excluded: 0 })
    assert.deepEqual(counts, expected.counts, `step ${step} counts`)
    assert.deepEqual(rejectsOf(rejectsFile), expected.rejects, `step ${step} rejects`)
    for (const [u, rows] of model) {
      const got = await tableRows('SELECT variant_id, sku, product_name, price::text, currency, stock::text, attributes::text FROM catalog_snapshots WHERE csv_upload_id = $1', [u], ['variant_id'])
      assert.deepEqual(Object.fromEntries(got), Object.fromEntries(rows), `step ${step} upload ${u}`)
    }
  }
})

// --- market-candles: insert-new ------------------------------------------------------

const CANDLE_HEADER = ['symbol', 'timeframe', 'ts', 'open', 'high', 'low', 'close', 'volume']
const T0 = Date.UTC(2026, 2, 1)
const NUMS = ['0.1', '12345678.12345678', '-42.5', '123456789012.12345678', '0.000000005', '99.999999999', '1234567890123.5', '7', 'x1']

function candleRecord (r: Prng): Record<string, unknown> {
  const ms = T0 + r.int(0, 24) * 3_600_000
  const ts = r.pick<unknown>([new Date(ms).toISOString(), ms, String(ms), new Date(ms + 7_200_000).toISOString().slice(0, 23) + '+02:00', 'yesterday'])
  const num = (): unknown => r.chance(0.6) ? String(r.int(1, 99999) / 1000) : r.pick(NUMS)
  const rec: Record<string, unknown> = { symbol: r.pick(['BTCUSDT', 'ETHUSDT']), timeframe: r.pick(['1h', '4h']), ts, open: num(), high: num(), low: num(), close: num(), volume: r.pick<unknown>([num(), '-1', 12.5]) }
  if (r.chance(0.03)) delete rec.close
  return rec
}

/** insert-new on the model: last occurrence wins within the input; a key already stored is left alone (existing). */
function modelInsertNew (spec: ModelSpec, rows: Map<string, ModelRow>, records: unknown[], csv: boolean): { counts: Record<string, number>, rejects: Array<{ row: number, reason: string }> } {
  const dry = modelSync(spec, new Map(), records, 'upsert', csv)
  const latest = new Map<string, ModelRow>()
  records.forEach(rec => {
    try {
      const row = modelRow(spec, rec, csv)
      const k = spec.key.map(x => row[x]).join('\u0001')
      latest.delete(k); latest.set(k, row)
    } catch (err) { if (!(err instanceof ModelReject)) throw err }
  })
  let inserted = 0; let existing = 0
  for (const [k, row] of latest) {
    if (rows.has(k)) existing++
    else { rows.set(k, row); inserted++ }
  }
  return { counts: { ...dry.counts, inserted, updated: 0, unchanged: 0, deleted: 0, existing }, rejects: dry.rejects }
}

test(`market-candles: insert-new inserts new keys, never rewrites existing rows (xmin), equals the model (seed ${seed})`, async () => {
  const spec = presets['market-candles'] as unknown as ModelSpec
  await db.query('TRUNCATE market_candles')
  const model = new Map<string, ModelRow>()
  const r = new Prng(seed + 1)
  const sel = "SELECT symbol, timeframe, ts::text, open::text, high::text, low::text, close::text, volume::text, xmin::text AS xmin FROM market_candles"
  let sawExisting = false
  for (let step = 0; step < 6; step++) {
    const csv = step % 2 === 1
    const records = Array.from({ length: r.int(20, 60) }, () => candleRecord(r))
    const cells = records.map(rec => Object.fromEntries(CANDLE_HEADER.map(h => [h, rec[h] === undefined || rec[h] === null ? null : String(rec[h])])))
    const file = csv ? writeCsv(r, CANDLE_HEADER, cells, `candles-${step}.csv`) : writeNdjson(records, `candles-${step}.ndjson`)
    const before = await tableRows(sel, [], ['symbol', 'timeframe', 'ts'])
    const expected = modelInsertNew(spec, model, csv ? cells : records, csv)
    const rejectsFile = tmpPath(`candles-${step}.rejects.ndjson`)
    const rep = await engine.sync({ input: file, dataset: 'market-candles', rejectsFile })
    assert.equal(rep.mode, 'insert-new')
    const { unmapped, excluded, ...counts } = rep.rows
    assert.deepEqual(counts, expected.counts, `step ${step} counts`)
    assert.equal(rep.rows.written, rep.rows.inserted + rep.rows.updated + rep.rows.unchanged + rep.rows.existing)
    assert.deepEqual(rejectsOf(rejectsFile), expected.rejects, `step ${step} rejects`)
    const after = await tableRows(sel, [], ['symbol', 'timeframe', 'ts'])
    for (const [k, old] of before) assert.deepEqual(after.get(k), old, `step ${step}: an existing candle is untouched, xmin included`)
    if (rep.rows.existing > 0) sawExisting = true
    for (const row of after.values()) delete row.xmin
    assert.deepEqual(Object.fromEntries(after), Object.fromEntries(model), `step ${step} table`)
  }
  assert.ok(sawExisting, 'some run met existing keys')
  assert.ok(model.size > 20)
})

test('market-candles: numeric round-trips exactly, over-precision is rejected; both timestamp forms land on one key', async () => {
  await db.query('TRUNCATE market_candles')
  const base = { symbol: 'RTUSDT', timeframe: '1m', high: '1', low: '1', close: '1', volume: '1' }
  const ms = Date.UTC(2026, 5, 1, 12)
  const opens = ['0.1', '12345678.12345678', '-0.00000001', '-98765.4321', '123456789012.12345678', '0.12345678']
  const recs: unknown[] = opens.map((open, i) => ({ ...base, ts: new Date(ms + i * 60_000).toISOString(), open }))
  recs.push({ ...base, ts: ms + 6 * 60_000, open: '1234567890123.1' }) // 13 integer digits: numeric(20,8) holds 12
  recs.push({ ...base, ts: ms, open: '5' }) // epoch ms of the first ISO candle: the same key, existing within... a duplicate
  const rep = await engine.sync({ input: writeNdjson(recs, 'roundtrip.ndjson'), dataset: 'market-candles' })
  assert.deepEqual({ rejected: rep.rows.rejected, duplicates: rep.rows.duplicates, inserted: rep.rows.inserted }, { rejected: 1, duplicates: 1, inserted: 6 })
  assert.deepEqual(rep.rejectReasons, { out_of_range: 1 })
  const { rows } = await db.query<{ open: string }>("SELECT open::text FROM market_candles WHERE symbol = 'RTUSDT' ORDER BY ts")
  assert.deepEqual(rows.map(x => x.open), ['5.00000000', ...opens.slice(1).map(o => o.includes('.') ? o.padEnd(o.indexOf('.') + 9, '0') : o + '.00000000')])
  const again = await engine.sync({ input: writeNdjson([{ ...base, ts: String(ms + 60_000), open: '999' }], 'roundtrip2.ndjson'), dataset: 'market-candles' })
  assert.deepEqual({ inserted: again.rows.inserted, existing: again.rows.existing }, { inserted: 0, existing: 1 }, 'epoch-ms text of a stored ISO candle is existing')
})

// --- order-book: derived columns ---------------------------------------------------

const ORDER_COLS = ['num_pedido', 'cod_produto', 'cliente', 'qtd_produto_pedido', 'preco_produto_pedido']
const KEYS = Array.from({ length: 30 }, (_, i) => [`P${Math.floor(i / 3)}`, `C${i % 4}`] as const).filter((k, i, a) => a.findIndex(x => x[0] === k[0] && x[1] === k[1]) === i)

/** numeric(15,3) text -> thousandths as BigInt, and back. */
const milli = (s: string): bigint => { const [i, f = ''] = s.split('.'); const neg = i.startsWith('-'); const v = BigInt(i.replace('-', '')) * 1000n + BigInt((f + '000').slice(0, 3)); return neg ? -v : v }
const fromMilli = (v: bigint): string => { const neg = v < 0n; const a = (neg ? -v : v).toString().padStart(4, '0'); return `${neg ? '-' : ''}${a.slice(0, -3)}.${a.slice(-3)}` }

function orderRecord (r: Prng): Record<string, unknown> {
  const [num, cod] = r.pick(KEYS)
  const rec: Record<string, unknown> = { num_pedido: num, cod_produto: cod, cliente: r.pick(['Ana', 'Bruno', null]), qtd_produto_pedido: r.pick<unknown>([String(r.int(1, 99999) / 100), r.int(1, 500), '10.0005', '1234567890123.5', 'dez']), preco_produto_pedido: r.pick<unknown>([String(r.int(0, 99999) / 100), null, 3]) }
  if (r.chance(0.03)) delete rec.num_pedido
  return rec
}

async function randomSources (r: Prng): Promise<void> {
  await db.query('TRUNCATE faturamento_produto, separacao')
  const fat: string[] = []; const sep: string[] = []
  for (const [num, cod] of [...KEYS, ['P99', 'C0'] as const]) {
    for (let k = r.int(0, 3); k > 0; k--) fat.push(`('${num}','${cod}',${r.int(0, 9999) / 1000})`)
    for (let k = r.int(0, 2); k > 0; k--) sep.push(`('${num}','${cod}',${r.int(0, 9999) / 1000})`)
  }
  if (fat.length > 0) await db.query(`INSERT INTO faturamento_produto (origem, cod_produto, qtd_faturada) VALUES ${fat.join(',')}`)
  if (sep.length > 0) await db.query(`INSERT INTO separacao (num_pedido, cod_produto, qtd_em_separacao) VALUES ${sep.join(',')}`)
}

/** The derived balances, restated: sums per key from the source tables as they are now. */
async function deriveModel (rows: Map<string, ModelRow>): Promise<Map<string, ModelRow>> {
  const sums = async (sql: string): Promise<Map<string, bigint>> => {
    const m = new Map<string, bigint>()
    for (const x of (await db.query<{ a: string, b: string, q: string }>(sql)).rows) m.set(`${x.a}\u0001${x.b}`, (m.get(`${x.a}\u0001${x.b}`) ?? 0n) + milli(x.q))
    return m
  }
  const fat = await sums('SELECT origem AS a, cod_produto AS b, qtd_faturada::text AS q FROM faturamento_produto')
  const sep = await sums('SELECT num_pedido AS a, cod_produto AS b, qtd_em_separacao::text AS q FROM separacao')
  const out = new Map<string, ModelRow>()
  for (const [k, row] of rows) {
    const f = fat.get(k) ?? 0n; const s = sep.get(k) ?? 0n
    out.set(k, { ...row, qtd_faturada: fromMilli(f), qtd_em_separacao: fromMilli(s), qtd_saldo: fromMilli(milli(row.qtd_produto_pedido as string) - f - s) })
  }
  return out
}

test(`order-book: whole-table mirror with derived balances equals the model; a change in faturamento_produto alone updates (seed ${seed})`, async () => {
  const spec = { ...(presets['order-book'] as unknown as ModelSpec), compare: ORDER_COLS.filter(c => c !== 'num_pedido' && c !== 'cod_produto') }
  await db.query('TRUNCATE carteira_principal')
  const r = new Prng(seed + 2)
  let stored = new Map<string, ModelRow>() // with derived values, as in the table
  const sel = 'SELECT num_pedido, cod_produto, cliente, qtd_produto_pedido::text, preco_produto_pedido::text, qtd_faturada::text, qtd_em_separacao::text, qtd_saldo::text FROM carteira_principal'
  let records: unknown[] = []
  for (let step = 0; step < 6; step++) {
    const onlySources = step === 3
    if (!onlySources) records = Array.from({ length: r.int(15, 40) }, () => orderRecord(r))
    await randomSources(r)
    // The input side through the generic model, then the balances recomputed for every row it keeps.
    const inputOnly = new Map([...stored].map(([k, v]) => [k, Object.fromEntries(ORDER_COLS.map(c => [c, v[c]])) as ModelRow]))
    const base = modelSync(spec, inputOnly, records, 'mirror', false)
    const next = await deriveModel(inputOnly)
    const latestKeys = new Set<string>()
    records.forEach(rec => { try { const row = modelRow(spec, rec, false); latestKeys.add(`${row.num_pedido}\u0001${row.cod_produto}`) } catch {} })
    let inserted = 0; let updated = 0; let unchanged = 0
    for (const k of latestKeys) {
      const old = stored.get(k); const now = next.get(k) as ModelRow
      if (old === undefined) inserted++
      else if (JSON.stringify(old) === JSON.stringify(Object.fromEntries(Object.keys(old).map(c => [c, now[c]])))) unchanged++
      else updated++
    }
    const rejectsFile = tmpPath(`orders-${step}.rejects.ndjson`)
    const rep = await engine.sync({ input: writeNdjson(records, `orders-${step}.ndjson`), dataset: 'order-book', rejectsFile, allowMassDelete: true })
    const { existing, unmapped, excluded, ...counts } = rep.rows
    assert.deepEqual(counts, { ...base.counts, inserted, updated, unchanged }, `step ${step} counts`)
    assert.deepEqual(rejectsOf(rejectsFile), base.rejects, `step ${step} rejects`)
    if (onlySources) assert.ok(updated > 0, 'the same input with other invoices updates rows')
    stored = next
    const got = await tableRows(sel, [], ['num_pedido', 'cod_produto'])
    assert.deepEqual(Object.fromEntries(got), Object.fromEntries(stored), `step ${step} table`)
  }
})

test('order-book: one GROUP BY per source table, whatever the number of rows', async () => {

  const sql = buildMergeSql(presets['order-book'], 'brx_staging.s_x').derive as string
  assert.equal(sql.match(/GROUP BY/g)?.length, 2)
  assert.equal(sql.match(/"faturamento_produto"/g)?.length, 1)
  assert.equal(sql.match(/"separacao"/g)?.length, 1)
})
