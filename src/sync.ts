/**
 * The orchestrator: one sync, start to report.
 *
 *   input (file | stdin | stream, gzip)
 *     │  bytes
 *     ▼
 *   Partitioner ─ main thread: record boundaries only, ~1 MiB partitions, bounded in flight
 *     │  partition (transferred)
 *     ▼
 *   Piscina workers ─ parse · normalize · validate · map (asks main: LRU + MySQL) · hash · encode
 *     │  binary COPY tuples (moved back, not copied)
 *     ▼
 *   CopyWriter × writers ─ COPY brx_staging.s_<run> FROM STDIN (FORMAT binary), backpressure
 *     │
 *     ▼
 *   merge ─ one transaction: dedup? · ANALYZE · UPDATE changed · INSERT new · DELETE missing
 *     │     · wipe guard · sync_runs row · DROP staging · COMMIT
 *     ▼
 *   report
 *
 * The first writer connection is the control connection: it holds the scope's
 * advisory lock for the whole sync and runs the merge. Extra writers are taken
 * only when the pool has room, so concurrent syncs never wait on each other
 * for connections while holding one (no hold-and-wait deadlock).
 */
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { MessageChannel } from 'node:worker_threads'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import type { Logger } from 'pino'
import { resolveDataset } from './dataset'
import type { DatasetSpec } from './dataset/types'
import { isUuid } from './encode'
import { SyncError, fromPgError, isTransient, redact } from './errors'
import type { Engine } from './engine'
import { newMappingStats, type MappingStats } from './map'
import { buildMergeSql, type MergeSql } from './merge/sql'
import { finishDirect, runMerge, type MergeCounts } from './merge/merge'
import { defaults, validateSyncOptions, type SyncOptions } from './options'
import { Partitioner, type Partition } from './read/partitioner'
import { openSource, sourceError, type OpenedSource } from './read/source'
import { RejectsFile } from './report/rejects'
import type { MappingReport, Progress, SyncReport } from './report/types'
import { PROGRESS_SQL, SUCCEED_SQL, acquireScopeLock, dropStaging, failRun, insertRun, reapAbandoned, releaseScopeLock, scopeKey, stagingName } from './runs/runs'
import type { MappingAnswer, TransformResult, TransformTask, TupleLayout } from './transform/partition'
import { CopyWriter } from './write/copy-writer'
import { DirectSink, StagingSink, type Sink } from './write/sinks'

interface Resolved {
  runId: string
  dataset: DatasetSpec
  scope: Record<string, string | number>
  scopeValues: Array<string | number>
  scopeJson: string
  mode: 'mirror' | 'upsert'
  staging: string
  sql: MergeSql
  unmapped: 'skip' | 'keep' | null
  log: Logger
}

interface LoadTotals {
  read: number
  valid: number
  rejected: number
  unmapped: number
  excluded: number
  mapped: number
  staged: number
  bytesRead: number
  partitions: number
  workerBusyMs: number
  reasons: Record<string, number>
  maybeDuplicates: boolean
}

export async function runSync (engine: Engine, options: SyncOptions): Promise<SyncReport> {
  validateSyncOptions(options)
  const r = resolve(engine, options)
  const t0 = performance.now()
  const retries = options.retries ?? defaults.retries
  const retryMaxMs = options.retryMaxMs ?? defaults.retryMaxMs
  r.log.info({ dataset: r.dataset.name, mode: r.mode, scope: r.scope }, 'sync started')
  for (let attempt = 1; ; attempt++) {
    try {
      const report = await attemptSync(engine, options, r, attempt, t0)
      r.log.info({ rows: report.rows, phases: report.phases, rowsPerSecond: report.rowsPerSecond }, 'sync succeeded')
      return report
    } catch (err) {
      const e = toSyncError(err)
      const reopenable = (typeof options.input === 'string' && options.input !== '-') || options.source !== undefined
      const elapsed = performance.now() - t0
      if (isTransient(err) && reopenable && attempt <= retries && elapsed < retryMaxMs && options.signal?.aborted !== true) {
        // Exponential backoff with full jitter: concurrent syncs that failed together do not retry together.
        const delay = Math.random() * Math.min(5_000, 100 * 2 ** attempt)
        r.log.warn({ attempt, code: e.code, pgCode: e.pgCode, delayMs: Math.round(delay) }, 'transient failure, retrying')
        await sleep(delay)
        continue
      }
      r.log.error({ code: e.code, pgCode: e.pgCode, message: e.message }, 'sync failed')
      throw e
    }
  }
}

