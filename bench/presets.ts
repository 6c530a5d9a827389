/**
 * The three presets against the seeds' own "after" methods, side by side in
 * one run, on the same generated data; each method's final table is checked
 * equal to brx-sync's (md5 over the rows in key order), and the ratio is
 * seed time / brx time.
 *
 *   npm run bench:presets [-- --markdown] [-- --skip 1m]
 *
 * Seeds (/work/shared/context/seeds): 004 catalog uploads (batches of 500
 * INSERT … ON CONFLICT DO UPDATE, a commit per batch), 002 candles (per
 * symbol/timeframe: one IN query for the timestamps present, then one bulk
 * INSERT of the rest), 003 order book (load everything, 2 GROUP BY queries,
 * then per-row ORM-style UPDATE/INSERT of the changed rows, one commit).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import { parse as csvParse } from 'csv-parse/sync'
import pg from 'pg'
import { createEngine, migrate } from '../src'
import { candle, orderBookSources } from '../tools/generate/presets'
import { writePresetSample } from '../tools/generate/presets-cli'

const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/brx_bench_presets'
const DIR = '/tmp/brx-bench-presets'
const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js')
const rows: string[][] = []
const targets: string[][] = []
const fmt = (n: number, d = 2): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))] }

let pool: pg.Pool
const q = async (sql: string, params?: unknown[]): Promise<pg.QueryResult> => await pool.query(sql, params)

async function md5 (table: string, cols: string, where = 'TRUE', order = '1'): Promise<string> {
  // Ordered by the row text itself: equal sets of rows hash equal. (`order` names the key, for the reader.)
  void order
  return (await q(`SELECT count(*) || ':' || coalesce(md5(string_agg(r, ',' ORDER BY r)), '') AS h FROM (SELECT (${cols})::text AS r FROM ${table} WHERE ${where}) x`)).rows[0].h
}

function record (scenario: string, method: string, n: number, ms: number, brxMs: number | null, same: string, notes = ''): void {
  rows.push([scenario, method, n.toLocaleString('en-US'), fmt(ms / 1000, 3), Math.round(n / (ms / 1000)).toLocaleString('en-US'), brxMs === null ? '1.00×' : `${fmt(ms / brxMs)}×`, same, notes])
}

async function cliSync (args: string[]): Promise<{ ms: number, report: any }> {
  const t = performance.now()
  const child = spawn(process.execPath, [CLI, 'sync', '--database-url', DB_URL, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.resume()
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  const ms = performance.now() - t
  if (code !== 0) throw new Error(`brx-sync exited ${code}: ${out.slice(0, 500)}`)
  return { ms, report: JSON.parse(out) }
}

// --- catalog (seed 004) --------------------------------------------------------

const CAT_COLS = ['variant_id', 'sku', 'product_name', 'price', 'currency', 'stock', 'attributes']

/** Seed 004's `_ingest_batched` (LARGE tier): dedup, batches of 500 multi-row INSERT … ON CONFLICT DO UPDATE, commit per batch. */
async function seedCatalog (file: string, upload: number): Promise<number> {
  const t = performance.now()
  const recs = csvParse(fs.readFileSync(file), { columns: true }) as Array<Record<string, string>>
  const byKey = new Map<string, Record<string, string>>()
  for (const r of recs) { byKey.delete(r.variant_id); byKey.set(r.variant_id, r) }
  const data = [...byKey.values()]
  const c = await pool.connect()
  try {
    for (let i = 0; i < data.length; i += 500) {
      const batch = data.slice(i, i + 500)
      const params: unknown[] = []
      const values = batch.map(r => {
        const base = params.length
        params.push(upload, ...CAT_COLS.map(k => r[k] === '' ? null : r[k]))
        return `(${Array.from({ length: 8 }, (_, j) => `$${base + j + 1}`).join(', ')})`
      })
      await c.query(`INSERT INTO catalog_snapshots (csv_upload_id, ${CAT_COLS.join(', ')}) VALUES ${values.join(', ')}
        ON CONFLICT (csv_upload_id, variant_id) DO UPDATE SET ${CAT_COLS.slice(1).map(k => `${k} = EXCLUDED.${k}`).join(', ')}, updated_at = now()`, params)
    }
  } finally { c.release() }
  return performance.now() - t
}

