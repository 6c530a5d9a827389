/**
 * The end-to-end bench: brx-sync and its alternatives, one after the other
 * in the same run, on the same data and the same database, each verified to
 * leave the same rows. Machines are noisy; the ratios are the result.
 *
 *   per size:    generate (cached) → flatten CSV (untimed); base state loaded once (re-sync, identical)
 *     initial:   for each method: empty user · settle · TIMED load · checksum · delete
 *     re-sync:   for each method: clone base · settle · TIMED sync of the changed export · checksum · delete
 *     identical: for each method: clone base · settle · TIMED sync of the base export again (0 changes) · checksum · delete
 *   memory:      CLI child processes, initial + re-sync per size, peak RSS (bench/memory.ts)
 *   then:        tables · targets · bench/results/latest.json (+ latest.md / latest.txt: what was printed)
 *
 * Usage: npm run bench -- [--scope initial,resync,identical,micro,memory,all] [--sizes 25k,250k,1m]
 *                         [--include-1m] [--include-5m] [--memory-sizes 100k,5m] [--memory-diffs database,engine]
 *                         [--quick] [--markdown] [--methods binary,tuned,cli,diff]
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type pg from 'pg'
import { sync } from '../src'
import type { SyncReport } from '../src/report/types'
import { ensureExports, flattenCsv, sliceIds, type Exports } from './data'
import { USERS, DB_URL, runProcess, checksum, cleanupAll, cloneUser, fmtInt, fmtSec, idleLoopP99, monitorHost, newPool, parseSize, sameChecksum, settle, sizeLabel, table, TABLE, type HostStats } from './lib'
import { pgloaderInitial, pgloaderPath, psqlCopyBinaryInitial, psqlCopyInitial, psqlMergeBinaryResync, psqlMergeResync, psqlTunedResync, toBinary } from './limit'
import { runMemory, type MemoryDiff, type MemoryResult } from './memory'
import { runMicro } from './micro'
import { onConflictBatches, seedsAfter, seedsBefore } from './node-methods'
import { recreateDatabase } from '../test/setup-db'

/** resync: the changed export (5% changed, 1% new, 1% removed); identical: the base export onto itself (0 changes). */
type Scenario = 'initial' | 'resync' | 'identical'
const SCENARIOS: Scenario[] = ['initial', 'resync', 'identical']

interface Run {
  scenario: Scenario
  size: number
  method: string
  /** Rows the timed run covered (the slice for an extrapolated method). */
  rows: number
  /** Measured milliseconds, or extrapolated to `size` when `extrapolatedFrom` is set. */
  ms: number | null
  extrapolatedFrom?: number
  same: boolean | null
  note: string
  /** Node CPU (user + sys) and peak RSS of a whole brx-sync CLI process. */
  cpuMs?: number | null
  peakRssMb?: number | null
  /** A whole CLI process: its wall time minus the report's total (process start, imports, exit). */
  outsideSyncMs?: number
  /** brx-sync runs: the diff the report says ran. */
  diff?: SyncReport['diff']
  brx?: { host: HostStats, phases: SyncReport['phases'], workerBusyMs: number, rows: SyncReport['rows'] }
}

interface Method {
  name: string
  user: string
  scenarios: Scenario[]
  /** Why it cannot run here, or null. */
  skip?: () => string | null
  /** Untimed preparation (flattening, binary files): done before the settle that precedes the timer. */
  prepare?: (ctx: Ctx) => Promise<unknown>
  /** The timed part. A sliced method returns the rows it covered and their ids. */
  run: (ctx: Ctx) => Promise<Sliced | Timed | unknown>
}

/** A whole process whose CPU time and peak RSS were measured too (a brx-sync CLI also hands back its report). */
interface Timed { cpuMs: number | null, peakRssMb: number | null, report?: SyncReport }
const isTimed = (r: unknown): r is Timed => r !== null && typeof r === 'object' && 'cpuMs' in r

/** An in-process brx-sync: timed by itself (the idle-loop sample before it is not its time), host stats. */
interface InProcess { ms: number, report: SyncReport, host: HostStats }
const isInProcess = (r: unknown): r is InProcess => r !== null && typeof r === 'object' && 'host' in r && 'report' in r

