/**
 * Memory stays flat however large the input: per size, an initial sync of a
 * product export and a re-sync of its changed version (5% changed, 1% new,
 * 1% removed) onto it, each a CLI `brx-sync sync` in a child process whose
 * peak RSS is read by the kernel's own accounting (/usr/bin/time %M, else
 * VmHWM polled from /proc) — the bench process's own heap cannot blur it.
 * The re-sync runs once per diff mode asked for, each from the same
 * starting rows (the engine-diff user gets an untimed copy of the initial
 * sync's rows); the two re-syncs' final rows are checksum-checked equal.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import type { SyncReport } from '../src/report/types'
import { CACHE_DIR, baseOptions, changedOptions, ensureExport } from './data'
import { DB_URL, USERS, TABLE, checksum, cloneUser, fmtInt, fmtSec, newPool, sameChecksum, sizeLabel, table } from './lib'

export type MemoryDiff = 'database' | 'engine'

export interface MemoryResult {
  products: number
  scenario: 'initial' | 'resync'
  /** The diff asked for (re-sync only) and the one the report says ran. */
  diffAsked: MemoryDiff | null
  diffRan: MemoryDiff | null
  exportMb: number
  rows: number | null
  seconds: number | null
  rowsPerSec: number | null
  peakRssMb: number | null
  cpuMs: number | null
  /** Re-syncs: the final rows equal the other diff mode's (null when only one ran). */
  same: boolean | null
  via: string
  error?: string
}

const hwmKb = (pid: number): number | null => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1])
  } catch { return null }
}

interface CliRun { report: SyncReport, peakKb: number | null, cpuMs: number | null, via: string, ms: number }

/** Runs the CLI sync; peak RSS from /usr/bin/time when present, else VmHWM read every 20 ms until exit. */
async function cliSync (file: string, user: string, extra: string[]): Promise<CliRun> {
  const cli = path.resolve(__dirname, '../src/cli/main.js')
  const args = ['sync', '--input', file, '--user', user, '--no-mapping', '--json', '--log-level', 'warn', '--database-url', DB_URL, ...extra]
  const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null
  const [cmd, argv] = timeBin !== null ? [timeBin, ['-f', 'BRX_TIME=%M %U %S', process.execPath, cli, ...args]] : [process.execPath, [cli, ...args]]
  return await new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''; let err = ''
    let polled: number | null = null
    // With /usr/bin/time the child is `time`; its own child is node, so only the fallback polls.
    const timer = timeBin === null ? setInterval(() => { polled = Math.max(polled ?? 0, hwmKb(child.pid as number) ?? 0) }, 20) : null
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('error', reject)
    child.on('close', code => {
      if (timer !== null) clearInterval(timer)
      const ms = performance.now() - t0
      if (code !== 0) { reject(new Error(`brx-sync sync exited with ${String(code)}: ${err.trim().split('\n').slice(-3).join(' | ')}`)); return }
      const m = /BRX_TIME=(\d+) ([\d.]+) ([\d.]+)/.exec(err)
      resolve({
        report: JSON.parse(out) as SyncReport,
        peakKb: m !== null ? Number(m[1]) : polled,
        cpuMs: m !== null ? (Number(m[2]) + Number(m[3])) * 1000 : null,
        via: m !== null ? '/usr/bin/time %M' : 'VmHWM (polled)',
        ms,
      })
    })
  })
}

async function exportOf (name: 'base' | 'changed', products: number, log: (s: string) => void): Promise<{ file: string, mb: number }> {
  const file = path.join(CACHE_DIR, `${name}-${sizeLabel(products)}.json`)
  await ensureExport(file, name === 'base' ? baseOptions(products) : changedOptions(products), log)
  return { file, mb: fs.statSync(file).size / 2 ** 20 }
}

const clear = async (pool: pg.Pool): Promise<void> => {
  await pool.query(`DELETE FROM ${TABLE} WHERE user_id = ANY($1::uuid[])`, [[USERS.memory, USERS.memoryEngine]])
}

export interface MemoryOptions { markdown: boolean, out: (s: string) => void, log: (s: string) => void, diffs: MemoryDiff[], resync: boolean }