async function catalog (n: number, label: string): Promise<number> {
  const file = path.join(DIR, `catalog-${n}.csv`)
  if (!fs.existsSync(file)) await writePresetSample('catalog-snapshots', { rows: n, seed: 4, dupRate: 0.01 }, file)
  await q('DELETE FROM catalog_snapshots WHERE csv_upload_id IN (1, 2)')
  await q('VACUUM ANALYZE catalog_snapshots')
  const brx = await cliSync(['--dataset', 'catalog-snapshots', '--scope', 'csv_upload_id=1', '--input', file])
  const seedMs = await seedCatalog(file, 2)
  const cols = CAT_COLS.join(', ')
  const same = (await md5('catalog_snapshots', cols, 'csv_upload_id = 1', 'variant_id')) === (await md5('catalog_snapshots', cols, 'csv_upload_id = 2', 'variant_id')) ? '✓' : '✗'
  const r = brx.report.rows
  record(label, 'brx-sync CLI (whole process)', n, brx.ms, null, 'ref', `ins ${r.inserted} dup ${r.duplicates}; sync ${brx.report.phases.total} ms`)
  record(label, "seed 004's after (500-row ON CONFLICT, commit each)", n, seedMs, brx.ms, same)
  return brx.ms
}

// --- candles (seed 002) ----------------------------------------------------------

const CANDLE_COLS = ['symbol', 'timeframe', 'ts', 'open', 'high', 'low', 'close', 'volume']

/** Seed 002's `_collect_symbol_data_sync`: per series, SELECT the timestamps present (IN list), bulk INSERT the rest. */
async function seedCandles (c: pg.ClientBase, table: string, series: Array<Array<Record<string, unknown>>>): Promise<void> {
  for (const batch of series) {
    const tss = batch.map(b => typeof b.ts === 'number' ? new Date(b.ts) : new Date(String(b.ts)))
    const { rows: have } = await c.query(`SELECT ts FROM ${table} WHERE symbol = $1 AND timeframe = $2 AND ts IN (${tss.map((_, i) => `$${i + 3}`).join(', ')})`, [batch[0].symbol, batch[0].timeframe, ...tss])
    const present = new Set(have.map(h => (h.ts as Date).getTime()))
    const fresh = batch.filter((_, i) => !present.has(tss[i].getTime()))
    if (fresh.length === 0) continue
    const params: unknown[] = []
    const values = fresh.map(b => `(${CANDLE_COLS.map(k => { params.push(k === 'ts' ? (typeof b.ts === 'number' ? new Date(b.ts) : b.ts) : b[k]); return `$${params.length}` }).join(', ')})`)
    await c.query(`INSERT INTO ${table} (${CANDLE_COLS.join(', ')}) VALUES ${values.join(', ')}`, params)
  }
}

function candleBatch (series: number, from: number, n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => candle(series, from + i))
}

async function candles30k (): Promise<void> {
  const label = 'candles 30,000, half present'
  await q('TRUNCATE market_candles, market_candles_seed')
  // 300 series (50 symbols × 6 timeframes); candles 0..99 stored, the sync brings 50..149.
  const pre = Array.from({ length: 300 }, (_, s) => candleBatch(s, 0, 100))
  const input = Array.from({ length: 300 }, (_, s) => candleBatch(s, 50, 100))
  const c = await pool.connect()
  try { await seedCandles(c, 'market_candles', pre); await seedCandles(c, 'market_candles_seed', pre) } finally { c.release() }
  await q('VACUUM ANALYZE market_candles'); await q('VACUUM ANALYZE market_candles_seed')
  const file = path.join(DIR, 'candles-30k.ndjson')
  fs.writeFileSync(file, input.flat().map(x => JSON.stringify(x)).join('\n') + '\n')
  const brx = await cliSync(['--dataset', 'market-candles', '--input', file])
  const c2 = await pool.connect()
  const t = performance.now()
  try { await seedCandles(c2, 'market_candles_seed', input) } finally { c2.release() }
  const seedMs = performance.now() - t
  const cols = CANDLE_COLS.join(', ')
  const same = (await md5('market_candles', cols, 'TRUE', 'symbol, timeframe, ts')) === (await md5('market_candles_seed', cols, 'TRUE', 'symbol, timeframe, ts')) ? '✓' : '✗'
  const r = brx.report.rows
  record(label, 'brx-sync CLI (whole process)', 30_000, brx.ms, null, 'ref', `ins ${r.inserted} existing ${r.existing}; sync ${brx.report.phases.total} ms`)
  record(label, "seed 002's after (IN query + bulk insert per series)", 30_000, seedMs, brx.ms, same, 'input already parsed')
  targets.push(['candles 30k: brx ≥ 10× faster than the seed', `${fmt(seedMs / brx.ms)}×`, seedMs / brx.ms >= 10 ? 'PASS' : 'MISS'])
}