interface Sliced { rows: number, slice: string[] }
const isSliced = (r: unknown): r is Sliced => r !== null && typeof r === 'object' && 'slice' in r

interface Ctx { scenario: Scenario, size: number, file: string, pool: pg.Pool, quick: boolean, only: string[] | null }

const log = (s: string): void => { process.stderr.write(`[bench] ${s}\n`) }

// Each CSV carries its method's user_id (the target's column set); pgloader loads one straight into the target.
const psqlCsv = async (ctx: Ctx): Promise<string> => await flattenCsv(ctx.file, USERS.psqlCopy, 'psql')
const pgloaderCsv = async (ctx: Ctx): Promise<string> => await flattenCsv(ctx.file, USERS.pgloader, 'pgloader')
const binary = async (ctx: Ctx): Promise<string> => await toBinary(await psqlCsv(ctx), USERS.psqlBinary, 'binary')
const tunedBinary = async (ctx: Ctx): Promise<string> => await toBinary(await psqlCsv(ctx), USERS.psqlTuned, 'tuned')
const mirror = (ctx: Ctx): boolean => ctx.scenario !== 'initial'
export const CLI_METHOD = 'brx-sync CLI (whole process)'
export const TUNED_METHOD = 'psql binary staging, tuned'
/** brx-sync's default diff is the engine's (where it applies); these run the staged classify path for comparison. */
const DATABASE_DIFF_METHOD = 'brx-sync diff=database'
const DATABASE_DIFF_CLI_METHOD = 'brx-sync CLI diff=database'

/** `brx-sync sync` as a user runs it: a process of its own, wall time, its CPU and peak RSS (--json only changes what it prints). */
async function brxCli (ctx: Ctx, user: string, extra: string[] = []): Promise<Timed> {
  const main = path.resolve(__dirname, '../src/cli/main.js')
  const r = await runProcess(process.execPath, [main, 'sync', '--input', ctx.file, '--user', user, '--no-mapping', '--json', '--database-url', DB_URL, ...extra])
  let report: SyncReport | undefined
  try { report = JSON.parse(r.stdout) as SyncReport } catch {}
  return { cpuMs: r.cpuMs, peakRssMb: r.peakRssMb, report }
}

/** The alternatives, in the order they run after brx-sync. */
const methods: Method[] = [
  {
    name: 'psql \\copy (CSV ready)',
    user: USERS.psqlCopy,
    scenarios: SCENARIOS,
    prepare: psqlCsv,
    run: async ctx => mirror(ctx) ? await psqlMergeResync(await psqlCsv(ctx), USERS.psqlCopy) : await psqlCopyInitial(await psqlCsv(ctx)),
  },
  {
    name: 'psql \\copy binary (ready)',
    user: USERS.psqlBinary,
    scenarios: SCENARIOS,
    prepare: binary,
    run: async ctx => mirror(ctx) ? await psqlMergeBinaryResync(await binary(ctx), USERS.psqlBinary) : await psqlCopyBinaryInitial(await binary(ctx)),
  },
  {
    name: TUNED_METHOD,
    user: USERS.psqlTuned,
    scenarios: ['resync', 'identical'],
    prepare: tunedBinary,
    run: async ctx => await psqlTunedResync(await tunedBinary(ctx), USERS.psqlTuned),
  },
  {
    name: CLI_METHOD,
    user: USERS.brxCli,
    scenarios: SCENARIOS,
    run: async ctx => await brxCli(ctx, USERS.brxCli),
  },
  {
    name: DATABASE_DIFF_METHOD,
    user: USERS.brxDb,
    scenarios: ['resync', 'identical'],
    run: async ctx => await runBrx(ctx.file, USERS.brxDb, 'database'),
  },
  {
    name: DATABASE_DIFF_CLI_METHOD,
    user: USERS.brxCliDb,
    scenarios: ['resync', 'identical'],
    run: async ctx => await brxCli(ctx, USERS.brxCliDb, ['--diff', 'database']),
  },
  {
    name: 'pgloader (CSV ready)',
    user: USERS.pgloader,
    scenarios: ['initial'],
    skip: () => pgloaderPath() === null ? 'skipped (not installed)' : null,
    prepare: pgloaderCsv,
    run: async ctx => await pgloaderInitial(await pgloaderCsv(ctx)),
  },
  {
    name: 'INSERT..ON CONFLICT ×1000',
    user: USERS.onConflict,
    scenarios: ['initial', 'resync'],
    run: async ctx => await onConflictBatches(ctx.pool, ctx.file, USERS.onConflict, mirror(ctx)),
  },
  {
    name: "seeds' after (3×5k chunks)",
    user: USERS.seedsAfter,
    scenarios: ['initial', 'resync'],
    run: async ctx => await seedsAfter(ctx.pool, ctx.file, USERS.seedsAfter, mirror(ctx)),
  },
  {
    name: "seeds' before (per row)",
    user: USERS.seedsBefore,
    scenarios: ['initial', 'resync'],
    prepare: async ctx => await sliceIds(ctx.file, sliceOf(ctx)),
    run: async ctx => ({ rows: await seedsBefore(ctx.pool, ctx.file, USERS.seedsBefore, sliceOf(ctx)), slice: await sliceIds(ctx.file, sliceOf(ctx)) }),
  },
]
const sliceOf = (ctx: Ctx): number => Math.min(ctx.size, ctx.quick ? 2_000 : 10_000)

