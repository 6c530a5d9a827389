/**
 * What every bench script shares: the database, the users each method
 * writes as, external processes (psql, pgloader), the host monitor, the
 * table printer.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import v8 from 'node:v8'
import vm from 'node:vm'
import pg from 'pg'
import { cardtraderInventory } from '../src/dataset/cardtrader'

/** A database of the bench's own, recreated at the start of each run (see run.ts): every method starts from the same empty table. */
export const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/brx_bench'
export const TABLE = cardtraderInventory.table

/** Every column a method writes, user_id first: the CSV layout and the COPY column list. */
export const COLUMNS = ['user_id', ...cardtraderInventory.columns.map(c => c.name)]
export const KEY = cardtraderInventory.key
/** What counts as a change (the dataset default: every non-key column). */
export const COMPARE = cardtraderInventory.columns.map(c => c.name).filter(c => !KEY.includes(c))

/**
 * One user per method, so methods never touch each other's rows. The
 * 'beefbeef-' prefix is reserved for benchmarks: no test uses it, and
 * cleanup deletes every row that has it.
 */
export const USERS = {
  brx: 'beefbeef-0000-4000-8000-000000000001',
  psqlCopy: 'beefbeef-0000-4000-8000-000000000002',
  psqlBinary: 'beefbeef-0000-4000-8000-000000000003',
  seedsAfter: 'beefbeef-0000-4000-8000-000000000004',
  seedsBefore: 'beefbeef-0000-4000-8000-000000000005',
  onConflict: 'beefbeef-0000-4000-8000-000000000006',
  pgloader: 'beefbeef-0000-4000-8000-000000000007',
  /** Holds the base export; every re-sync starts from a copy of it. */
  base: 'beefbeef-0000-4000-8000-0000000000ff',
  memory: 'beefbeef-0000-4000-8000-000000000100',
  /** The memory scope's engine-diff re-sync starts from a copy of `memory`'s initial sync. */
  memoryEngine: 'beefbeef-0000-4000-8000-000000000101',
  brxCli: 'beefbeef-0000-4000-8000-000000000008',
  psqlTuned: 'beefbeef-0000-4000-8000-000000000009',
  brxDb: 'beefbeef-0000-4000-8000-00000000000a',
  brxCliDb: 'beefbeef-0000-4000-8000-00000000000b',
} as const
const BENCH_USERS = `user_id BETWEEN 'beefbeef-0000-0000-0000-000000000000' AND 'beefbeef-ffff-ffff-ffff-ffffffffffff'`

export function newPool (max = 3): pg.Pool {
  const pool = new pg.Pool({ connectionString: DB_URL, max, application_name: 'brx-bench' })
  pool.on('error', () => {}) // an idle client killed by the server must not crash the bench
  return pool
}

/** Removes everything a bench run leaves behind (rows and sync_runs history of the bench users). */
export async function cleanupAll (pool: pg.Pool): Promise<void> {
  await pool.query(`DELETE FROM ${TABLE} WHERE ${BENCH_USERS}`)
  await pool.query("DELETE FROM sync_runs WHERE scope->>'user_id' LIKE 'beefbeef-%'").catch(() => {})
}

/**
 * Same starting condition for every method: no dead tuples from the
 * previous one, fresh statistics, dirty buffers flushed (a checkpoint
 * landing inside one method's timer would bill it for another's writes).
 */
export async function settle (pool: pg.Pool): Promise<void> {
  await pool.query(`VACUUM ANALYZE ${TABLE}`)
  await pool.query('CHECKPOINT').catch(() => {}) // needs superuser or pg_checkpoint; best effort
  gc()
}

/** `user` gets exactly the rows `from` has (the re-sync starting state). */
export async function cloneUser (pool: pg.Pool, from: string, user: string): Promise<void> {
  const cols = COLUMNS.slice(1).join(', ')
  await pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [user])
  await pool.query(`INSERT INTO ${TABLE} (user_id, ${cols}) SELECT $2, ${cols} FROM ${TABLE} WHERE user_id = $1`, [from, user])
}