async function candlesWarm (): Promise<void> {
  const label = 'candles 300 × 100 rows, warm'
  const engine = createEngine({ databaseUrl: DB_URL, mapping: { source: 'none' } })
  const brxLat: number[] = []; const seedLat: number[] = []
  const loop = monitorEventLoopDelay({ resolution: 1 })
  try {
    // Warm-up (JIT, connections, worker threads): the same batches go to the seed's table below.
    for (let i = 0; i < 5; i++) await engine.sync({ input: Readable.from([Buffer.from(candleBatch(1000 + i, 0, 100).map(x => JSON.stringify(x)).join('\n'))]), dataset: 'market-candles', format: 'ndjson' })
    loop.enable()
    for (let i = 0; i < 300; i++) {
      // Each batch: one series, half of it new (the exchange's last 100 candles, polled again later).
      const batch = candleBatch(2000 + (i % 300), 50 * Math.floor(i / 300) + (i % 2) * 50, 100)
      const t = performance.now()
      await engine.sync({ input: Readable.from([Buffer.from(batch.map(x => JSON.stringify(x)).join('\n'))]), dataset: 'market-candles', format: 'ndjson' })
      brxLat.push(performance.now() - t)
    }
    loop.disable()
  } finally { await engine.close() }
  const c = await pool.connect()
  try {
    for (let i = 0; i < 5; i++) await seedCandles(c, 'market_candles_seed', [candleBatch(1000 + i, 0, 100)])
    for (let i = 0; i < 300; i++) {
      const batch = candleBatch(2000 + (i % 300), 50 * Math.floor(i / 300) + (i % 2) * 50, 100)
      const t = performance.now()
      await seedCandles(c, 'market_candles_seed', [batch])
      seedLat.push(performance.now() - t)
    }
  } finally { c.release() }
  const cols = CANDLE_COLS.join(', ')
  const same = (await md5('market_candles', cols, 'symbol LIKE \'SYM%\'', 'symbol, timeframe, ts')) === (await md5('market_candles_seed', cols, 'symbol LIKE \'SYM%\'', 'symbol, timeframe, ts')) ? '✓' : '✗'
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
  const p50 = pct(brxLat, 0.5); const p99 = pct(brxLat, 0.99); const lp99 = loop.percentile(99) / 1e6
  record(label, 'brx-sync engine.sync()', 30_000, sum(brxLat), null, 'ref', `p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms, loop p99 ${fmt(lp99, 1)} ms`)
  record(label, "seed 002's after, per batch", 30_000, sum(seedLat), sum(brxLat), same, `p50 ${fmt(pct(seedLat, 0.5), 1)} ms, p99 ${fmt(pct(seedLat, 0.99), 1)} ms`)
  targets.push(['candles warm: p50 ≤ 15 ms', `${fmt(p50, 1)} ms`, p50 <= 15 ? 'PASS' : 'MISS'])
  targets.push(['candles warm: p99 ≤ 40 ms', `${fmt(p99, 1)} ms`, p99 <= 40 ? 'PASS' : 'MISS'])
  targets.push(['candles warm: event-loop p99 ≤ 20 ms', `${fmt(lp99, 1)} ms`, lp99 <= 20 ? 'PASS' : 'MISS'])
}

// --- order book (seed 003) -----------------------------------------------------------

const OB_IN = ['num_pedido', 'cod_produto', 'cliente', 'qtd_produto_pedido', 'preco_produto_pedido']
const OB_ALL = [...OB_IN, 'qtd_faturada', 'qtd_em_separacao', 'qtd_saldo']