async function runBrx (file: string, user: string, diff?: 'engine' | 'database'): Promise<InProcess> {
  const mon = monitorHost(await idleLoopP99())
  const t0 = performance.now()
  try {
    const report = await sync({ input: file, userId: user, mapping: { source: 'none' }, databaseUrl: DB_URL, ...(diff !== undefined ? { diff } : {}) })
    return { ms: performance.now() - t0, report, host: mon.stop() }
  } catch (err) {
    mon.stop()
    throw err
  }
}

/** The method's user starts empty (initial) or as a copy of the base (re-sync), on a settled table. */
async function startFrom (ctx: Ctx, user: string): Promise<void> {
  await ctx.pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [user])
  if (ctx.scenario !== 'initial') await cloneUser(ctx.pool, USERS.base, user)
  await settle(ctx.pool)
}

async function scenario (sc: Scenario, data: Exports, pool: pg.Pool, quick: boolean, only: string[] | null): Promise<Run[]> {
  const ctx: Ctx = { scenario: sc, size: data.size, file: sc === 'resync' ? data.changed : data.base, pool, quick, only }
  const label = `${sc} ${sizeLabel(data.size)}`
  const out: Run[] = []
  const note = (r: Run): void => { out.push(r); log(`${label}: ${r.method} ${r.ms === null ? r.note : fmtSec(r.ms) + ' s'} ${r.same === true ? '✓' : r.same === false ? '✗' : ''}`) }

  // brx-sync first: its rows are the reference every alternative is checked against.
  await startFrom(ctx, USERS.brx)
  log(`${label}: brx-sync ...`)
  const { ms, report, host } = await runBrx(ctx.file, USERS.brx)
  const ref = await checksum(pool, USERS.brx)
  note({
    scenario: sc, size: data.size, method: 'brx-sync', rows: report.rows.read, ms, same: null, diff: report.diff,
    note: `${counts(report)}${sc !== 'initial' ? `, diff=${report.diff}` : ''}`,
    brx: { host, phases: report.phases, workerBusyMs: report.workerBusyMs, rows: report.rows },
  })
  if (sc === 'identical' && report.rows.inserted + report.rows.updated + report.rows.deleted !== 0) log(`${label}: WARNING brx-sync reports changes on an identical re-sync`)

  for (const m of methods.filter(m => m.scenarios.includes(sc) && (only === null || only.some(o => m.name.toLowerCase().includes(o))))) {
    const run: Run = { scenario: sc, size: data.size, method: m.name, rows: 0, ms: null, same: null, note: '' }
    const skipped = m.skip?.() ?? null
    if (skipped !== null) { note({ ...run, note: skipped }); continue }
    try {
      await m.prepare?.(ctx)
      await startFrom(ctx, m.user)
      log(`${label}: ${m.name} ...`)
      const t0 = performance.now()
      const r = await m.run(ctx)
      const ms = isInProcess(r) ? r.ms : performance.now() - t0
      if (isSliced(r)) {
        // Per-row cost on the slice, scaled to the full export; verified on the slice's keys only.
        run.rows = r.rows
        run.extrapolatedFrom = r.rows
        run.ms = ms / r.rows * report.rows.read
        run.note = `${(ms / r.rows).toFixed(3)} ms/row on the first ${fmtInt(r.rows)} rows, extrapolated`
        run.same = sameChecksum(await checksum(pool, m.user, r.slice), await checksum(pool, USERS.brx, r.slice))
      } else {
        run.ms = ms
        const notes: string[] = []
        const rep = isTimed(r) ? r.report : isInProcess(r) ? r.report : undefined
        if (rep !== undefined) {
          run.diff = rep.diff
          notes.push(counts(rep) + (sc !== 'initial' ? `, diff=${rep.diff}` : ''))
          if (!m.name.includes('diff=database') && sc !== 'initial' && rep.diff !== 'engine') notes.push('engine diff not applicable, database diff ran')
        }
        if (isInProcess(r)) run.brx = { host: r.host, phases: r.report.phases, workerBusyMs: r.report.workerBusyMs, rows: r.report.rows }
        if (isTimed(r)) {
          run.cpuMs = r.cpuMs
          run.peakRssMb = r.peakRssMb
          if (r.cpuMs !== null) notes.push(`Node CPU ${(r.cpuMs * 1000 / report.rows.read).toFixed(1)} µs/row (user+sys ${fmtSec(r.cpuMs)} s)`)
          if (r.peakRssMb !== null) notes.push(`peak RSS ${fmtInt(r.peakRssMb)} MB`)
          if (r.report !== undefined) {
            run.outsideSyncMs = ms - r.report.phases.total
            notes.push(`outside sync() ${fmtSec(run.outsideSyncMs)} s`)
          }
        }
        run.note = notes.join('; ')
        const sum = await checksum(pool, m.user)
        run.rows = sum.count
        run.same = sameChecksum(sum, ref)
        if (!run.same) run.note += ` rows ${fmtInt(sum.count)} vs brx ${fmtInt(ref.count)}, checksums differ`
      }
    } catch (err) {
      run.note = `error: ${(err as Error).message.slice(0, 160)}`
    }
    // Gone before the next method, so every method meets the same table.
    await pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [m.user])
    note(run)
  }
  await pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [USERS.brx])
  return out
}