export interface Checksum { count: number, keySum: string, rowSum: string }

/**
 * keySum is the check the brief asks for (key + quantity + price); rowSum
 * hashes the whole stored row as a record literal, which tells NULL from ''
 * (a CSV loader's classic mistake). `ids` limits it to those
 * external_stock_ids (a sliced method).
 */
export async function checksum (pool: pg.Pool, user: string, ids?: string[]): Promise<Checksum> {
  const cols = COLUMNS.slice(1).map(c => c === 'properties' ? 'properties::text' : c).join(', ')
  const r = await pool.query(
    `SELECT count(*)::int AS n,
            coalesce(sum(hashtext(blueprint_id || '|' || external_stock_id || '|' || quantity || '|' || price_cents)), 0)::text AS k,
            coalesce(sum(hashtext(row(${cols})::text)), 0)::text AS r
       FROM ${TABLE} WHERE user_id = $1 ${ids !== undefined ? 'AND external_stock_id = ANY($2::text[])' : ''}`,
    ids !== undefined ? [user, ids] : [user])
  return { count: r.rows[0].n, keySum: r.rows[0].k, rowSum: r.rows[0].r }
}

export const sameChecksum = (a: Checksum, b: Checksum): boolean => a.count === b.count && a.keySum === b.keySum && a.rowSum === b.rowSum

// ---- external processes -------------------------------------------------------------------

export function which (cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = `${dir}/${cmd}`
    try { fs.accessSync(p, fs.constants.X_OK); return p } catch {}
  }
  return null
}

/** Runs a command to completion; resolves with its wall time, rejects with its stderr on failure. */
export async function runTimed (cmd: string, args: string[], opts: { input?: string } = {}): Promise<{ ms: number, stdout: string }> {
  return await new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''; let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('error', reject)
    child.on('close', code => {
      const ms = performance.now() - t0
      if (code === 0) resolve({ ms, stdout: out })
      else reject(new Error(`${cmd} exited with ${String(code)}: ${err.trim().split('\n').slice(-5).join(' | ')}`))
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** Wall time, the child's CPU (user + sys) and peak RSS (the kernel's maxrss), from /usr/bin/time, of a whole process. */
export interface ProcessTimes { ms: number, cpuMs: number | null, peakRssMb: number | null, stdout: string }

export async function runProcess (cmd: string, args: string[], env: Record<string, string> = {}): Promise<ProcessTimes> {
  const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null
  const out = path.join(os.tmpdir(), `brx-bench-time-${process.pid}-${Date.now()}.txt`)
  const t0 = performance.now()
  const res = await new Promise<{ stdout: string }>((resolve, reject) => {
    const argv = timeBin !== null ? ['-f', '%U %S %M', '-o', out, cmd, ...args] : args
    const child = spawn(timeBin ?? cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let so = ''; let se = ''
    child.stdout.on('data', (d: Buffer) => { so += d.toString() })
    child.stderr.on('data', (d: Buffer) => { se += d.toString() })
    child.on('error', reject)
    child.on('close', code => code === 0 ? resolve({ stdout: so }) : reject(new Error(`${cmd} exited with ${String(code)}: ${se.trim().split('\n').slice(-5).join(' | ')}`)))
  })
  const ms = performance.now() - t0
  let cpuMs: number | null = null
  let peakRssMb: number | null = null
  if (timeBin !== null) {
    const [u, sy, kb] = fs.readFileSync(out, 'utf8').trim().split('\n').pop()?.split(' ').map(Number) ?? []
    fs.rmSync(out, { force: true })
    if (Number.isFinite(u) && Number.isFinite(sy)) cpuMs = (u + sy) * 1000
    if (Number.isFinite(kb) && kb > 0) peakRssMb = kb / 1024
  }
  return { ms, cpuMs, peakRssMb, stdout: res.stdout }
}

/** psql running a script file: -X ignores ~/.psqlrc, ON_ERROR_STOP makes a failed statement a failed run. */
export async function psqlScript (file: string): Promise<number> {
  const { ms } = await runTimed(which('psql') ?? '/usr/bin/psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', DB_URL, '-f', file])
  return ms
}

// ---- host monitor ---------------------------------------------------------------------------

export interface HostStats { loopP50Ms: number, loopP99Ms: number, loopMaxMs: number, idleP99Ms: number, peakRssMb: number, baseRssMb: number }

const LOOP_RESOLUTION_MS = 10

/**
 * The histogram records whole timer intervals (an idle loop reads ~10 ms at
 * p50), so the delay is what exceeds the resolution — the same correction
 * @fastify/under-pressure applies.
 */
function loopDelays (h: ReturnType<typeof monitorEventLoopDelay>): { p50: number, p99: number, max: number } {
  const ms = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS)
  return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) }
}

