/**
 * The same syncs on Citus and on plain PostgreSQL, on the local cluster of
 * ../shared/citus (README "Running on Citus"): a first sync of N products,
 * a re-sync of its changed version (5% changed, 1% added, 1% removed), and
 * the same re-sync of smaller inventories: 80 products (under 64 KiB: the
 * light path, TEMP staging, on both), 1000 products (500 KB: staged on plain
 * PostgreSQL, the light path on Citus, whose limit is 1 MiB) and 5000
 * products (2.5 MB: staged on both; on Citus a distributed staging table
 * created and dropped).
 *
 *   citus  database brx_bench_citus: user_inventory_items distributed by
 *          user_id (`migrate --citus`), shards on the workers 5441/5442
 *   plain  database brx_bench_plain on the coordinator's server (5440),
 *          without the citus extension: the same server settings (the kit's
 *          fsync=off), so the difference is Citus alone
 *
 * Usage: npm run bench:citus -- [--products 250000] [--reps 3]
 * Starts the kit's cluster (start-citus.sh, idempotent); BRX_CITUS_KIT overrides where the kit is.
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import pino from 'pino'
import { createEngine, migrate, type SyncReport } from '../src'
import { ensureExport, baseOptions, changedOptions, CACHE_DIR } from './data'
import { sizeLabel, table } from './lib'

const ROOT = path.resolve(__dirname, '..', '..')

function kitDir (): string {
  const dir = [process.env.BRX_CITUS_KIT, path.resolve(ROOT, '../shared/citus'), path.resolve(ROOT, '../../shared/citus')]
    .find(d => d !== undefined && fs.existsSync(path.join(d, 'start-citus.sh')))
  if (dir === undefined) throw new Error('no Citus kit found: set BRX_CITUS_KIT')
  return dir
}

function startCluster (db: string): string {
  const out = execFileSync(path.join(kitDir(), 'start-citus.sh'), { env: { ...process.env, CITUS_DB: db }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return out.trim().split('\n').at(-1) as string
}

async function recreatePlain (coordinator: string, db: string): Promise<string> {
  const admin = new pg.Client({ connectionString: coordinator })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${db}`)
  await admin.end()
  return coordinator.replace(/\/[^/]+$/, `/${db}`)
}

async function reset (url: string, citus: boolean): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  await c.query('DROP TABLE IF EXISTS user_inventory_items, sync_runs, brx_migrations CASCADE; DROP SCHEMA IF EXISTS brx_staging CASCADE')
  await c.end()
  await migrate({ databaseUrl: url, citus })
}

interface Sample { first: number, resync: number, resyncMerge: number, small: number, mid: number, large: number }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

type Files = Record<'base' | 'changed' | 'small' | 'smallChanged' | 'mid' | 'midChanged' | 'large' | 'largeChanged', string>

/** A first sync of `from` for a new user, then the timed re-sync of `to`. */
async function resync (engine: ReturnType<typeof createEngine>, from: string, to: string): Promise<SyncReport> {
  const user = randomUUID()
  await engine.sync({ input: from, userId: user })
  return await engine.sync({ input: to, userId: user })
}

async function bench (url: string, files: Files, reps: number): Promise<Sample[]> {
  const engine = createEngine({ databaseUrl: url, mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  const samples: Sample[] = []
  try {
    for (let r = 0; r < reps; r++) {
      const user = randomUUID()
      const a: SyncReport = await engine.sync({ input: files.base, userId: user })
      const b: SyncReport = await engine.sync({ input: files.changed, userId: user })
      const c = await resync(engine, files.small, files.smallChanged)
      const m = await resync(engine, files.mid, files.midChanged)
      const l = await resync(engine, files.large, files.largeChanged)
      samples.push({ first: a.phases.total, resync: b.phases.total, resyncMerge: b.phases.merge, small: c.phases.total, mid: m.phases.total, large: l.phases.total })
      process.stderr.write(`  rep ${r + 1}: first ${Math.round(a.phases.total)} ms, re-sync ${Math.round(b.phases.total)} ms (${b.rows.inserted}+ ${b.rows.updated}~ ${b.rows.deleted}-), 80 / 1000 / 5000-product re-syncs ${Math.round(c.phases.total)} / ${Math.round(m.phases.total)} / ${Math.round(l.phases.total)} ms\n`)
    }
  } finally {
    await engine.close()
  }
  return samples
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { products: { type: 'string', default: '250000' }, reps: { type: 'string', default: '3' }, markdown: { type: 'boolean' } } })
  const n = Number(values.products)
  const reps = Number(values.reps)
  const log = (s: string): void => { process.stderr.write(s + '\n') }
  const base = path.join(CACHE_DIR, `base-${sizeLabel(n)}.json`)
  const changed = path.join(CACHE_DIR, `changed-${sizeLabel(n)}.json`)
  await ensureExport(base, baseOptions(n), log)
  await ensureExport(changed, changedOptions(n), log)
  const files: Files = { base, changed, small: '', smallChanged: '', mid: '', midChanged: '', large: '', largeChanged: '' }
  for (const [k, products] of [['small', 80], ['mid', 1000], ['large', 5000]] as const) {
    files[k] = path.join(CACHE_DIR, `citus-${products}.json`)
    files[`${k}Changed`] = path.join(CACHE_DIR, `citus-${products}-changed.json`)
    await ensureExport(files[k], { products, seed: 7 }, log)
    await ensureExport(files[`${k}Changed`], { products, seed: 7, change: 0.05, add: 0.01, remove: 0.01 }, log)
  }
  if (fs.statSync(files.smallChanged).size > 64 * 1024) throw new Error(`${files.smallChanged} is over 64 KiB: not the light path`)

  const t0 = performance.now()
  const citusUrl = startCluster('brx_bench_citus')
  log(`cluster up in ${Math.round(performance.now() - t0)} ms: ${citusUrl}`)
  const plainUrl = await recreatePlain(citusUrl, 'brx_bench_plain')
  const rows: string[][] = []
  for (const [name, url, citus] of [['plain', plainUrl, false], ['citus', citusUrl, true]] as const) {
    log(`${name}: ${url}`)
    await reset(url, citus)
    const samples = await bench(url, files, reps)
    rows.push([name, ...(['first', 'resync', 'resyncMerge', 'small', 'mid', 'large'] as const).map(k => String(Math.round(median(samples.map(s => s[k])))))])
  }
  console.log(`\n${sizeLabel(n)} products, median of ${reps} (ms; re-sync = 5% changed, 1% added, 1% removed; the same changes for 80, 1000 and 5000 products)\n`)
  console.log(table(['target', `first sync ${sizeLabel(n)}`, `re-sync ${sizeLabel(n)}`, 'its merge', 're-sync 80', 're-sync 1000', 're-sync 5000'], rows, values.markdown === true, [0]))
}

main().catch(err => { console.error(err); process.exit(1) })
