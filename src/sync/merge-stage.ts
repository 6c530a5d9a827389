import { cancelBackend, checkout } from '../db/connections'
import { goneKeys } from '../diff/read'
import { captureFor } from '../merge/changes'
import { finishDirect, runMerge, type EngineDiffInput, type MergeCapture, type MergeCounts, type MergeInput } from '../merge/merge'
import { buildReport } from '../report/build'
import { acquireScopeLock, succeedRun } from '../runs/runs'
import { withRetry } from './retry'
import type { SyncRun } from './run'

/** Records the run as succeeded inside the merge transaction, so it commits with the data. */
function beforeCommit (run: SyncRun, tMerge: number): (c: MergeCounts) => Promise<void> {
  return async c => {
    run.time('merge', tMerge)
    const rep = buildReport(run, c)
    await succeedRun(run.control, run.id, rep, run.progress('done', rep.rows.read, rep.rows.written))
  }
}

/**
 * After a transient merge failure: keeps the control connection if it still
 * answers, else replaces it and takes the scope lock again (a dead session
 * released it). Staging must still hold every staged row; if it does not
 * (a crash restart truncates UNLOGGED tables) the original error stands.
 */
async function reconnectForMerge (run: SyncRun, original: unknown): Promise<void> {
  const { options } = run
  try {
    await run.control.query('SELECT 1')
  } catch {
    run.clients.shift()?.release(true)
    run.clients.unshift(await checkout(run.engine.pool, options.signal))
    await acquireScopeLock(run.control, run.dataset.table, options.scope.key, { wait: true, timeoutMs: options.lockTimeoutMs, signal: options.signal })
  }
  const exists = (await run.control.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [run.staging])).rows[0].t !== null
  if (!exists || Number((await run.control.query<{ n: string }>(`SELECT count(*) AS n FROM ${run.staging}`)).rows[0].n) !== stagedRows(run)) throw original
}

/**
 * Staging is committed: a transient failure of the merge (deadlock,
 * serialization, a lost connection) is retried alone, on a fresh connection
 * that takes the scope lock again — this works for stdin too, which cannot be
 * read twice.
 */
async function mergeStaged (run: SyncRun, tMerge: number, capture: MergeCapture | undefined): Promise<MergeCounts> {
  const o = run.options
  // Built once: the gone keys are a pass over the scope's rows.
  const input = { ...mergeInput(run, tMerge), capture }
  return await withRetry({
    retries: o.retries,
    maxMs: Infinity,
    signal: o.signal,
    onRetry: (err, attempt, delayMs) => run.log.warn({ phase: 'merge', attempt, pgCode: (err as { code?: string }).code, delayMs: Math.round(delayMs) }, 'transient merge failure, retrying the merge'),
    prepare: async err => await reconnectForMerge(run, err),
  }, async () => await runMerge(run.control, input, `DROP TABLE IF EXISTS ${run.staging}`))
}

function mergeInput (run: SyncRun, tMerge: number): MergeInput {
  const o = run.options
  return {
    sql: run.sql,
    scopeValues: o.scope.list,
    mode: o.mode,
    staged: stagedRows(run),
    engineDiff: engineDiffInput(run),
    maybeDuplicates: run.totals.maybeDuplicates,
    maxDeleteRatio: o.maxDeleteRatio,
    allowMassDelete: o.allowMassDelete,
    statementTimeoutMs: o.statementTimeoutMs,
    workMem: o.workMem,
    beforeCommit: beforeCommit(run, tMerge),
    signal: o.signal,
  }
}

/** Rows in staging: every encoded row, or with the engine diff only the new and changed ones. */
const stagedRows = (run: SyncRun): number => run.diff?.staged ?? run.totals.staged

function engineDiffInput (run: SyncRun): EngineDiffInput | undefined {
  const d = run.diff
  if (d === null) return undefined
  const gone = run.options.mode === 'mirror' ? goneKeys(d.existing, d.seen) : null
  return { skipped: d.skipped, repeatedSkipped: d.repeatedSkipped, gone: gone !== null && gone.rows > 0 ? gone.copy : null, scopeRows: d.existing.rows, goneRows: gone?.rows ?? 0 }
}

/**
 * A small input's merge: its TEMP staging lives in the transaction already
 * open, which drops it at COMMIT. A failure loses that staging: the whole
 * sync is retried (file inputs), not the merge alone. Never with change
 * capture (see prepare in orchestrator.ts).
 */
async function mergeLight (run: SyncRun, tMerge: number): Promise<MergeCounts> {
  return await runMerge(run.control, { ...mergeInput(run, tMerge), sql: run.lightSql, inTransaction: true })
}

async function mergeDirect (run: SyncRun, tMerge: number, capture: MergeCapture | undefined): Promise<MergeCounts> {
  const o = run.options
  const d = run.direct
  if (d === null) throw new Error('mergeDirect() without a direct sink')
  return await finishDirect(run.control, {
    sql: run.sql,
    scopeValues: o.scope.list,
    copied: d.copied,
    spilled: d.spilled,
    spillPath: d.spillPath,
    statementTimeoutMs: o.statementTimeoutMs,
    workMem: o.workMem,
    beforeCommit: beforeCommit(run, tMerge),
    signal: o.signal,
    capture,
  })
}

/** The merge stage: one transaction; an abort cancels the statement in flight on a connection of its own. */
export async function merge (run: SyncRun): Promise<MergeCounts> {
  const tMerge = performance.now()
  // A dry run or a changes file: the merge also records what it changes (else it runs its plain statements).
  const capture = captureFor(run.dataset, run.id, run.options)
  run.options.onProgress?.(run.progress('merge', run.totals.read, run.totals.staged))
  const onAbort = (): void => { void cancelBackend(run.engine.pool, run.control) }
  run.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const counts = run.direct !== null ? await mergeDirect(run, tMerge, capture) : run.light ? await mergeLight(run, tMerge) : await mergeStaged(run, tMerge, capture)
    run.time('merge', tMerge)
    return counts
  } catch (err) {
    if (run.aborted()) throw run.cancelled()
    throw err
  } finally {
    run.signal?.removeEventListener('abort', onAbort)
  }
}