const counts = (r: SyncReport): string => `ins ${fmtInt(r.rows.inserted)} upd ${fmtInt(r.rows.updated)} del ${fmtInt(r.rows.deleted)}`

// ---- report -----------------------------------------------------------------------------------

function resultsTable (runs: Run[], markdown: boolean): string {
  const rows = runs.map(r => {
    const brx = runs.find(b => b.scenario === r.scenario && b.size === r.size && b.method === 'brx-sync')
    const ratio = r.ms !== null && brx?.ms != null ? `${(r.ms / brx.ms).toFixed(2)}×` : '-'
    const star = r.extrapolatedFrom !== undefined ? '*' : ''
    const rows = r.extrapolatedFrom !== undefined ? fmtInt(brx?.rows ?? r.size) : fmtInt(r.rows)
    return [`${r.scenario} ${sizeLabel(r.size)}`, r.method, rows + star, r.ms === null ? '-' : fmtSec(r.ms) + star,
      r.ms === null ? '-' : fmtInt((brx?.rows ?? r.rows) / (r.ms / 1000)) + star, ratio, r.method === 'brx-sync' ? 'ref' : r.same === null ? '' : r.same ? '✓' : '✗', r.note]
  })
  return table(['scenario', 'method', 'rows', 'seconds', 'rows/s', 'vs brx', 'same rows', 'notes'], rows, markdown, [0, 1, 6, 7])
}

