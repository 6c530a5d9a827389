/**
 * The orchestrator: one sync, start to report. Each stage is a module.
 *
 *   read/      input (file | stdin | stream, gzip) → Partitioner: record boundaries only
 *     │  partition (transferred)                       ┐
 *     ▼                                                │ sync/load.ts: at most
 *   transform/ Piscina workers: parse · normalize ·    │ maxInFlight partitions,
 *              validate · map (map/channel.ts) · encode│ written in input order
 *     │  binary COPY tuples (moved back, not copied)   │
 *     ▼                                                ┘
 *   write/     CopyWriter × writers → staging (or the target, on a first sync)
 *     ▼
 *   merge/     one transaction (sync/merge-stage.ts): dedup? · ANALYZE · UPDATE
 *              changed · INSERT new · DELETE missing · wipe guard · run row · COMMIT
 *     ▼
 *   report/    the report (report/build.ts), also stored in sync_runs
 *
 * Around them: runs/ (scope lock, sync_runs), db/connections.ts (every
 * connection), sync/retry.ts (the one backoff policy), sync/run.ts (the
 * per-sync state). The first connection is the control connection: it holds
 * the scope's advisory lock for the whole sync and runs the merge. Extra
 * writers are taken only when the pool has room, so concurrent syncs never
 * wait on each other for connections while holding one.
 */
import { checkSchema } from '../db/schema'
import { checkout, releaseAll } from '../db/connections'
import { SyncError, fromPgError, syncError, toSyncError } from '../errors'
import type { MergeCounts } from '../merge/merge'
import { fillSyncOptions, type SyncOptions } from '../options'
import { openSource } from '../read/source'
import { buildReport } from '../report/build'
import type { SyncReport } from '../report/types'
import { acquireScopeLock, dropStaging, failRun, reapAbandoned, releaseScopeLock, startRun } from '../runs/runs'
import type { TupleLayout } from '../transform/partition'
import { readExisting } from '../diff/read'
import { DiffSink } from '../diff/sink'
import { openDirectSink, openStagingSink } from '../write/writers'
import { load } from './load'
import { merge } from './merge-stage'
import { withRetry } from './retry'
import { SyncRun, type EngineHandles } from './run'

export async function runSync (engine: EngineHandles, options: SyncOptions): Promise<SyncReport> {
  const run = new SyncRun(engine, fillSyncOptions(options, engine.settings))
  const o = run.options
  run.log.info({ dataset: run.dataset.name, mode: o.mode, scope: o.scope.values }, 'sync started')
  try {
    const report = await withRetry({
      retries: o.retries,
      maxMs: o.retryMaxMs,
      signal: o.signal,
      // The whole sync is retried only when its input can be read again.
      allowed: () => run.reopenable,
      onRetry: (err, attempt, delayMs) => {
        const e = toSyncError(err)
        run.log.warn({ attempt, code: e.code, pgCode: e.pgCode, delayMs: Math.round(delayMs) }, 'transient failure, retrying')
      },
    }, async attempt => await attemptSync(run, attempt))
    run.log.info({ rows: report.rows, phases: report.phases, rowsPerSecond: report.rowsPerSecond }, 'sync succeeded')
    return report
  } catch (err) {
    const e = toSyncError(err)
    run.log.error({ code: e.code, pgCode: e.pgCode, sysCode: e.sysCode, message: e.message }, 'sync failed')
    throw e
  }
}

async function attemptSync (run: SyncRun, attempt: number): Promise<SyncReport> {
  run.begin(attempt)
  run.throwIfAborted()
  try {
    run.clients.push(await checkout(run.engine.pool, run.signal))
  } catch (err) {
    if (run.aborted()) throw run.cancelled()
    throw fromPgError(err, 'Connecting to PostgreSQL')
  }
  let broken: unknown = null
  try {
    await prepare(run)
    const layout = await openSink(run)
    const tLoad = performance.now()
    await load(run, layout)
    run.time('load', tLoad)
    const t = run.totals
    run.log.info({ phase: 'load', ms: Math.round(run.phases.load), read: t.read, staged: t.staged, rejected: t.rejected, partitions: t.partitions, direct: run.direct !== null }, 'load finished')
    run.throwIfAborted()
    refuseAllRejected(run)
    return finish(run, await merge(run))
  } catch (err) {
    broken = err
    throw await failAttempt(run, err)
  } finally {
    await release(run, broken !== null)
  }
}

/** Input, schema, scope lock, dead runs reaped, the run row, the catalog: all before anything is written. */
async function prepare (run: SyncRun): Promise<void> {
  const o = run.options
  // The input first: a missing file fails before anything is locked, recorded or opened for COPY.
  run.source = await openSource(o.input, o.gzip)
  await checkSchema(run.control, run.dataset)
  const tLock = performance.now()
  await acquireScopeLock(run.control, run.dataset.table, o.scope.key, { wait: o.lock === 'wait', timeoutMs: o.lockTimeoutMs, signal: o.signal })
  run.locked = true
  run.time('lock', tLock)
  const reaped = await reapAbandoned(run.control, run.dataset.name, o.scope.key, run.id)
  if (reaped > 0) run.log.warn({ reaped }, 'marked abandoned runs of this scope failed and dropped their staging')
  await dropStaging(run.control, run.staging)
  await startRun(run.control, { id: run.id, dataset: run.dataset.name, scope: o.scope.key, mode: o.mode, staging: run.staging }, run.attempt)
  run.recorded = true
  if (run.unmapped !== null) await run.engine.resolver.check(o.signal)
}

