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
import { detectCitus } from '../db/citus'
import { SyncError, fromPgError, syncError, toSyncError } from '../errors'
import type { MergeCounts } from '../merge/merge'
import { fillSyncOptions, type SyncOptions } from '../options'
import { isSmallInput } from '../read/peek'
import { openSource, type OpenedSource } from '../read/source'
import { buildReport } from '../report/build'
import type { SyncReport } from '../report/types'
import { acquireScopeLock, dropStaging, failRun, reapAbandoned, releaseScopeLock, restartRun, startRun, succeededRunOfJob } from '../runs/runs'
import type { TupleLayout } from '../transform/partition'
import { DIFF_MAX_BYTES, estimateScope, readExisting } from '../diff/read'
import { PendingDiff } from '../diff/pending'
import { DiffSink } from '../diff/sink'
import type { ExistingRows } from '../diff/store'
import { databaseDiffReason } from '../diff/when'
import { openDirectSink, openLightSink, openStagingSink } from '../write/writers'
import type { Sink } from '../write/sinks'
import { expectedBytes, load } from './load'
import { merge } from './merge-stage'
import { withRetry } from './retry'
import { CITUS_SMALL_INPUT_BYTES, SMALL_INPUT_BYTES, SyncRun, type EngineHandles } from './run'

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
    const earlier = await prepare(run)
    if (earlier !== null) return earlier
    const layout = await openSink(run)
    const tLoad = performance.now()
    await load(run, layout)
    run.time('load', tLoad)
    const t = run.totals
    run.log.info({ phase: 'load', ms: Math.round(run.phases.load), read: t.read, staged: t.staged, rejected: t.rejected, partitions: t.partitions, markedLate: t.markedLate, direct: run.direct !== null }, 'load finished')
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

/**
 * Input, schema, scope lock, dead runs reaped, the run row, the catalog: all before anything is
 * written. Returns the stored report of the job's run when `jobId` names a job already done.
 */
async function prepare (run: SyncRun): Promise<SyncReport | null> {
  const o = run.options
  // A job already done opens no input (a live source would be fetched, and could refuse a token revoked since).
  const done = await jobAlreadyDone(run)
  if (done !== null) return done
  // The input first: a missing file or a rejected token fails before anything is locked, recorded or opened for COPY.
  run.source = await openInput(run)
  await checkSchema(run.control, run.dataset)
  // Asked on every sync (two catalog lookups): a table distributed, or undistributed, while a
  // long-lived engine runs is merged in its new form from the next sync on.
  const citus = await detectCitus(run.control, run.dataset)
  if (citus !== null) run.useCitus(citus)
  // Not with change capture: a dry run rolls back the transaction that would hold a light run's row.
  run.light = run.unmapped === null && !o.dryRun && o.changesFile === null && await isSmallInput(run.source, run.citus !== null ? CITUS_SMALL_INPUT_BYTES : SMALL_INPUT_BYTES)
  const tLock = performance.now()
  await acquireScopeLock(run.control, run.dataset.table, o.scope.key, { wait: o.lock === 'wait', timeoutMs: o.lockTimeoutMs, signal: o.signal })
  run.locked = true
  run.time('lock', tLock)
  const reaped = await reapAbandoned(run.control, run.dataset.name, o.scope.key, run.id)
  if (reaped > 0) run.log.warn({ reaped }, 'marked abandoned runs of this scope failed and dropped their staging')
  // Asked again under the lock: a run of this job that was still going has committed or died by now.
  const doneMeanwhile = await jobAlreadyDone(run)
  if (doneMeanwhile !== null) return doneMeanwhile
  // A new run's staging cannot exist yet; a retry's may.
  if (run.attempt > 1) await dropStaging(run.control, run.staging)
  // The light path records its run inside its one transaction (one commit instead of two): see openSink.
  if (!run.light) {
    await startRun(run.control, run.row, run.attempt)
    run.recorded = true
  }
  if (run.unmapped !== null) await run.engine.resolver.check(o.signal)
  return null
}

/** The stored report of a succeeded run of the sync's job (`jobId`), marked `alreadySucceeded`; else null. */
async function jobAlreadyDone (run: SyncRun): Promise<SyncReport | null> {
  const job = run.options.jobId
  if (job === null) return null
  const earlier = await succeededRunOfJob(run.control, job)
  if (earlier === null) return null
  run.log.warn({ job, earlierRun: earlier.runId }, 'this job already committed in an earlier attempt; nothing synced')
  return { ...earlier, alreadySucceeded: true } as unknown as SyncReport
}

/**
 * A file, stdin or stream; or a CardTrader export, fetched anew on each
 * attempt. Required only when used, so a file sync loads neither undici nor ioredis.
 */
async function openInput (run: SyncRun): Promise<OpenedSource> {
  const o = run.options
  if (o.source === null) return await openSource(o.input as NonNullable<typeof o.input>, o.gzip)
  const { openCardTraderSource } = require('../source/cardtrader') as typeof import('../source/cardtrader')
  return await openCardTraderSource(o.source.cardtrader, { logger: run.log, signal: o.signal })
}

/**
 * A scope with no rows yet takes the direct path: one COPY straight into the
 * target inside the merge transaction (the scope values are prefixed to each
 * tuple); not for derived columns, which are computed from staging. A small
 * input stages into a TEMP table of the merge transaction, its run row
 * written in the same transaction. Otherwise rows are staged and merged
 * set-based.
 */