function resolve (engine: Engine, o: SyncOptions): Resolved {
  const dataset = resolveDataset(o.dataset ?? defaults.dataset)
  const scope: Record<string, string | number> = { ...(o.scope ?? {}) }
  if (o.userId !== undefined) {
    if (scope.user_id !== undefined && scope.user_id !== o.userId) throw new SyncError('BRX_ERR_OPTIONS_INVALID', 'options.userId and options.scope.user_id disagree; pass one of them.', { option: 'userId' })
    scope.user_id = o.userId
  }
  const names = dataset.scope.map(c => c.name)
  for (const k of Object.keys(scope)) {
    if (!names.includes(k)) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `options.scope has "${k}", which is not a scope column of dataset ${dataset.name} (${names.join(', ') || 'none'}).`, { option: 'scope' })
  }
  const scopeValues = dataset.scope.map(c => {
    const v = scope[c.name]
    if (v === undefined) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `options.scope.${c.name} is required by dataset ${dataset.name}${c.name === 'user_id' ? ' (or pass options.userId)' : ''}.`, { option: `scope.${c.name}` })
    if (c.type === 'uuid') {
      if (!isUuid(v)) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `options.scope.${c.name} must be a uuid, got ${JSON.stringify(v)}.`, { option: `scope.${c.name}` })
      // One user, one scope: the lock key and sync_runs.scope must not depend on how the uuid was spelled.
      return canonicalUuid(v)
    }
    if ((c.type === 'int4' || c.type === 'int8' || c.type === 'int2') && !Number.isSafeInteger(Number(v))) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `options.scope.${c.name} must be an integer, got ${JSON.stringify(v)}.`, { option: `scope.${c.name}` })
    return v
  })
  for (const c of dataset.scope) scope[c.name] = scopeValues[dataset.scope.indexOf(c)]
  const runId = randomUUID()
  const staging = stagingName(runId)
  const mappingOn = dataset.mapping !== undefined && engine.resolver.source !== 'none'
  return {
    runId,
    dataset,
    scope,
    scopeValues,
    scopeJson: scopeKey(scope),
    mode: o.mode ?? defaults.mode,
    staging,
    sql: buildMergeSql(dataset, staging),
    unmapped: mappingOn ? (o.mapping?.unmapped ?? engine.options.mapping?.unmapped ?? defaults.mapping.unmapped) : null,
    log: engine.logger.child({ runId }),
  }
}

