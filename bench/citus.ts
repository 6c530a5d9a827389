/**
 * The same syncs on Citus and on plain PostgreSQL, on the local cluster of
 * ../shared/citus (README "Running on Citus"): a first sync of N products,
 * a re-sync of its changed version (5% changed, 1% added, 1% removed), and
 * a small re-sync (under the light path's 64 KiB on plain PostgreSQL).
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

interface Sample { first: number, resync: number, resyncMerge: number, small: number, smallMerge: number }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function bench (url: string, files: { base: string, changed: string, small: string, smallChanged: string }, reps: number): Promise<Sample[]> {
  const engine = createEngine({ databaseUrl: url, mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  const samples: Sample[] = []
  try {
    for (let r = 0; r < reps; r++) {
      const user = randomUUID()
      const a: SyncReport = await engine.sync({ input: files.base, userId: user })
      const b: SyncReport = await engine.sync({ input: files.changed, userId: user })
      const small = randomUUID()
      await engine.sync({ input: files.small, userId: small })
      const c: SyncReport = await engine.sync({ input: files.smallChanged, userId: small })
      samples.push({ first: a.phases.total, resync: b.phases.total, resyncMerge: b.phases.merge, small: c.phases.total, smallMerge: c.phases.merge })
      process.stderr.write(`  rep ${r + 1}: first ${Math.round(a.phases.total)} ms, re-sync ${Math.round(b.phases.total)} ms (${b.rows.inserted}+ ${b.rows.updated}~ ${b.rows.deleted}-), small re-sync ${Math.round(c.phases.total)} ms\n`)
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
  const small = path.join(CACHE_DIR, 'citus-small-150.json')
  const smallChanged = path.join(CACHE_DIR, 'citus-small-150-changed.json')
  await ensureExport(base, baseOptions(n), log)
  await ensureExport(changed, changedOptions(n), log)
  await ensureExport(small, { products: 150, seed: 7 }, log)
  await ensureExport(smallChanged, { products: 150, seed: 7, change: 0.05, add: 0.01, remove: 0.01 }, log)
  const files = { base, changed, small, smallChanged }

  const t0 = performance.now()
  const citusUrl = startCluster('brx_bench_citus')
  log(`cluster up in ${Math.round(performance.now() - t0)} ms: ${citusUrl}`)
  const plainUrl = await recreatePlain(citusUrl, 'brx_bench_plain')
  const rows: string[][] = []
  for (const [name, url, citus] of [['plain', plainUrl, false], ['citus', citusUrl, true]] as const) {
    log(`${name}: ${url}`)
    await reset(url, citus)
    const samples = await bench(url, files, reps)
    rows.push([name, ...(['first', 'resync', 'resyncMerge', 'small', 'smallMerge'] as const).map(k => String(Math.round(median(samples.map(s => s[k])))))])
  }
  console.log(`\n${sizeLabel(n)} products, median of ${reps} (ms; re-sync = 5% changed, 1% added, 1% removed; small = 150 products, the same changes)\n`)
  console.log(table(['target', 'first sync', 're-sync', 're-sync merge', 'small re-sync', 'small merge'], rows, values.markdown === true, [0]))
}

main().catch(err => { console.error(err); process.exit(1) })