async function openSink (run: SyncRun): Promise<TupleLayout> {
  const o = run.options
  if (run.light) {
    const existing = await readScope(run)
    run.sink = await openLightSink(run.control, run.lightSql.createTemp, run.lightSql.copy, async () => {
      await startRun(run.control, run.row, run.attempt)
      run.recorded = true
    })
    diffInEngine(run, existing)
    return { prefix: [], seq: true }
  }
  const direct = run.sql.direct && !(await run.control.query<{ has: boolean }>(run.sql.scopeHasRows, o.scope.list)).rows[0].has
  if (direct) {
    run.direct = await openDirectSink(run.control, run.sql.directCopy, run.id)
    run.sink = run.direct
    return { prefix: run.scopePrefix, seq: false }
  }
  await run.control.query(run.sql.createStaging)
  const openStaging = async (): Promise<Sink> => await openStagingSink({ pool: run.engine.pool, poolMax: run.engine.settings.pgPoolSize, clients: run.clients, copySql: run.sql.copy, wanted: o.writers, signal: o.signal })
  if (databaseDiffReason(o, run.dataset) !== null) {
    await readScope(run) // logs why the engine diff does not run
    run.sink = await openStaging()
    return { prefix: run.stagingPrefix, seq: true }
  }
  // The scope's read overlaps the load: see src/diff/pending.ts.
  const pending = new PendingDiff(async stillWanted => {
    const existing = await readScope(run)
    stillWanted()
    return { existing, staging: await openStaging() }
  })
  pending.ready.then(r => { run.diff = r.diff }, () => {})
  run.pendingDiff = pending
  run.sink = pending
  return { prefix: run.stagingPrefix, seq: true }
}

/**
 * The engine diff reads the scope under the lock, before any row is staged
 * and before the control connection starts its COPY (README "The engine
 * diff"). Null: the database diff (not asked, not applicable, an empty scope,
 * or a scope over the memory budget).
 */
async function readScope (run: SyncRun): Promise<ExistingRows | null> {
  const o = run.options
  const reason = databaseDiffReason(o, run.dataset)
  if (reason !== null) {
    if (o.diff !== 'database') run.log.info({ phase: 'diff-read', reason }, 'engine diff not applicable: database diff')
    return null
  }
  const t = performance.now()
  // 'auto': a small feed into a large scope is cheaper staged than diffed against the whole scope.
  if (o.diff === 'auto' && run.light) {
    run.log.info({ phase: 'diff-read', reason: 'small input (diff auto)' }, 'engine diff not chosen: database diff')
    return null
  }
  const estimate = await estimateScope(run.control, run.dataset, o.scope.list)
  const inputBytes = run.source === null ? null : expectedBytes(run.source)
  if (o.diff === 'auto' && inputBytes !== null && inputBytes < AUTO_INPUT_SHARE * estimate.bytes) {
    run.log.info({ phase: 'diff-read', reason: 'input much smaller than the scope (diff auto)', inputBytes, scopeBytes: estimate.bytes }, 'engine diff not chosen: database diff')
    return null
  }
  // While the read runs, the load may hold results up to what the budget leaves beside the store.
  run.overlapBytes = Math.max(0, Math.min(OVERLAP_MAX_BYTES, DIFF_MAX_BYTES - estimate.bytes))
  const existing = await readExisting(run.control, run.dataset, o.scope.list, DIFF_MAX_BYTES, estimate)
  const rows = existing?.rows ?? null
  const msg = existing === null ? 'scope over the engine diff budget: database diff' : rows === 0 ? 'scope empty: database diff' : 'existing rows read'
  run.log.info({ phase: 'diff-read', ms: Math.round(performance.now() - t), rows, fallback: existing === null || rows === 0 }, msg)
  return existing !== null && existing.rows > 0 ? existing : null
}

/**
 * diff 'auto' takes the database diff when the input's bytes are under this
 * share of the scope's estimated store: a full export's JSON is ~1.6x its
 * store (CardTrader: 486 against 308 bytes a row), so below 0.5 the input
 * covers at most about a third of the scope, and reading the whole scope
 * costs more than staging the input.
 */
const AUTO_INPUT_SHARE = 0.5

/**
 * Input bytes of partitions the load may hold while the engine diff reads
 * the scope (beyond its usual in-flight bound), when the diff's budget
 * leaves that much room beside the estimated store: the workers parse ahead
 * instead of waiting for the read.
 */
const OVERLAP_MAX_BYTES = 48 * 1024 * 1024

function diffInEngine (run: SyncRun, existing: ExistingRows | null): void {
  if (existing === null || run.sink === null) return
  run.diff = new DiffSink(run.sink, existing)
  run.sink = run.diff
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
  run.log.info({ phase: 'merge', ms: Math.round(run.phases.merge), inserted: counts.inserted, updated: counts.updated, deleted: counts.deleted, duplicates: counts.duplicates, fastPath: counts.fastPath, steps: counts.steps, dryRun: rep.dryRun }, rep.dryRun ? 'dry run rolled back' : 'merge committed')
  run.options.onProgress?.(run.progress('done', rep.rows.read, rep.rows.written))
  return rep
}

/** Ends what is open and records the failure; returns the error to throw. */
async function failAttempt (run: SyncRun, err: unknown): Promise<SyncError> {
  // A COPY still open would queue every later statement on its connection behind it: end it (CopyFail).
  run.sink?.abort(err instanceof Error ? err : new Error(String(err)))
  // A scope read still running holds the control connection, and the staging it opens checks out writers: wait for both.
  await run.pendingDiff?.settled
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
    // A light run's row rolled back with its transaction: record it anew, then its failure.
    if (run.recorded && run.light) await restartRun(client, run.row)
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