export async function runMemory (sizes: number[], o: MemoryOptions): Promise<MemoryResult[]> {
  const pool = newPool(1)
  const results: MemoryResult[] = []
  const run = async (products: number, scenario: 'initial' | 'resync', exp: { file: string, mb: number }, user: string, diff: MemoryDiff | null): Promise<MemoryResult> => {
    const r: MemoryResult = { products, scenario, diffAsked: diff, diffRan: null, exportMb: exp.mb, rows: null, seconds: null, rowsPerSec: null, peakRssMb: null, cpuMs: null, same: null, via: '-' }
    o.log(`memory: CLI ${scenario}${diff !== null ? ` --diff ${diff}` : ''} of ${fmtInt(products)} products (${exp.mb.toFixed(0)} MB) ...`)
    try {
      const c = await cliSync(exp.file, user, diff !== null ? ['--diff', diff] : [])
      Object.assign(r, { diffRan: scenario === 'resync' ? c.report.diff : null, rows: c.report.rows.read, seconds: c.ms / 1000, rowsPerSec: c.report.rows.read / (c.ms / 1000), peakRssMb: c.peakKb === null ? null : c.peakKb / 1024, cpuMs: c.cpuMs, via: c.via })
    } catch (err) {
      r.error = (err as Error).message
    }
    o.log(`memory: ${r.error !== undefined ? `error: ${r.error}` : `${fmtSec((r.seconds as number) * 1000)} s, peak RSS ${r.peakRssMb === null ? '?' : fmtInt(r.peakRssMb)} MB`}`)
    results.push(r)
    return r
  }
  try {
    for (const products of sizes) {
      const base = await exportOf('base', products, o.log)
      const changed = o.resync ? await exportOf('changed', products, o.log) : null
      await clear(pool)
      await pool.query(`VACUUM ANALYZE ${TABLE}`)
      const initial = await run(products, 'initial', base, USERS.memory, null)
      if (changed !== null && initial.error === undefined) {
        // Each re-sync starts from the initial sync's rows: the engine-diff user gets a copy first (untimed).
        const users: Record<MemoryDiff, string> = { database: USERS.memory, engine: USERS.memoryEngine }
        if (o.diffs.includes('engine')) await cloneUser(pool, USERS.memory, USERS.memoryEngine)
        await pool.query(`VACUUM ANALYZE ${TABLE}`)
        const done: Array<{ r: MemoryResult, user: string }> = []
        for (const d of o.diffs) done.push({ r: await run(products, 'resync', changed, users[d], d), user: users[d] })
        const ok = done.filter(x => x.r.error === undefined)
        if (ok.length === 2) {
          const same = sameChecksum(await checksum(pool, ok[0].user), await checksum(pool, ok[1].user))
          for (const x of ok) x.r.same = same
        }
      }
      await clear(pool)
    }
  } finally {
    await clear(pool).catch(() => {})
    await pool.query("DELETE FROM sync_runs WHERE scope->>'user_id' = ANY($1::text[])", [[USERS.memory, USERS.memoryEngine]]).catch(() => {})
    await pool.end()
  }
  o.out(o.markdown ? '\n### Memory (CLI in a child process)\n' : '\nmemory (CLI in a child process; wall time includes process start; re-sync = 5% changed, 1% new, 1% removed)\n')
  o.out(table(['products', 'scenario', 'diff asked → ran', 'export MB', 'seconds', 'rows/s', 'Node CPU µs/row', 'peak RSS MB', 'same rows', 'measured by'],
    results.map(r => [fmtInt(r.products), r.scenario, r.diffAsked === null ? '-' : `${r.diffAsked} → ${r.diffRan ?? '?'}`, r.exportMb.toFixed(0),
      r.seconds === null ? `error: ${r.error ?? ''}` : fmtSec(r.seconds * 1000), r.rowsPerSec === null ? '-' : fmtInt(r.rowsPerSec),
      r.cpuMs === null || r.rows === null ? '-' : (r.cpuMs * 1000 / r.rows).toFixed(1), r.peakRssMb === null ? '-' : fmtInt(r.peakRssMb),
      r.same === null ? '' : r.same ? '✓' : '✗', r.via]), o.markdown, [0, 1, 2, 8, 9]))
  return results
}