/** Seed 003's after: all rows loaded, 2 GROUP BY into dicts, per-row UPDATE (changed) or INSERT, DELETE of the missing, one commit. */
async function seedOrderBook (input: Array<Record<string, unknown>>): Promise<number> {
  const t = performance.now()
  const c = await pool.connect()
  try {
    await c.query('BEGIN')
    const existing = new Map((await c.query(`SELECT ${OB_ALL.join(', ')} FROM carteira_seed`)).rows.map(r => [`${r.num_pedido}|${r.cod_produto}`, r]))
    const fat = new Map((await c.query('SELECT origem, cod_produto, sum(qtd_faturada) AS q FROM faturamento_produto GROUP BY origem, cod_produto')).rows.map(r => [`${r.origem}|${r.cod_produto}`, r.q as string]))
    const sep = new Map((await c.query('SELECT num_pedido, cod_produto, sum(qtd_em_separacao) AS q FROM separacao GROUP BY num_pedido, cod_produto')).rows.map(r => [`${r.num_pedido}|${r.cod_produto}`, r.q as string]))
    const milli = (s: unknown): bigint => { const [i, f = ''] = String(s).split('.'); const neg = i.startsWith('-'); const v = BigInt(i.replace('-', '')) * 1000n + BigInt((f + '000').slice(0, 3)); return neg ? -v : v }
    const txt = (v: bigint): string => { const neg = v < 0n; const a = (neg ? -v : v).toString().padStart(4, '0'); return `${neg ? '-' : ''}${a.slice(0, -3)}.${a.slice(-3)}` }
    const seen = new Set<string>()
    for (const it of input) {
      const k = `${String(it.num_pedido)}|${String(it.cod_produto)}`
      seen.add(k)
      const f = milli(fat.get(k) ?? '0'); const s = milli(sep.get(k) ?? '0')
      const next: Record<string, unknown> = { ...it, qtd_faturada: txt(f), qtd_em_separacao: txt(s), qtd_saldo: txt(milli(it.qtd_produto_pedido) - f - s) }
      const old = existing.get(k)
      if (old === undefined) {
        await c.query(`INSERT INTO carteira_seed (${OB_ALL.join(', ')}) VALUES (${OB_ALL.map((_, i) => `$${i + 1}`).join(', ')})`, OB_ALL.map(x => next[x]))
      } else {
        const dirty = OB_ALL.slice(2).filter(x => x === 'cliente' ? old[x] !== next[x] : milli(old[x]) !== milli(next[x]))
        if (dirty.length > 0) await c.query(`UPDATE carteira_seed SET ${dirty.map((x, i) => `${x} = $${i + 3}`).join(', ')} WHERE num_pedido = $1 AND cod_produto = $2`, [it.num_pedido, it.cod_produto, ...dirty.map(x => next[x])])
      }
    }
    const gone = [...existing.keys()].filter(k => !seen.has(k))
    if (gone.length > 0) await c.query("DELETE FROM carteira_seed WHERE num_pedido || '|' || cod_produto = ANY($1)", [gone])
    await c.query('COMMIT')
  } finally { c.release() }
  return performance.now() - t
}

async function copyRows (table: string, lines: string[]): Promise<void> {
  const { from } = await import('pg-copy-streams')
  const c = await pool.connect()
  try {
    const { pipeline } = await import('node:stream/promises')
    await pipeline(Readable.from([lines.join('\n') + '\n']), c.query(from(`COPY ${table} FROM STDIN`)))
  } finally { c.release() }
}