function canonicalUuid (v: string): string {
  const h = v.replace(/-/g, '').toLowerCase()
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export function toSyncError (err: unknown): SyncError {
  if (err instanceof SyncError) return err
  const e = err as { code?: unknown, name?: unknown, message?: unknown }
  if (e?.name === 'AbortError') return new SyncError('BRX_ERR_CANCELLED', 'The sync was cancelled.', { cause: err })
  if (typeof e?.code === 'string' && (/^[0-9A-Z]{5}$/.test(e.code) || /^E(CONN|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_)/.test(e.code))) return fromPgError(err, 'A database operation')
  if (typeof e?.message === 'string' && /Connection terminated|connect/i.test(e.message)) return fromPgError(err, 'A database operation')
  return new SyncError('BRX_ERR_INTERNAL', `Unexpected failure: ${redact(String(e?.message ?? err))}`, { cause: err })
}

async function attemptSync (engine: Engine, o: SyncOptions, r: Resolved, attempt: number, t0: number): Promise<SyncReport> {
  const signal = o.signal
  // A function, not a narrowed property: the signal can fire between any two awaits.
  const aborted = (): boolean => signal?.aborted === true
  const cancelled = (): SyncError => new SyncError('BRX_ERR_CANCELLED', `The sync was cancelled${signal?.reason instanceof Error ? `: ${signal.reason.message}` : ''}.`)
  if (aborted()) throw cancelled()
  const pool = engine.pgPool
  const clients: pg.PoolClient[] = []
  let control: pg.PoolClient
  try {
    control = await checkout(pool, signal)
  } catch (err) {
    if (aborted()) throw cancelled()
    throw fromPgError(err, 'Connecting to PostgreSQL')
  }
  clients.push(control)
  let locked = false
  let runInserted = false
  let broken: unknown = null
  const phases = { lock: 0, load: 0, merge: 0, total: 0 }
  const mappingStats = newMappingStats()
  let source: OpenedSource | null = null
  let directSink: DirectSink | null = null
  let sink: Sink | null = null
  try {
    // The input first: a missing file fails before anything is locked, recorded or opened for COPY.
    source = o.source !== undefined
      ? await (require('./source/cardtrader') as typeof import('./source/cardtrader')).openCardTraderSource(o.source.cardtrader, { logger: r.log, signal })
      : await openSource(o.input as string | Readable, o.gzip ?? defaults.gzip)
    await checkSchema(control, r.dataset)
    const tLock = performance.now()
    await acquireScopeLock(control, r.dataset.table, r.scopeJson, { wait: (o.lock ?? defaults.lock) === 'wait', timeoutMs: o.lockTimeoutMs ?? defaults.lockTimeoutMs, signal })
    locked = true
    phases.lock = performance.now() - tLock
    const reaped = await reapAbandoned(control, r.dataset.name, r.scopeJson, r.runId)
    if (reaped > 0) r.log.warn({ reaped }, 'marked abandoned runs of this scope failed and dropped their staging')
    await dropStaging(control, r.staging)
    await insertRunRow(control, r, attempt)
    runInserted = true
    if (r.unmapped !== null) await engine.resolver.check(signal)

    // A scope with no rows yet takes the direct path: one COPY straight into the target inside
    // the merge transaction. Otherwise rows are staged and merged set-based.
    const direct = !(await control.query<{ has: boolean }>(r.sql.scopeHasRows, r.scopeValues)).rows[0].has
    if (direct) {
      await control.query('BEGIN')
      directSink = new DirectSink(new CopyWriter(control, r.sql.directCopy), r.runId)
      sink = directSink
    } else {
      await control.query(r.sql.createStaging)
      sink = new StagingSink(await openWriters(engine, o, r, clients))
    }
    const layout: TupleLayout = direct
      ? { prefix: r.dataset.scope.map((c, i) => ({ type: c.type, value: r.scopeValues[i] })), seq: false }
      : { prefix: [], seq: true }

    const tLoad = performance.now()
    const totals = await load(engine, o, r, source, sink, layout, mappingStats)
    phases.load = performance.now() - tLoad
    r.log.info({ phase: 'load', ms: Math.round(phases.load), read: totals.read, staged: totals.staged, rejected: totals.rejected, partitions: totals.partitions, direct }, 'load finished')
    if (aborted()) throw cancelled()
    // An API error body ({"error": "Unauthorized"}) parses as one NDJSON record that is rejected:
    // in mirror mode that would read as "the user has nothing". Input with no valid record is refused.
    if (r.mode === 'mirror' && totals.read > 0 && totals.valid === 0) {
      throw new SyncError('BRX_ERR_INPUT_MALFORMED', `${source.name}: all ${totals.read} records were rejected (${Object.entries(totals.reasons).map(([k, v]) => `${k} ${v}`).join(', ')}); this is not an export, and mirror mode changes nothing.`, { file: source.name })
    }

    const tMerge = performance.now()
    const report = (counts: MergeCounts): SyncReport => buildReport(r, o, totals, counts, mappingStats, engine, phases, attempt, t0)
    const beforeCommit = async (c: MergeCounts): Promise<void> => {
      phases.merge = performance.now() - tMerge
      phases.total = performance.now() - t0
      const rep = report(c)
      await control.query(SUCCEED_SQL, [r.runId, JSON.stringify(rep), JSON.stringify(progressOf(r, 'done', rep.rows.read, rep.rows.written, rep.bytesRead, source?.size ?? null))])
    }
    const onAbort = (): void => { void cancelBackend(engine, control) }
    signal?.addEventListener('abort', onAbort, { once: true })
    let counts!: MergeCounts
    try {
      const statementTimeoutMs = o.statementTimeoutMs ?? defaults.statementTimeoutMs
      const workMem = o.workMem ?? defaults.workMem
      if (directSink !== null) {
        counts = await finishDirect(control, { sql: r.sql, scopeValues: r.scopeValues, copied: directSink.copied, spilled: directSink.spilled, spillPath: directSink.spillPath, statementTimeoutMs, workMem, beforeCommit, signal })
      } else {
        // Staging is committed: a transient failure of the merge (deadlock, serialization, a lost
        // connection) is retried alone, on a fresh connection that takes the scope lock again —
        // this works for stdin too, which cannot be read twice.
        for (let mergeAttempt = 1; ; mergeAttempt++) {
          try {
            counts = await runMerge(control, {
              sql: r.sql,
              scopeValues: r.scopeValues,
              mode: r.mode,
              staged: totals.staged,
              maybeDuplicates: totals.maybeDuplicates,
              maxDeleteRatio: o.maxDeleteRatio ?? defaults.maxDeleteRatio,
              allowMassDelete: o.allowMassDelete ?? defaults.allowMassDelete,
              statementTimeoutMs,
              workMem,
              beforeCommit,
              signal,
            }, `DROP TABLE IF EXISTS ${r.staging}`)
            break
          } catch (err) {
            if (!isTransient(err) || mergeAttempt > (o.retries ?? defaults.retries) || aborted()) throw err
            const delay = Math.random() * Math.min(5_000, 100 * 2 ** mergeAttempt)
            r.log.warn({ phase: 'merge', attempt: mergeAttempt, pgCode: (err as { code?: string }).code, delayMs: Math.round(delay) }, 'transient merge failure, retrying the merge')
            await sleep(delay)
            control = await reconnectForMerge(engine, control, clients, r, o, totals.staged, err)
          }
        }
      }
    } catch (err) {
      if (aborted()) throw cancelled()
      throw err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    phases.merge = performance.now() - tMerge
    phases.total = performance.now() - t0
    const rep = report(counts)
    r.log.info({ phase: 'merge', ms: Math.round(phases.merge), inserted: counts.inserted, updated: counts.updated, deleted: counts.deleted, duplicates: counts.duplicates, fastPath: counts.fastPath, steps: counts.steps }, 'merge committed')
    o.onProgress?.(progressOf(r, 'done', rep.rows.read, rep.rows.written, rep.bytesRead, source.size))
    return rep
  } catch (err) {
    broken = err
    // A COPY still open would queue every later statement on its connection behind it: end it (CopyFail).
    sink?.abort(err instanceof Error ? err : new Error(String(err)))
    const e = aborted() && !(err instanceof SyncError && err.code !== 'BRX_ERR_CANCELLED') ? cancelled() : toSyncError(err)
    await cleanupAfterFailure(engine, clients, r, e, runInserted).catch(cleanupErr => {
      r.log.warn({ err: (cleanupErr as Error).message }, 'cleanup after failure incomplete; the next sync of this scope finishes it')
    })
    throw e
  } finally {
    source?.stream.destroy()
    directSink?.cleanup()
    if (locked && broken === null) await releaseScopeLock(control, r.dataset.table, r.scopeJson).catch(() => {})
    // A client that saw an error is discarded rather than returned to the pool: its session
    // may still hold the scope lock or be mid-protocol.
    for (const c of clients) c.release(broken !== null ? true : undefined)
  }
}

/**
 * After a transient merge failure: keeps the control connection if it still
 * answers, else replaces it and takes the scope lock again (a dead session
 * released it). Staging must still hold every staged row; if it does not
 * (a crash restart truncates UNLOGGED tables) the original error stands.
 */
async function reconnectForMerge (engine: Engine, control: pg.PoolClient, clients: pg.PoolClient[], r: Resolved, o: SyncOptions, staged: number, original: unknown): Promise<pg.PoolClient> {
  let client = control
  try {
    await client.query('SELECT 1')
  } catch {
    clients.splice(clients.indexOf(control), 1)
    control.release(true)
    client = await checkout(engine.pgPool, o.signal)
    clients.unshift(client)
    await acquireScopeLock(client, r.dataset.table, r.scopeJson, { wait: true, timeoutMs: o.lockTimeoutMs ?? defaults.lockTimeoutMs, signal: o.signal })
  }
  const exists = (await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [r.staging])).rows[0].t !== null
  if (!exists || Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${r.staging}`)).rows[0].n) !== staged) throw original
  return client
}

/**
 * Unless set, partitions shrink for small inputs so every worker gets work
 * (about four partitions per worker), between 64 KiB and the 1 MiB default.
 * A gzip file's size is its compressed size: assume ~8x.
 */
function partitionSize (engine: Engine, o: SyncOptions, source: OpenedSource): number {
  const set = o.partitionBytes ?? engine.options.partitionBytes
  if (set !== undefined) return set
  if (source.size === null) return engine.settings.partitionBytes
  const bytes = source.gzip ? source.size * 8 : source.size
  return Math.min(engine.settings.partitionBytes, Math.max(64 * 1024, Math.ceil(bytes / (engine.settings.workers * 4))))
}

/**
 * A pooled connection, abortable while waiting for one. A checked-out client
 * whose connection dies between queries emits 'error'; without a listener
 * that would crash the host process. The failure surfaces anyway at the
 * client's next query.
 */
async function checkout (pool: pg.Pool, signal?: AbortSignal): Promise<pg.PoolClient> {
  const ready = (client: pg.PoolClient): pg.PoolClient => {
    if (client.listenerCount('error') === 0) client.on('error', () => {})
    return client
  }
  if (signal === undefined) return ready(await pool.connect())
  if (signal.aborted) throw new SyncError('BRX_ERR_CANCELLED', 'The sync was cancelled while waiting for a connection.')
  const pending = pool.connect()
  return await new Promise<pg.PoolClient>((resolve, reject) => {
    const onAbort = (): void => {
      pending.then(c => c.release(), () => {})
      reject(new SyncError('BRX_ERR_CANCELLED', 'The sync was cancelled while waiting for a connection.'))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    pending.then(c => {
      signal.removeEventListener('abort', onAbort)
      if (signal.aborted) return // onAbort's own handler on `pending` gives the client back
      resolve(ready(c))
    }, err => {
      signal.removeEventListener('abort', onAbort)
      reject(err)
    })
  })
}

/** The control connection writes; more writers only when the pool has room (never wait for one while holding one). */
async function openWriters (engine: Engine, o: SyncOptions, r: Resolved, clients: pg.PoolClient[]): Promise<CopyWriter[]> {
  const { pgPool, settings } = engine
  const writers = [new CopyWriter(clients[0], r.sql.copy)]
  const wanted = o.writers ?? settings.writers
  try {
    for (let i = 1; i < wanted && (pgPool.idleCount > 0 || pgPool.totalCount < settings.pgPoolSize); i++) {
      const c = await checkout(pgPool, o.signal)
      clients.push(c)
      writers.push(new CopyWriter(c, r.sql.copy))
    }
  } catch (err) {
    for (const w of writers) w.abort(err as Error)
    throw err
  }
  return writers
}

async function insertRunRow (control: pg.PoolClient, r: Resolved, attempt: number): Promise<void> {
  if (attempt === 1) {
    await insertRun(control, { id: r.runId, dataset: r.dataset.name, scope: r.scopeJson, mode: r.mode, staging: r.staging })
  } else {
    await control.query("UPDATE sync_runs SET status = 'running', finished_at = NULL, error_code = NULL, error_message = NULL, heartbeat_at = now() WHERE id = $1", [r.runId])
  }
}

async function checkSchema (client: pg.PoolClient, d: DatasetSpec): Promise<void> {
  const { rows } = await client.query<{ target: string | null, runs: string | null, staging: string | null }>(
    "SELECT to_regclass($1) AS target, to_regclass('sync_runs') AS runs, (SELECT nspname FROM pg_namespace WHERE nspname = 'brx_staging') AS staging", [d.table])
  const missing = [rows[0].target === null ? d.table : null, rows[0].runs === null ? 'sync_runs' : null, rows[0].staging === null ? 'schema brx_staging' : null].filter(Boolean)
  if (missing.length > 0) throw new SyncError('BRX_ERR_DB_SCHEMA', `PostgreSQL is missing ${missing.join(', ')}; run \`brx-sync migrate\` first.`, { table: d.table })
}

/** Rolls nothing back by hand (the merge is one transaction): drops staging and records the failure. */
async function cleanupAfterFailure (engine: Engine, clients: pg.PoolClient[], r: Resolved, e: SyncError, runInserted: boolean): Promise<void> {
  let client: pg.ClientBase = clients[0]
  let fresh: pg.PoolClient | null = null
  try {
    // The direct path fails inside its transaction: end it before anything else.
    await client.query('ROLLBACK')
  } catch {
    // The connection is dead. Give back every connection of this sync (discarded) before asking
    // for another: syncs that failed together must not wait on each other's dead connections.
    for (const c of clients.splice(0)) c.release(true)
    fresh = await checkout(engine.pgPool, AbortSignal.timeout(10_000))
    client = fresh
  }
  try {
    await dropStaging(client, r.staging)
    if (runInserted) await failRun(client, r.runId, e)
  } finally {
    fresh?.release()
  }
}

/**
 * Cancels the statement in flight on `control`. pg has no in-band cancel for a busy
 * connection, and the engine's pool may be saturated: use a connection of its own.
 */
async function cancelBackend (engine: Engine, control: pg.PoolClient): Promise<void> {
  const pid = (control as unknown as { processID?: number }).processID
  if (pid === undefined) return
  const c = new pg.Client({ ...engine.pgPool.options, application_name: 'brx-sync-cancel' })
  c.on('error', () => {})
  try {
    await c.connect()
    await c.query('SELECT pg_cancel_backend($1)', [pid])
  } catch { /* the statement ends anyway; the merge checks the signal between statements */ } finally {
    await c.end().catch(() => {})
  }
}

function progressOf (r: Resolved, phase: Progress['phase'], rowsRead: number, rowsWritten: number, bytesRead: number, bytesTotal: number | null): Progress {
  return { runId: r.runId, phase, rowsRead, rowsWritten, bytesRead, bytesTotal, percent: bytesTotal !== null && bytesTotal > 0 ? Math.min(100, Math.round(1000 * bytesRead / bytesTotal) / 10) : null }
}

/**
 * Streams the input through the workers into the sink. At most `maxInFlight`
 * partitions exist at once (being read, transformed, or waiting to be
 * written): memory stays flat however large the input. Workers finish in any
 * order; results are written in input order (a chain of promises), which is
 * what lets the direct path tell a key's first occurrence from later ones.
 */
async function load (engine: Engine, o: SyncOptions, r: Resolved, source: OpenedSource, sink: Sink, layout: TupleLayout, stats: MappingStats): Promise<LoadTotals> {
  const { pgPool, piscina, resolver, settings } = engine
  const signal = o.signal
  const totals: LoadTotals = { read: 0, valid: 0, rejected: 0, unmapped: 0, excluded: 0, mapped: 0, staged: 0, bytesRead: 0, partitions: 0, workerBusyMs: 0, reasons: {}, maybeDuplicates: false }
  const rejects = new RejectsFile(o.rejectsFile ?? null)
  const partitioner = new Partitioner(o.format ?? defaults.format, partitionSize(engine, o, source), source.name)
  const abort = new AbortController()
  let failure: unknown = null
  const fail = (err: unknown): void => {
    if (failure !== null) return
    failure = err
    abort.abort()
    sink.abort(err instanceof Error ? err : new Error(String(err)))
  }
  const onAbort = (): void => fail(new SyncError('BRX_ERR_CANCELLED', 'The sync was cancelled.'))
  if (signal?.aborted === true) onAbort()
  signal?.addEventListener('abort', onAbort, { once: true })

  const maxInFlight = o.maxInFlight ?? settings.maxInFlight
  let inFlight = 0
  let wake: (() => void) | null = null
  let chain: Promise<void> = Promise.resolve()
  let lastProgress = 0
  let lastDbProgress = 0
  const progress = (): void => {
    const now = performance.now()
    if (now - lastProgress < 250) return
    lastProgress = now
    const p = progressOf(r, 'load', totals.read, totals.staged, totals.bytesRead, source.size)
    if (source.size !== null) p.percent = Math.min(100, Math.round(1000 * source.rawBytes() / source.size) / 10)
    o.onProgress?.(p)
    // Progress in sync_runs only when a connection is idle: never wait for one, never per row.
    if (now - lastDbProgress > 1000 && pgPool.idleCount > 0) {
      lastDbProgress = now
      pgPool.query(PROGRESS_SQL, [r.runId, JSON.stringify(p)]).catch(() => {})
    }
  }

  const transform = async (p: Partition): Promise<TransformResult> => {
    const task: TransformTask & { port?: MessagePort } = {
      data: p.data, offsets: p.offsets, firstRow: p.firstRow, byteOffset: p.byteOffset,
      dataset: r.dataset, keepRaw: o.rejectsFile != null, unmapped: r.unmapped, layout,
    }
    const transferList: any[] = [p.data.buffer, p.offsets.buffer]
    let mapError: unknown = null
    let port1: import('node:worker_threads').MessagePort | null = null
    if (r.unmapped !== null) {
      const ch = new MessageChannel()
      port1 = ch.port1
      task.port = ch.port2 as unknown as MessagePort
      transferList.push(ch.port2)
      port1.on('message', (ids: Int32Array) => {
        resolver.resolve(ids, stats, signal).then(res => {
          const answer: MappingAnswer = { printIds: res.printIds, kinds: res.kinds, kindNames: resolver.kinds, excluded: resolver.excluded }
          port1?.postMessage(answer, [res.printIds.buffer as ArrayBuffer, res.kinds.buffer as ArrayBuffer])
        }, err => {
          mapError = err
          port1?.postMessage({ error: String((err as Error).message ?? err) })
        })
      })
    }
    try {
      return await piscina.run(task, { transferList, signal: abort.signal })
    } catch (err) {
      if (mapError !== null) throw mapError
      if (failure !== null) throw failure
      throw new SyncError('BRX_ERR_WORKER_FAILED', `A worker failed on the partition starting at record ${p.firstRow} (byte ${p.byteOffset}): ${(err as Error).message}`, { cause: err, row: p.firstRow })
    } finally {
      port1?.close()
    }
  }

  const write = async (p: Partition, res: TransformResult): Promise<void> => {
    totals.partitions++
    totals.read += p.count
    totals.valid += res.valid
    totals.rejected += res.rejected
    totals.unmapped += res.unmapped
    totals.excluded += res.excluded
    totals.mapped += res.mapped
    totals.workerBusyMs += res.cpuMs
    for (const k in res.reasons) totals.reasons[k] = (totals.reasons[k] ?? 0) + res.reasons[k]
    await rejects.write(res.rejects)
    await sink.write(res)
    totals.staged += res.rows
    progress()
  }

  const dispatch = async (p: Partition): Promise<void> => {
    while (inFlight >= maxInFlight && failure === null) await new Promise<void>(resolve => { wake = resolve })
    if (failure !== null) return
    inFlight++
    const result = transform(p)
    result.catch(() => {}) // observed by the chain below; this only marks it handled meanwhile
    chain = chain.then(async () => {
      if (failure !== null) return
      await write(p, await result)
    }).catch(fail).finally(() => {
      inFlight--
      const w = wake; wake = null; w?.()
    })
  }

  try {
    try {
      for await (const chunk of source.stream) {
        if (failure !== null) break
        totals.bytesRead += chunk.length
        partitioner.push(chunk as Buffer)
        for (let p = partitioner.take(); p !== undefined; p = partitioner.take()) await dispatch(p)
        if (failure !== null) break
      }
      if (failure === null) {
        partitioner.end()
        for (let p = partitioner.take(); p !== undefined; p = partitioner.take()) await dispatch(p)
      }
    } catch (err) {
      fail(err instanceof SyncError ? err : sourceError(err, source.name))
    }
    await chain
    if (failure !== null) throw failure
    try {
      await sink.finish()
    } catch (err) {
      throw fromPgError(err, `COPY into ${layout.seq ? r.staging : r.dataset.table}`)
    }
    await rejects.close()
    totals.maybeDuplicates = sink.maybeDuplicates
    return totals
  } catch (err) {
    fail(err)
    await rejects.close().catch(() => {})
    throw failure
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

function buildReport (r: Resolved, o: SyncOptions, t: LoadTotals, c: MergeCounts, m: MappingStats, engine: Engine, phases: SyncReport['phases'], attempt: number, t0: number): SyncReport {
  const written = t.staged - c.duplicates
  const mapping: MappingReport = {
    source: r.unmapped === null ? 'none' : engine.resolver.source,
    mapped: t.mapped,
    unmapped: t.unmapped,
    excluded: t.excluded,
    lookups: m.cacheHits + m.cacheMisses,
    cacheHits: m.cacheHits,
    cacheMisses: m.cacheMisses,
    roundTrips: m.roundTrips,
    rowsFetched: m.rowsFetched,
    lookupMs: Math.round(m.lookupMs),
  }
  const total = phases.total > 0 ? phases.total : performance.now() - t0
  return {
    runId: r.runId,
    dataset: r.dataset.name,
    mode: r.mode,
    scope: r.scope,
    status: 'succeeded',
    rows: {
      read: t.read,
      valid: t.valid,
      rejected: t.rejected,
      duplicates: c.duplicates,
      unmapped: r.unmapped === 'keep' ? 0 : t.unmapped,
      excluded: t.excluded,
      written,
      inserted: c.inserted,
      updated: c.updated,
      unchanged: c.unchanged,
      deleted: c.deleted,
    },
    rejectReasons: t.reasons,
    rejectsFile: o.rejectsFile ?? null,
    mapping,
    bytesRead: t.bytesRead,
    partitions: t.partitions,
    phases: { lock: Math.round(phases.lock), load: Math.round(phases.load), merge: Math.round(phases.merge), total: Math.round(total) },
    workerBusyMs: Math.round(t.workerBusyMs),
    rowsPerSecond: Math.round(t.read / (total / 1000)),
    fastPath: c.fastPath,
    attempts: attempt,
  }
}