/**
 * A scope with no rows yet takes the direct path: one COPY straight into the
 * target inside the merge transaction (the scope values are prefixed to each
 * tuple). Otherwise rows are staged and merged set-based.
 */
async function openSink (run: SyncRun): Promise<TupleLayout> {
  const o = run.options
  const direct = !(await run.control.query<{ has: boolean }>(run.sql.scopeHasRows, o.scope.list)).rows[0].has
  if (direct) {
    run.direct = await openDirectSink(run.control, run.sql.directCopy, run.id)
    run.sink = run.direct
    return { prefix: run.dataset.scope.map((c, i) => ({ type: c.type, value: o.scope.list[i] })), seq: false }
  }
  await run.control.query(run.sql.createStaging)
  // The engine diff reads the scope under the lock, before any row is staged (README "The engine diff").
  const tRead = performance.now()
  const existing = o.diff === 'engine' ? await readExisting(run.control, run.dataset, o.scope.list) : null
  if (o.diff === 'engine') run.log.info({ phase: 'diff-read', ms: Math.round(performance.now() - tRead), rows: existing?.rows ?? null, fallback: existing === null }, existing === null ? 'scope over the engine diff budget: database diff' : 'existing rows read')
  run.sink = await openStagingSink({ pool: run.engine.pool, poolMax: run.engine.settings.pgPoolSize, clients: run.clients, copySql: run.sql.copy, wanted: o.writers, signal: o.signal })
  if (existing !== null) {
    run.diff = new DiffSink(run.sink, existing)
    run.sink = run.diff
  }
  return { prefix: [], seq: true }
}

/**
 * An API error body ({"error": "Unauthorized"}) parses as one NDJSON record
 * that is rejected: in mirror mode that would read as "the user has nothing".
 * Input with no valid record is refused.
 */
function refuseAllRejected (run: SyncRun): void {
  const t = run.totals
  if (run.options.mode !== 'mirror' || t.read === 0 || t.valid > 0) return
  const name = run.source?.name ?? 'input'
  const reasons = Object.entries(t.reasons).map(([k, v]) => `${k} ${v}`).join(', ')
  throw syncError('BRX_ERR_INPUT_MALFORMED', [name, `has all ${t.read} records rejected (${reasons}); this is not an export, and mirror mode changes nothing`], { file: name })
}

function finish (run: SyncRun, counts: MergeCounts): SyncReport {
  const rep = buildReport(run, counts)
  run.log.info({ phase: 'merge', ms: Math.round(run.phases.merge), inserted: counts.inserted, updated: counts.updated, deleted: counts.deleted, duplicates: counts.duplicates, fastPath: counts.fastPath, steps: counts.steps }, 'merge committed')
  run.options.onProgress?.(run.progress('done', rep.rows.read, rep.rows.written))
  return rep
}

/** Ends what is open and records the failure; returns the error to throw. */
async function failAttempt (run: SyncRun, err: unknown): Promise<SyncError> {
  // A COPY still open would queue every later statement on its connection behind it: end it (CopyFail).
  run.sink?.abort(err instanceof Error ? err : new Error(String(err)))
  const e = run.aborted() && !(err instanceof SyncError && err.code !== 'BRX_ERR_CANCELLED') ? run.cancelled() : toSyncError(err)
  await cleanupAfterFailure(run, e).catch(cleanupErr => {
    run.log.warn({ err: (cleanupErr as Error).message }, 'cleanup after failure incomplete; the next sync of this scope finishes it')
  })
  return e
}

/** Rolls nothing back by hand (the merge is one transaction): drops staging and records the failure. */
async function cleanupAfterFailure (run: SyncRun, e: SyncError): Promise<void> {
  let client = run.control
  let fresh = null
  try {
    // The direct path fails inside its transaction: end it before anything else.
    await client.query('ROLLBACK')
  } catch {
    // The connection is dead. Give back every connection of this sync (discarded) before asking
    // for another: syncs that failed together must not wait on each other's dead connections.
    releaseAll(run.clients, true)
    fresh = await checkout(run.engine.pool, AbortSignal.timeout(10_000))
    client = fresh
  }
  try {
    await dropStaging(client, run.staging)
    if (run.recorded) await failRun(client, run.id, e)
  } finally {
    fresh?.release()
  }
}

async function release (run: SyncRun, broken: boolean): Promise<void> {
  run.source?.stream.destroy()
  run.direct?.cleanup()
  if (run.locked && !broken && run.clients.length > 0) await releaseScopeLock(run.control, run.dataset.table, run.options.scope.key).catch(() => {})
  releaseAll(run.clients, broken)
}