async function orderBook (n: number): Promise<void> {
  const label = `order book ${n.toLocaleString('en-US')} (3 source rows/line)`
  await q('TRUNCATE carteira_principal, carteira_seed, faturamento_produto, separacao')
  const src = orderBookSources(n, 3, 3)
  await copyRows('faturamento_produto', src.faturamento); await copyRows('separacao', src.separacao)
  const v1 = path.join(DIR, `orders-${n}-v1.ndjson`); const v2 = path.join(DIR, `orders-${n}-v2.ndjson`)
  await writePresetSample('order-book', { rows: n, seed: 3 }, v1)
  await writePresetSample('order-book', { rows: n, seed: 3, change: 0.05, changeSeed: 9 }, v2)
  await cliSync(['--dataset', 'order-book', '--input', v1])
  await q(`INSERT INTO carteira_seed SELECT ${OB_ALL.join(', ')} FROM carteira_principal`)
  // Some invoices change too: the balances of their lines must follow.
  await q("UPDATE faturamento_produto SET qtd_faturada = qtd_faturada + 1 WHERE right(origem, 2) = '07'")
  await q('VACUUM ANALYZE carteira_principal'); await q('VACUUM ANALYZE carteira_seed')
  const input = fs.readFileSync(v2, 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  const brx = await cliSync(['--dataset', 'order-book', '--input', v2])
  const seedMs = await seedOrderBook(input)
  const cols = OB_ALL.join(', ')
  const same = (await md5('carteira_principal', cols, 'TRUE', 'num_pedido, cod_produto')) === (await md5('carteira_seed', cols, 'TRUE', 'num_pedido, cod_produto')) ? '✓' : '✗'
  const r = brx.report.rows
  record(label, 'brx-sync CLI (whole process)', n, brx.ms, null, 'ref', `upd ${r.updated} unch ${r.unchanged}; sync ${brx.report.phases.total} ms`)
  record(label, "seed 003's after (load all, 2 GROUP BY, per-row ORM writes)", n, seedMs, brx.ms, same)
  const want = n < 10_000 ? 5 : 20
  targets.push([`order book ${n}: brx ≥ ${want}× faster than the seed`, `${fmt(seedMs / brx.ms)}×`, seedMs / brx.ms >= want ? 'PASS' : 'MISS'])
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { markdown: { type: 'boolean' }, skip: { type: 'string' } } })
  const skip = new Set(String(values.skip ?? '').split(',').filter(Boolean))
  fs.mkdirSync(DIR, { recursive: true })
  const admin = new pg.Client({ connectionString: DB_URL.replace(/\/[^/]+$/, '/postgres') })
  await admin.connect()
  const name = new URL(DB_URL).pathname.slice(1)
  if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`)
  await admin.end()
  for (const d of ['catalog-snapshots', 'market-candles', 'order-book']) await migrate({ databaseUrl: DB_URL, dataset: d })
  pool = new pg.Pool({ connectionString: DB_URL, max: 3 })
  pool.on('error', () => {})
  await q('CREATE TABLE IF NOT EXISTS market_candles_seed (LIKE market_candles INCLUDING ALL)')
  await q('CREATE TABLE IF NOT EXISTS carteira_seed (LIKE carteira_principal INCLUDING ALL)')
  try {
    const small = await catalog(25_900, 'catalog CSV 25,900, new upload')
    const seedRow = rows[rows.length - 1]
    targets.push(['catalog 25,900: brx ≥ 20× faster than the seed', seedRow[5], Number(seedRow[5].replace(/[×,]/g, '')) >= 20 ? 'PASS' : 'MISS'])
    targets.push(['catalog 25,900: whole CLI process ≤ 1 s', `${fmt(small / 1000, 3)} s`, small <= 1000 ? 'PASS' : 'MISS'])
    if (!skip.has('1m')) {
      const big = await catalog(1_000_000, 'catalog CSV 1,000,000, new upload')
      const perSmall = small / 25_900; const perBig = big / 1_000_000
      targets.push(['catalog per-row cost 1M within ±20% of 25,900', `${fmt(100 * (perBig / perSmall - 1), 0)}% (${fmt(perSmall * 1000, 1)} → ${fmt(perBig * 1000, 1)} µs/row)`, Math.abs(perBig / perSmall - 1) <= 0.2 ? 'PASS' : 'MISS'])
    }
    await candles30k()
    await candlesWarm()
    await orderBook(4_093)
    if (!skip.has('100k')) await orderBook(100_000)
  } finally { await pool.end() }
  const md = (h: string[], rs: string[][]): string => [`| ${h.join(' | ')} |`, `| ${h.map(() => '---').join(' | ')} |`, ...rs.map(r => `| ${r.join(' | ')} |`)].join('\n')
  process.stdout.write(md(['scenario', 'method', 'rows', 'seconds', 'rows/s', 'vs brx', 'same rows', 'notes'], rows) + '\n\n' + md(['target', 'value', 'result'], targets) + '\n')
}

main().catch(err => { console.error(err); process.exit(1) })