function hostTable (runs: Run[], markdown: boolean): string {
  const rows = runs.filter(r => r.brx !== undefined).map(r => {
    const b = r.brx as NonNullable<Run['brx']>
    return [`${r.scenario} ${sizeLabel(r.size)}`, r.method, fmtSec(b.phases.total), fmtSec(b.phases.load), fmtSec(b.phases.merge), fmtSec(b.workerBusyMs),
      b.host.loopP50Ms.toFixed(1), b.host.loopP99Ms.toFixed(1), b.host.loopMaxMs.toFixed(1), b.host.idleP99Ms.toFixed(1), fmtInt(b.host.baseRssMb), fmtInt(b.host.peakRssMb)]
  })
  return table(['scenario', 'method', 'total s', 'load s', 'merge s', 'worker busy s', 'loop p50 ms', 'loop p99 ms', 'loop max ms', 'idle p99 ms', 'RSS before MB', 'peak RSS MB'], rows, markdown)
}

interface Target { name: string, value: string, pass: boolean | null }

/** The psql methods a scenario's ratio may be taken against; the fastest of those that ran is the one used. */
const PSQL_INITIAL = ['psql \\copy binary (ready)', 'psql \\copy (CSV ready)']
const PSQL_RESYNC = [TUNED_METHOD, 'psql \\copy binary (ready)', 'psql \\copy (CSV ready)']
const BRX_VARIANTS: Array<[method: string, label: string]> = [
  ['brx-sync', 'brx in-process'],
  [CLI_METHOD, 'brx CLI (whole process)'],
  [DATABASE_DIFF_METHOD, 'brx diff=database in-process'],
  [DATABASE_DIFF_CLI_METHOD, 'brx CLI diff=database (whole process)'],
]
/** Issue 10's targets: initial ≤ 1.15× psql binary COPY at 250k and ≤ 1.10× at 1M; re-sync ≤ 0.5×; identical re-sync ≤ 0.35× the tuned psql. */
const limitOf = (sc: Scenario, size: number): number => sc === 'initial' ? (size >= 1_000_000 ? 1.10 : 1.15) : sc === 'resync' ? 0.5 : 0.35
const RSS_LIMIT_MB = 400

