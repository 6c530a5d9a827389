/**
 * Throughput of the job system: N sellers × P products (fresh exports, first
 * syncs), queued at once, drained by 1, 2 and 3 `brx-sync worker` processes.
 * Prints syncs per minute for each worker count, the workers' CPU seconds
 * (from /proc) against the wall time, and PostgreSQL's share.
 *
 * Usage: npm run bench:jobs -- [--sellers 100] [--products 25000] [--procs 1,2,3] [--concurrency 2] [--threads 1]
 * Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/brx_bench_jobs), recreated.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { writeExport } from '../tools/generate'
import { enqueueSync } from '../src/jobs'
import { recreateDatabase } from '../test/setup-db'

const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/brx_bench_jobs'
const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js')
const TICK = 100 // USER_HZ: /proc/<pid>/stat counts CPU time in clock ticks

function cpuSeconds (pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK // utime stime cutime cstime
  } catch { return 0 }
}

/** CPU seconds of every PostgreSQL process (the server's own and its backends). */
function postgresCpu (): number {
  let total = 0
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try { if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('postgres')) total += cpuSeconds(Number(d)) } catch {}
  }
  return total
}

async function exportsFor (sellers: number, products: number): Promise<string[]> {
  const dir = path.join(os.tmpdir(), 'brx-bench-jobs', `${products}`)
  fs.mkdirSync(dir, { recursive: true })
  const files: string[] = []
  for (let i = 0; i < sellers; i++) {
    const file = path.join(dir, `seller-${i}.json`)
    if (!fs.existsSync(file)) await writeExport(file, { products, seed: 1000 + i })
    files.push(file)
  }
  return files
}

async function round (procs: number, files: string[], a: Record<string, string>, db: pg.Pool): Promise<Record<string, number>> {
  await db.query('DROP SCHEMA IF EXISTS pgboss CASCADE')
  await db.query('TRUNCATE user_inventory_items; TRUNCATE sync_runs')
  const ids: string[] = []
  for (const f of files) ids.push((await enqueueSync({ userId: randomUUID(), input: f, databaseUrl: DB_URL })).jobId as string)
  const pg0 = postgresCpu()
  const t0 = performance.now()
  const children: ChildProcess[] = []
  for (let i = 0; i < procs; i++) {
    const c = spawn(process.execPath, [CLI, 'worker', '--concurrency', a.concurrency, '--workers', a.threads, '--no-mapping', '--database-url', DB_URL, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] })
    children.push(c)
  }
  let cpu = 0
  for (;;) {
    cpu = children.reduce((s, c) => s + cpuSeconds(c.pid as number), 0)
    const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pgboss.job WHERE id = ANY($1::uuid[]) AND state IN ('completed', 'failed')", [ids])
    if (rows[0].n === ids.length) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  const wall = (performance.now() - t0) / 1000
  const pgCpu = postgresCpu() - pg0
  await Promise.all(children.map(async c => await new Promise(resolve => { c.once('exit', resolve); c.kill('SIGTERM') })))
  const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pgboss.job WHERE id = ANY($1::uuid[]) AND state = 'failed'", [ids])
  return { procs, syncs: ids.length, failed: rows[0].n, wall, syncsPerMin: ids.length / wall * 60, workerCpu: cpu, pgCpu, cpuPerWall: (cpu + pgCpu) / wall }
}

async function main (): Promise<void> {
  const a = parseArgs({
    options: {
      sellers: { type: 'string', default: '100' },
      products: { type: 'string', default: '25000' },
      procs: { type: 'string', default: '1,2,3' },
      concurrency: { type: 'string', default: '2' },
      threads: { type: 'string', default: '1' },
    },
  }).values as Record<string, string>
  await recreateDatabase(DB_URL)
  const files = await exportsFor(Number(a.sellers), Number(a.products))
  const db = new pg.Pool({ connectionString: DB_URL, max: 2 })
  const results: Array<Record<string, number>> = []
  try {
    for (const p of a.procs.split(',').map(Number)) results.push(await round(p, files, a, db))
  } finally {
    await db.end()
  }
  console.log(`\n${a.sellers} sellers × ${a.products} products, --concurrency ${a.concurrency} --workers ${a.threads} per process, ${os.availableParallelism()} CPUs\n`)
  console.log('| worker processes | syncs | failed | wall s | syncs/min | worker CPU s | PostgreSQL CPU s | CPU busy / wall |')
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of results) console.log(`| ${r.procs} | ${r.syncs} | ${r.failed} | ${r.wall.toFixed(1)} | ${r.syncsPerMin.toFixed(1)} | ${r.workerCpu.toFixed(1)} | ${r.pgCpu.toFixed(1)} | ${r.cpuPerWall.toFixed(2)} |`)
}

main().catch(err => { console.error(err); process.exitCode = 1 })