/** The loop delay of this process doing nothing for `ms`: on a shared 2-core machine it is not zero, and a sync's p99 means little without it. */
export async function idleLoopP99 (ms = 1_000): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  h.enable()
  await new Promise(resolve => setTimeout(resolve, ms))
  h.disable()
  return loopDelays(h).p99
}

/**
 * What a host application would feel while a sync runs in its process:
 * event-loop delay (10 ms resolution, as the brief asks: finer only
 * measures timer jitter) and peak RSS sampled every 50 ms.
 */
export function monitorHost (idleP99Ms: number): { stop: () => HostStats } {
  const h = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  const baseRss = process.memoryUsage().rss
  let peak = baseRss
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 50)
  h.enable()
  return {
    stop () {
      h.disable()
      clearInterval(timer)
      peak = Math.max(peak, process.memoryUsage().rss)
      const d = loopDelays(h)
      return { loopP50Ms: d.p50, loopP99Ms: d.p99, loopMaxMs: d.max, idleP99Ms, peakRssMb: peak / 2 ** 20, baseRssMb: baseRss / 2 ** 20 }
    },
  }
}

/**
 * A full GC between methods, so one method's garbage does not land in the
 * next one's RSS or timer. `node dist/bench/run.js` is started without
 * --expose-gc, so it is switched on at run time.
 */
let gcFn: (() => void) | null = null
export function gc (): void {
  if (gcFn === null) {
    v8.setFlagsFromString('--expose-gc')
    gcFn = vm.runInNewContext('gc') as () => void
  }
  gcFn()
}

// ---- formatting -----------------------------------------------------------------------------

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US')
export const fmtSec = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1)

/** '25k' -> 25000, '1m' -> 1000000, '1500' -> 1500. */
export function parseSize (s: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(s.trim())
  if (m === null) throw new Error(`--sizes: "${s}" is not a size like 25k, 250k or 1m.`)
  return Math.round(Number(m[1]) * (m[2].toLowerCase() === 'k' ? 1e3 : m[2].toLowerCase() === 'm' ? 1e6 : 1))
}

export const sizeLabel = (n: number): string => n % 1e6 === 0 ? `${n / 1e6}m` : n % 1e3 === 0 ? `${n / 1e3}k` : String(n)

/** A plain-text table (numbers right-aligned, columns in `left` left-aligned), or GitHub Markdown. */
export function table (head: string[], rows: string[][], markdown = false, left = [0, 1]): string {
  if (markdown) {
    const line = (r: string[]): string => `| ${r.map(c => c.replace(/\|/g, '\\|')).join(' | ')} |`
    return [line(head), `| ${head.map((_, i) => left.includes(i) ? '---' : '---:').join(' | ')} |`, ...rows.map(line)].join('\n')
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (r: string[]): string => r.map((c, i) => left.includes(i) ? c.padEnd(w[i]) : c.padStart(w[i])).join('  ').trimEnd()
  return [line(head), w.map(n => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n')
}