function targets (runs: Run[], memory: MemoryResult[]): Target[] {
  const t: Target[] = []
  const sizes = [...new Set(runs.map(r => r.size))].sort((a, b) => a - b)
  const at = (sc: Scenario, size: number, method: string): Run | undefined => runs.find(r => r.scenario === sc && r.size === size && r.method === method && r.ms !== null)
  const where = (sc: Scenario, size: number): string => `${sc === 'resync' ? 're-sync' : sc === 'identical' ? 'identical re-sync' : 'initial'} ${sizeLabel(size)}`
  for (const size of sizes) {
    for (const sc of SCENARIOS) {
      if (!runs.some(r => r.scenario === sc && r.size === size)) continue
      const limit = limitOf(sc, size)
      // The strongest alternative is the fastest psql method that ran: the tuned re-sync and binary COPY by design, but never a slower one when another won this run.
      const alts = (sc === 'initial' ? PSQL_INITIAL : PSQL_RESYNC).flatMap(m => at(sc, size, m) ?? [])
      const best = alts.sort((a, b) => (a.ms as number) - (b.ms as number))[0]
      const what = sc === 'initial' ? 'psql COPY (whole psql process)' : 'psql staged re-sync (whole psql process)'
      for (const [method, label] of BRX_VARIANTS) {
        const b = at(sc, size, method)
        if (b === undefined) continue
        const name = `${label} ≤ ${limit.toFixed(2)} × ${what} (${where(sc, size)})`
        if (best === undefined) { t.push({ name, value: 'no psql method ran', pass: null }); continue }
        const x = (b.ms as number) / (best.ms as number)
        const ran = b.diff !== undefined && sc !== 'initial' && !method.includes('diff=database') && b.diff !== 'engine' ? ', database diff ran' : ''
        const wrong = best.same === false ? ', its rows differ!' : ''
        t.push({ name, value: `${x.toFixed(2)} × ${best.method} (${fmtSec(b.ms as number)} / ${fmtSec(best.ms as number)} s${ran}${wrong})`, pass: x <= limit })
      }
    }
    const cli = at('initial', size, CLI_METHOD)
    if (cli !== undefined) {
      if (cli.cpuMs != null) {
        const us = cli.cpuMs * 1000 / cli.rows
        t.push({ name: `Node CPU per row ≤ 6 µs (CLI user+sys / rows, initial ${sizeLabel(size)})`, value: `${us.toFixed(1)} µs`, pass: us <= 6 })
      }
      if (cli.outsideSyncMs !== undefined) {
        t.push({ name: `CLI one-shot overhead ≤ 0.3 s (wall − report total, initial ${sizeLabel(size)})`, value: `${fmtSec(cli.outsideSyncMs)} s`, pass: cli.outsideSyncMs <= 300 })
      }
    }
    const cliRss = runs.filter(r => r.size === size && r.peakRssMb != null).map(r => r.peakRssMb as number)
    if (cliRss.length > 0) t.push({ name: `peak RSS ≤ ${RSS_LIMIT_MB} MB (CLI child, largest of its runs at ${sizeLabel(size)})`, value: `${fmtInt(Math.max(...cliRss))} MB`, pass: Math.max(...cliRss) <= RSS_LIMIT_MB })
    const p99 = runs.filter(r => r.size === size && r.brx !== undefined).map(r => (r.brx as NonNullable<Run['brx']>).host.loopP99Ms)
    if (p99.length > 0) t.push({ name: `event-loop p99 ≤ 20 ms (worst in-process sync at ${sizeLabel(size)})`, value: `${Math.max(...p99).toFixed(1)} ms`, pass: Math.max(...p99) <= 20 })
    const ratio = (sc: Scenario, method: string, name: string, min: number): void => {
      const b = at(sc, size, 'brx-sync'); const o = at(sc, size, method)
      if (b === undefined || o === undefined) return
      const x = (o.ms as number) / (b.ms as number)
      t.push({ name: `${name} (${where(sc, size)})`, value: `${x.toFixed(1)}× faster`, pass: x >= min })
    }
    ratio('initial', 'pgloader (CSV ready)', '≥ 8× faster than pgloader', 8)
    for (const sc of ['initial', 'resync'] as Scenario[]) ratio(sc, "seeds' after (3×5k chunks)", "≥ 30× faster than seeds' after", 30)
  }
  if (sizes.length > 1) {
    for (const sc of SCENARIOS) {
      const small = at(sc, sizes[0], 'brx-sync'); const large = at(sc, sizes[sizes.length - 1], 'brx-sync')
      if (small === undefined || large === undefined) continue
      const name = `per-row cost flat ±20% (${sc} ${sizeLabel(sizes[0])} → ${sizeLabel(sizes[sizes.length - 1])})`
      const d = ((large.ms as number) / large.rows) / ((small.ms as number) / small.rows) - 1
      // A line through the two points splits the time into a per-sync constant (threads, connections, lock) and a per-row slope.
      const slope = ((large.ms as number) - (small.ms as number)) / (large.rows - small.rows)
      const fixed = (small.ms as number) - slope * small.rows
      t.push({ name, value: `${d >= 0 ? '+' : ''}${(d * 100).toFixed(0)}% per row (fixed ≈ ${fmtSec(fixed)} s + ${(slope * 1000).toFixed(1)} µs/row)`, pass: Math.abs(d) <= 0.2 })
    }
  }
  // In-process RSS includes the bench's own baseline (see "RSS before"), so it errs on the high side.
  const inProcess = runs.flatMap(r => r.brx !== undefined ? [r.brx.host.peakRssMb] : [])
  if (inProcess.length > 0) t.push({ name: `peak RSS ≤ ${RSS_LIMIT_MB} MB (in the bench process, bench baseline included)`, value: `${fmtInt(Math.max(...inProcess))} MB`, pass: Math.max(...inProcess) <= RSS_LIMIT_MB })
  for (const m of memory) {
    const diff = m.diffAsked === null ? '' : `, --diff ${m.diffAsked}${m.diffRan !== null && m.diffRan !== m.diffAsked ? ` (${m.diffRan} ran)` : ''}`
    const name = `peak RSS ≤ ${RSS_LIMIT_MB} MB (memory scope: CLI child, ${m.scenario === 'resync' ? 're-sync' : 'initial'} ${sizeLabel(m.products)}${diff})`
    t.push({ name, value: m.peakRssMb === null ? (m.error !== undefined ? `error: ${m.error.slice(0, 80)}` : 'not measured') : `${fmtInt(m.peakRssMb)} MB`, pass: m.peakRssMb === null ? null : m.peakRssMb <= RSS_LIMIT_MB })
  }
  if (!memory.some(m => m.products >= 5_000_000)) t.push({ name: `peak RSS ≤ ${RSS_LIMIT_MB} MB at 5M rows, initial and re-sync`, value: 'not run (--scope memory --include-5m)', pass: null })
  return t
}

