/**
 * One worker's CPU per row, on one thread with nothing else running (the
 * steady measure behind README "Where the CPU goes"): a generated export cut
 * into partitions as the main thread cuts them, then
 *  - transformPartition over every partition (what a worker does for a sync),
 *  - per record: JSON.parse + normalize against readFields + normalize,
 *  - readFields alone and JSON.parse (with its toString) alone,
 *  - a loop that only reads every byte (the floor for any JS byte walker),
 *  - with the database reachable (BENCH_DATABASE_URL, default brx_bench):
 *    transformPartition marking every row against the scope's existing rows
 *    (the engine diff of an identical re-sync: the same export synced once,
 *    then read back with readExisting).
 * process.cpuUsage() per row, best of --reps.
 *
 * Usage: npm run bench:worker -- [--products 250000] [--reps 4] [--no-diff]
 */
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import pg from 'pg'
import pino from 'pino'
import { migrate, sync } from '../src'
import { readExisting } from '../src/diff/read'
import type { ExistingRows } from '../src/diff/store'
import { cardtraderInventory } from '../src/dataset/cardtrader'
import { Partitioner, type Partition } from '../src/read/partitioner'
import { CARDTRADER_FIELDS, normalizeCardtraderProduct } from '../src/transform/cardtrader'
import { compileFieldPlan, readFields } from '../src/transform/json-fields'
import { transformPartition } from '../src/transform/partition'
import { generateProducts } from '../tools/generate'

const { values: a } = parseArgs({ options: { products: { type: 'string', default: '250000' }, reps: { type: 'string', default: '4' }, 'no-diff': { type: 'boolean', default: false } } })
const products = Number(a.products); const reps = Number(a.reps)

const lines: string[] = []
for (const p of generateProducts({ products, seed: 1 })) lines.push(JSON.stringify(p))
const buf = Buffer.from('[\n' + lines.join(',\n') + '\n]\n')
lines.length = 0

const parts: Partition[] = []
const cutter = new Partitioner('json', 1 << 20, 'bench')
for (let i = 0; i < buf.length; i += 256 * 1024) {
  cutter.push(buf.subarray(i, Math.min(buf.length, i + 256 * 1024)))
  for (let p = cutter.take(); p !== undefined; p = cutter.take()) parts.push(p)
}
cutter.end()
for (let p = cutter.take(); p !== undefined; p = cutter.take()) parts.push(p)
const rows = parts.reduce((n, p) => n + p.count, 0)
// Records as [start, end) in one buffer, for the per-record races.
const spans: Array<[Buffer, number, number]> = []
for (const p of parts) {
  const b = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)
  for (let i = 0; i < p.count; i++) spans.push([b, p.offsets[2 * i], p.offsets[2 * i + 1]])
}
const plan = compileFieldPlan(CARDTRADER_FIELDS)
const USER = '7e1e3b6a-2f43-4c55-9f0e-1d2a3b4c5d6e'
const layout = { prefix: [{ type: 'uuid' as const, value: USER }], seq: false }
const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/brx_bench'

/** The export synced once into the bench database, then read back as the engine diff reads a scope. */
async function existingRows (): Promise<ExistingRows | null> {
  const admin = new pg.Client({ connectionString: DB_URL.replace(/\/[^/]*$/, '/postgres') })
  try { await admin.connect() } catch { return null }
  const db = new URL(DB_URL).pathname.slice(1)
  const has = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])
  if (has.rowCount === 0) await admin.query(`CREATE DATABASE ${db}`)
  await admin.end()
  const logger = pino({ level: 'silent' })
  await migrate({ databaseUrl: DB_URL, logger })
  await sync({ input: Readable.from([buf]), userId: USER, databaseUrl: DB_URL, mapping: { source: 'none' }, logger })
  const c = new pg.Client({ connectionString: DB_URL })
  await c.connect()
  try { return await readExisting(c, cardtraderInventory, [USER]) } finally { await c.end() }
}

async function best (name: string, f: () => unknown): Promise<void> {
  let min = Infinity
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage()
    await f()
    const c = process.cpuUsage(c0)
    min = Math.min(min, (c.user + c.system) / rows)
  }
  console.log(`${name.padEnd(52)} ${min.toFixed(2).padStart(6)} µs/row`)
}

async function main (): Promise<void> {
  console.log(`${rows.toLocaleString('en-US')} products, ${(buf.length / 2 ** 20).toFixed(1)} MiB in ${parts.length} partitions; best of ${reps}`)
  await best('transformPartition (a worker\'s whole job)', async () => {
    for (const p of parts) await transformPartition({ ...p, dataset: cardtraderInventory, keepRaw: false, unmapped: null, layout })
  })
  const existing = a['no-diff'] ? null : await existingRows()
  if (existing !== null) {
    let same = 0
    await best(`transformPartition, engine diff vs ${existing.rows.toLocaleString('en-US')} existing rows`, async () => {
      same = 0
      for (const p of parts) {
        const r = await transformPartition({ ...p, dataset: cardtraderInventory, keepRaw: false, unmapped: null, layout: { prefix: [], seq: true }, existing })
        for (const m of r.marks?.same ?? []) same += m
      }
    })
    console.log(`  (rows found unchanged: ${same.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')})`)
    await best('transformPartition, staging layout, no diff', async () => {
      for (const p of parts) await transformPartition({ ...p, dataset: cardtraderInventory, keepRaw: false, unmapped: null, layout: { prefix: [], seq: true } })
    })
  }
  await best('JSON.parse + normalize, per record', () => {
    for (const [b, s, e] of spans) normalizeCardtraderProduct(JSON.parse(b.toString('utf8', s, e)), new Array(15))
  })
  await best('readFields + normalize, per record', () => {
    for (const [b, s, e] of spans) normalizeCardtraderProduct(readFields(plan, b, s, e) ?? JSON.parse(b.toString('utf8', s, e)), new Array(15))
  })
  await best('JSON.parse (with toString) alone', () => { for (const [b, s, e] of spans) JSON.parse(b.toString('utf8', s, e)) })
  await best('readFields alone', () => { for (const [b, s, e] of spans) readFields(plan, b, s, e) })
  await best('a loop reading every byte (floor)', () => {
    let x = 0
    for (const [b, s, e] of spans) for (let i = s; i < e; i++) x += b[i]
    return x
  })
}

void main()