// ---- main -------------------------------------------------------------------------------------

async function main (): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      scope: { type: 'string', default: 'initial,resync,identical' },
      sizes: { type: 'string', default: '25k,250k' },
      'include-1m': { type: 'boolean', default: false },
      'include-5m': { type: 'boolean', default: false },
      // The memory scope's sizes, beyond --include-1m / --include-5m (e.g. "100k" for a quick check).
      'memory-sizes': { type: 'string' },
      // Which diff modes the memory scope's re-sync runs ("database,engine"; "none" for initial syncs only).
      'memory-diffs': { type: 'string', default: 'database,engine' },
      quick: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      // Alternatives to race (substrings of their names, e.g. "psql,pgloader"); brx-sync always runs.
      methods: { type: 'string' },
    },
  })
  const scope = new Set((a.scope as string).split(',').map(s => s.trim()))
  if (scope.has('all')) for (const s of [...SCENARIOS, 'micro', 'memory']) scope.add(s)
  const memorySizes = [...new Set([
    ...(a['include-1m'] === true ? [1_000_000] : []),
    ...(a['include-5m'] === true ? [5_000_000] : []),
    ...(typeof a['memory-sizes'] === 'string' ? a['memory-sizes'].split(',').filter(x => x.trim() !== '').map(parseSize) : []),
  ])].sort((x, y) => x - y)
  // Asking for memory sizes is asking for the memory scope.
  if (memorySizes.length > 0) scope.add('memory')
  for (const s of scope) if (![...SCENARIOS, 'micro', 'memory', 'all'].includes(s)) throw new Error(`--scope: unknown scope "${s}" (initial, resync, identical, micro, memory, all).`)
  const memoryDiffs = (a['memory-diffs'] as string).split(',').map(x => x.trim()).filter(x => x !== '' && x !== 'none')
  for (const d of memoryDiffs) if (d !== 'database' && d !== 'engine') throw new Error(`--memory-diffs: unknown diff "${d}" (database, engine, none).`)
  const sizes = [...new Set((a.sizes as string).split(',').map(parseSize))].sort((x, y) => x - y)
  const scenarios = SCENARIOS.filter(sc => scope.has(sc))
  const md = a.markdown as boolean
  const only = typeof a.methods === 'string' ? a.methods.toLowerCase().split(',').map(x => x.trim()).filter(Boolean) : null
  // Everything printed is also kept, to be written next to the JSON results.
  const printed: string[] = []
  const out = (s: string): void => { printed.push(s); process.stdout.write(s + '\n') }
  // The load average says how much of the noise came from others sharing the machine.
  const machine: Record<string, unknown> = { cpus: os.availableParallelism(), node: process.version, platform: `${os.platform()} ${os.release()}`, loadavgAtStart: os.loadavg() }
  const results: Record<string, unknown> = { startedAt: new Date().toISOString(), argv: process.argv.slice(2), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`, machine }

  const runs: Run[] = []
  let memory: MemoryResult[] = []
  if (scenarios.length > 0 || scope.has('memory')) await recreateDatabase(DB_URL)
  if (scenarios.length > 0) {
    const pool = newPool(3)
    try {
      results.postgres = (await pool.query('SHOW server_version')).rows[0].server_version
      await cleanupAll(pool)
      for (const size of sizes) {
        const data = await ensureExports(size, log)
        if (scenarios.includes('initial')) runs.push(...await scenario('initial', data, pool, a.quick as boolean, only))
        if (scenarios.some(sc => sc !== 'initial')) {
          // The state every re-sync starts from (each method gets a copy of it).
          log(`${sizeLabel(size)}: loading the base state (untimed)`)
          await pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [USERS.base])
          await sync({ input: data.base, userId: USERS.base, mapping: { source: 'none' }, databaseUrl: DB_URL })
          for (const sc of scenarios.filter(sc => sc !== 'initial')) runs.push(...await scenario(sc, data, pool, a.quick as boolean, only))
          await pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [USERS.base])
        }
      }
    } finally {
      await cleanupAll(pool).catch(() => {})
      await pool.end()
    }
    results.runs = runs
    machine.loadavgAfterScenarios = os.loadavg()
    out(md ? '\n### brx-sync vs alternatives\n' : `\nbrx-sync vs alternatives (same data, same database, one run; vs brx > 1 = slower than brx-sync; ${os.availableParallelism()} CPUs, load average ${os.loadavg()[2].toFixed(1)} over the last 15 min)\n`)
    out(resultsTable(runs, md))
    if (runs.some(r => r.extrapolatedFrom !== undefined)) out(`\n* extrapolated: measured on the first rows only (see notes), scaled to the full size.`)
    out(md ? '\n### brx-sync in the host process\n' : '\nbrx-sync in the host process (event-loop delay beyond the 10 ms sampling interval; idle = the same process doing nothing for 1 s just before; RSS sampled every 50 ms)\n')
    out(hostTable(runs, md))
  }
  if (scope.has('micro')) {
    results.micro = await runMicro({ quick: a.quick as boolean, markdown: md, out })
  }
  if (scope.has('memory')) {
    if (memorySizes.length === 0) out('\nmemory: skipped (opt in with --include-1m, --include-5m or --memory-sizes 100k,5m)')
    else {
      memory = await runMemory(memorySizes, { markdown: md, out, log, diffs: memoryDiffs as MemoryDiff[], resync: memoryDiffs.length > 0 })
      results.memory = memory
    }
  }
  machine.loadavgAtEnd = os.loadavg()
  if (runs.length > 0 || memory.length > 0) {
    const t = targets(runs, memory)
    results.targets = t
    out(md ? '\n### Targets\n' : '\ntargets')
    out(table(['target', 'value', 'result'], t.map(x => [x.name, x.value, x.pass === null ? '-' : x.pass ? 'PASS' : 'MISS']), md, [0, 1, 2]))
  }
  results.finishedAt = new Date().toISOString()
  const dir = path.resolve(__dirname, '../../bench/results')
  await fs.promises.mkdir(dir, { recursive: true })
  // latest.json is the last run whatever its scope; latest-<scopes>.json keeps the last run of each scope set,
  // so a quick `--scope micro` does not erase the last end-to-end numbers. latest.md / latest.txt: what was printed.
  const json = JSON.stringify(results, null, 2) + '\n'
  const named = `latest-${[...scope].filter(s => s !== 'all').sort().join('-')}`
  for (const f of ['latest', named]) {
    await fs.promises.writeFile(path.join(dir, `${f}.json`), json)
    await fs.promises.writeFile(path.join(dir, `${f}.${md ? 'md' : 'txt'}`), `${md ? '```sh\n' + (results.command as string) + '\n```' : '$ ' + (results.command as string)}\n${printed.join('\n')}\n`)
  }
  log(`results written to ${path.join(dir, 'latest.json')} (and ${named}.json; printed tables in latest.${md ? 'md' : 'txt'})`)
}

main().catch(err => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
