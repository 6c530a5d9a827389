import os from 'node:os'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type pg from 'pg'
import { SyncError, optionError } from './errors'
import { checkSyncPlan, resolveDataset, type DatasetSpec, type SyncMode } from './dataset'
import { resolveScope, type ResolvedScope } from './dataset/scope'
import { inputFormat } from './read/partitioner'
import type { Progress } from './report/types'
// The options module only: a file sync does not load the HTTP client or the Redis client.
import { resolveCardTrader, validateCardTraderOptions, type CardTraderOptions, type ResolvedCardTrader } from './source/cardtrader/options'

/** A catalog table the blueprint mapping looks in, in priority order. */
export interface CatalogTable {
  /** MySQL table name (validated, quoted). */
  table: string
  /** Kind label stored in `print_table` and used by `exclude` (default: the table name). */
  kind?: string
  idColumn?: string
  externalColumn?: string
}

export interface MappingOptions {
  /** Where blueprint ids are resolved. Default: 'mysql' when mysqlUrl is set, 'file' when catalogFile is set, else 'none'. */
  source?: 'none' | 'file' | 'mysql'
  mysqlUrl?: string
  /** CSV or NDJSON of cardtrader_id, print_id, table. */
  catalogFile?: string
  tables?: CatalogTable[]
  /** Kinds (table kinds) to exclude: their products are counted as excluded, not written. */
  exclude?: string[]
  /** What to do with a product whose blueprint maps nowhere. */
  unmapped?: 'skip' | 'keep'
  /** Max MySQL connections for the whole engine. */
  poolSize?: number
  /** Deadline for one batch of catalog lookups. */
  lookupTimeoutMs?: number
  /** LRU capacity in blueprints. */
  cacheSize?: number
}

/** Settings shared by every sync of one engine (pools, threads, caches). */
export interface EngineOptions {
  /** PostgreSQL connection string. Fallback: DATABASE_URL, then PG* variables, then postgres://127.0.0.1:5432/test. */
  databaseUrl?: string
  /** Use the host's own pg.Pool instead of creating one. */
  pgPool?: pg.Pool
  /** Max PostgreSQL connections for the whole engine. */
  pgPoolSize?: number
  /** Bound on opening a PostgreSQL connection (a frozen or unreachable server), ms; 0 = none. */
  pgConnectTimeoutMs?: number
  /** Client-side bound on any one statement, COPY included: a frozen server cannot enforce statement_timeout. ms; 0 = none. */
  pgQueryTimeoutMs?: number
  /** Worker threads. */
  workers?: number
  /** Niceness of the worker threads (0-19; Linux applies it per thread). 0 leaves them at the host's priority. */
  workerNice?: number
  /** COPY connections per sync (the first also holds the scope lock and runs the merge). */
  writers?: number
  /** Target bytes of input per partition handed to a worker. */
  partitionBytes?: number
  /** Partitions in flight (read, transforming, or waiting for a writer) per sync. */
  maxInFlight?: number
  mapping?: MappingOptions
  logger?: Logger
}

export interface SyncOptions extends EngineOptions {
  /** A file path ('.gz' is gunzipped), '-' for stdin, or a readable stream of bytes. Not with `source`. */
  input?: string | Readable
  /** Fetch the input instead: a CardTrader seller's export (README "Syncing from CardTrader"). */
  source?: { cardtrader: CardTraderOptions }
  /** 'csv' (a header row names the fields) is also chosen by a .csv / .csv.gz input path. */
  format?: 'auto' | 'json' | 'ndjson' | 'csv'
  gzip?: boolean | 'auto'
  /** A preset name, a path to a .json spec, or a dataset description. Default: 'cardtrader-inventory'. */
  dataset?: string | DatasetSpec
  /** Permit mirror mode on a dataset with an empty scope (it may delete any row of the table). */
  allowUnscopedMirror?: boolean
  /** Values of the dataset's scope columns, e.g. { user_id: '…' }. */
  scope?: Record<string, string | number>
  /** Shorthand a preset declares (`scopeAlias`): for the CardTrader inventory, scope { user_id }. */
  userId?: string
  /** Default: the dataset's own mode, else mirror. insert-new inserts only keys the target lacks. */
  mode?: SyncMode
  /** NDJSON file receiving rejected records; null to keep none. Default: none (the report still counts them). */
  rejectsFile?: string | null
  /** Mirror mode refuses to delete more than this share of the scope's existing rows. */
  maxDeleteRatio?: number
  allowMassDelete?: boolean
  /** When another sync holds the same scope: wait (up to lockTimeoutMs) or fail at once. */
  lock?: 'wait' | 'fail'
  /**
   * How a re-sync finds what changed: 'engine' reads the scope's rows first and stages only new
   * and changed rows (README "The engine diff"); 'database' stages every row and lets the merge's
   * classify join decide; 'auto' (the default) is 'engine' unless the input is much smaller than
   * the scope (a small feed into a large scope: reading the scope would cost more than staging
   * the feed). Where the engine diff does not apply — first syncs, scopes over its memory
   * budget, dry runs, changes files, insert-new, datasets with derived columns, keys without one
   * binary form per value — 'database' runs (src/diff/when.ts).
   */
  diff?: 'auto' | 'engine' | 'database'
  lockTimeoutMs?: number
  /** work_mem for the merge transaction: its hash joins over the scope's rows should not spill to disk. */
  workMem?: string
  /** statement_timeout for the merge statements (0 = none). */
  statementTimeoutMs?: number
  /** Attempts for transient database failures (serialization, deadlock, connection loss). */
  retries?: number
  /** Cap on the total time spent retrying. */
  retryMaxMs?: number
  signal?: AbortSignal
  onProgress?: (p: Progress) => void
  /** Run everything, report what would change (counts, guard verdict, samples), then roll back. */
  dryRun?: boolean
  /** NDJSON of every committed change, complete once the transaction committed (temp name, then renamed). */
  changesFile?: string | null
  /**
   * The queue job this sync runs for (the job worker sets it), kept in sync_runs.job_id. If a run
   * of this job already succeeded, the sync reads and writes nothing and returns that run's report
   * (`alreadySucceeded: true`): a job retried after its commit is not applied twice.
   */
  jobId?: string | null
}

const cpus = Math.max(1, os.availableParallelism?.() ?? os.cpus().length)

export const defaults = {
  pgPoolSize: 10,
  pgConnectTimeoutMs: 10_000,
  pgQueryTimeoutMs: 600_000,
  workers: cpus,
  writers: Math.min(2, cpus),
  workerNice: 10,
  partitionBytes: 1 << 20,
  maxInFlight: cpus * 2 + 2,
  format: 'auto',
  gzip: 'auto',
  dataset: 'cardtrader-inventory',
  mode: 'mirror',
  rejectsFile: null,
  maxDeleteRatio: 0.5,
  allowMassDelete: false,
  lock: 'wait',
  diff: 'auto',
  lockTimeoutMs: 60_000,
  statementTimeoutMs: 0,
  workMem: '128MB',
  retries: 3,
  retryMaxMs: 30_000,
  dryRun: false,
  changesFile: null,
  jobId: null,
  mapping: {
    exclude: [] as string[],
    unmapped: 'skip',
    poolSize: 4,
    lookupTimeoutMs: 10_000,
    cacheSize: 500_000,
  },
} as const

const fail = (option: string, rule: string): never => { throw optionError(option, rule) }

function positiveInt (o: Record<string, unknown>, k: string, prefix = ''): void {
  const v = o[k]
  if (v !== undefined && !(Number.isInteger(v) && (v as number) > 0)) fail(prefix + k, `must be a positive integer, got ${JSON.stringify(v)}.`)
}

function oneOf (o: Record<string, unknown>, k: string, values: readonly unknown[], prefix = ''): void {
  const v = o[k]
  if (v !== undefined && !values.includes(v)) fail(prefix + k, `must be one of ${values.map(x => JSON.stringify(x)).join(', ')}, got ${JSON.stringify(v)}.`)
}

/** Options that configure the engine (pools, threads, caches): refused by engine.sync(), which cannot apply them. */
export const ENGINE_ONLY_OPTIONS = ['databaseUrl', 'pgPool', 'pgPoolSize', 'pgConnectTimeoutMs', 'pgQueryTimeoutMs', 'workers', 'workerNice', 'mapping', 'logger'] as const

/** EngineOptions with every default applied, checked once. `partitionBytes` null: adapt to the input. */
export interface FilledEngineOptions {
  pgPool: pg.Pool | null
  pgPoolSize: number
  pgConnectTimeoutMs: number
  pgQueryTimeoutMs: number
  workers: number
  workerNice: number
  writers: number
  partitionBytes: number | null
  maxInFlight: number
  mapping: MappingOptions
  unmapped: 'skip' | 'keep'
  logger: Logger | null
}

export function validateEngineOptions (o: EngineOptions): void {
  if (o == null || typeof o !== 'object') throw new SyncError('BRX_ERR_OPTIONS_INVALID', 'options must be an object.')
  const r = o as Record<string, unknown>
  for (const k of ['pgPoolSize', 'workers', 'writers', 'partitionBytes', 'maxInFlight']) positiveInt(r, k)
  if (o.databaseUrl !== undefined) {
    if (typeof o.databaseUrl !== 'string') fail('databaseUrl', 'must be a string.')
    // Never echo the value: it may hold a password.
    if (!/^postgres(ql)?:\/\//i.test(o.databaseUrl)) fail('databaseUrl', 'must be a postgres:// or postgresql:// URL.')
    try { new URL(o.databaseUrl) } catch { fail('databaseUrl', 'is not a valid URL (special characters in the password must be percent-encoded).') }
  }
  for (const k of ['pgConnectTimeoutMs', 'pgQueryTimeoutMs'] as const) {
    const v = o[k]
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) fail(k, `must be an integer >= 0 (milliseconds, 0 for none), got ${JSON.stringify(v)}.`)
  }
  if (o.workerNice !== undefined && !(Number.isInteger(o.workerNice) && o.workerNice >= 0 && o.workerNice <= 19)) fail('workerNice', `must be an integer from 0 to 19, got ${JSON.stringify(o.workerNice)}.`)
  if (o.partitionBytes !== undefined && o.partitionBytes > 256 << 20) fail('partitionBytes', 'must be at most 256 MiB.')
  const m = o.mapping as Record<string, unknown> | undefined
  if (m !== undefined) {
    if (m === null || typeof m !== 'object') fail('mapping', 'must be an object.')
    oneOf(m, 'source', ['none', 'file', 'mysql'], 'mapping.')
    oneOf(m, 'unmapped', ['skip', 'keep'], 'mapping.')
    for (const k of ['poolSize', 'lookupTimeoutMs', 'cacheSize']) positiveInt(m, k, 'mapping.')
    if (m.source === 'mysql' && typeof m.mysqlUrl !== 'string' && process.env.MYSQL_URL === undefined) fail('mapping.mysqlUrl', 'is required when mapping.source is "mysql" (or set MYSQL_URL).')
    if (m.source === 'file' && typeof m.catalogFile !== 'string') fail('mapping.catalogFile', 'is required when mapping.source is "file".')
    if (m.tables !== undefined && (!Array.isArray(m.tables) || m.tables.length === 0)) fail('mapping.tables', 'must be a non-empty array.')
    if (m.exclude !== undefined && !(Array.isArray(m.exclude) && m.exclude.every(x => typeof x === 'string'))) fail('mapping.exclude', 'must be an array of kind names.')
  }
}

/** The one place engine defaults are applied. The connection string is not kept here: see db/connections. */
export function fillEngineOptions (o: EngineOptions): FilledEngineOptions {
  validateEngineOptions(o)
  const mapping = o.mapping ?? {}
  return {
    pgPool: o.pgPool ?? null,
    pgPoolSize: o.pgPoolSize ?? defaults.pgPoolSize,
    pgConnectTimeoutMs: o.pgConnectTimeoutMs ?? defaults.pgConnectTimeoutMs,
    pgQueryTimeoutMs: o.pgQueryTimeoutMs ?? defaults.pgQueryTimeoutMs,
    workers: o.workers ?? defaults.workers,
    workerNice: o.workerNice ?? defaults.workerNice,
    writers: o.writers ?? defaults.writers,
    partitionBytes: o.partitionBytes ?? null,
    maxInFlight: o.maxInFlight ?? defaults.maxInFlight,
    mapping,
    unmapped: mapping.unmapped ?? defaults.mapping.unmapped,
    logger: o.logger ?? null,
  }
}

/** SyncOptions with every default applied, the dataset resolved and the scope canonicalized. */
export interface FilledSyncOptions {
  /** null when the export is fetched (`source`). */
  input: string | Readable | null
  /** The fetched source, resolved once (token, URL, timeouts, env fallbacks); its token is not enumerable. */
  source: { cardtrader: ResolvedCardTrader } | null
  /** 'csv' also when the input path ends in .csv / .csv.gz; JSON vs NDJSON is told by the first byte ('auto'). */
  format: 'auto' | 'json' | 'ndjson' | 'csv'
  gzip: boolean | 'auto'
  dataset: DatasetSpec
  scope: ResolvedScope
  /** The caller's, else the dataset's own (`dataset.mode`), else mirror. */
  mode: SyncMode
  allowUnscopedMirror: boolean
  rejectsFile: string | null
  maxDeleteRatio: number
  allowMassDelete: boolean
  lock: 'wait' | 'fail'
  diff: 'auto' | 'engine' | 'database'
  lockTimeoutMs: number
  workMem: string
  statementTimeoutMs: number
  retries: number
  retryMaxMs: number
  signal: AbortSignal | undefined
  onProgress: ((p: Progress) => void) | undefined
  dryRun: boolean
  changesFile: string | null
  jobId: string | null
  writers: number
  partitionBytes: number | null
  maxInFlight: number
}

function validateSyncOptions (o: SyncOptions): void {
  const r = o as unknown as Record<string, unknown>
  if (o.source !== undefined) {
    if (o.input !== undefined) fail('input', 'must not be given together with options.source (exactly one of them).')
    validateCardTraderOptions(o.source)
  } else if (o.input === undefined || o.input === null || (typeof o.input !== 'string' && typeof (o.input as Readable).pipe !== 'function')) {
    fail('input', 'must be a file path, "-" for stdin, or a readable stream.')
  }
  if (typeof o.input === 'string' && o.input.length === 0) fail('input', 'must not be empty.')
  oneOf(r, 'format', ['auto', 'json', 'ndjson', 'csv'])
  oneOf(r, 'allowUnscopedMirror', [true, false])
  oneOf(r, 'gzip', [true, false, 'auto'])
  oneOf(r, 'mode', ['mirror', 'upsert', 'insert-new'])
  oneOf(r, 'lock', ['wait', 'fail'])
  oneOf(r, 'diff', ['auto', 'engine', 'database'])
  for (const k of ['lockTimeoutMs', 'retryMaxMs', 'writers', 'partitionBytes', 'maxInFlight']) positiveInt(r, k)
  if (o.partitionBytes !== undefined && o.partitionBytes > 256 << 20) fail('partitionBytes', 'must be at most 256 MiB.')
  if (o.retries !== undefined && !(Number.isInteger(o.retries) && o.retries >= 0)) fail('retries', `must be an integer >= 0, got ${JSON.stringify(o.retries)}.`)
  if (o.statementTimeoutMs !== undefined && !(Number.isInteger(o.statementTimeoutMs) && o.statementTimeoutMs >= 0)) fail('statementTimeoutMs', 'must be an integer >= 0.')
  if (o.maxDeleteRatio !== undefined && !(typeof o.maxDeleteRatio === 'number' && o.maxDeleteRatio >= 0 && o.maxDeleteRatio <= 1)) fail('maxDeleteRatio', `must be a number between 0 and 1, got ${JSON.stringify(o.maxDeleteRatio)}.`)
  if (o.workMem !== undefined && !(typeof o.workMem === 'string' && /^\d+\s*(kB|MB|GB)$/.test(o.workMem))) fail('workMem', `must be a size such as "128MB", got ${JSON.stringify(o.workMem)}.`)
  if (o.rejectsFile !== undefined && o.rejectsFile !== null && typeof o.rejectsFile !== 'string') fail('rejectsFile', 'must be a path or null.')
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') fail('onProgress', 'must be a function.')
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) fail('signal', 'must be an AbortSignal.')
  if (o.userId !== undefined && typeof o.userId !== 'string') fail('userId', 'must be a string (a uuid).')
  if (o.scope !== undefined && (o.scope === null || typeof o.scope !== 'object')) fail('scope', 'must be an object of scope column values.')
  if (o.dryRun !== undefined && typeof o.dryRun !== 'boolean') fail('dryRun', 'must be a boolean.')
  if (o.changesFile !== undefined && o.changesFile !== null && (typeof o.changesFile !== 'string' || o.changesFile.length === 0)) fail('changesFile', 'must be a path or null.')
  // A dry run commits nothing, and the changes file lists only committed changes.
  if (o.dryRun === true && typeof o.changesFile === 'string') fail('changesFile', 'cannot be combined with dryRun: a dry run commits nothing (its report has samples of each kind of change).')
  if (o.jobId !== undefined && o.jobId !== null && (typeof o.jobId !== 'string' || o.jobId.length === 0 || o.jobId.length > 200)) fail('jobId', 'must be a non-empty string of at most 200 characters, or null.')
  if (o.dryRun === true && typeof o.jobId === 'string') fail('jobId', 'cannot be combined with dryRun: a dry run does not carry out a job.')
}

/**
 * The one place sync defaults are applied: per-sync tuning falls back to the
 * engine's, everything else to `defaults`. An engine-level option here is an
 * error naming it, not a no-op.
 */
export function fillSyncOptions (o: SyncOptions, engine: FilledEngineOptions): FilledSyncOptions {
  if (o == null || typeof o !== 'object') throw new SyncError('BRX_ERR_OPTIONS_INVALID', 'options must be an object.')
  for (const k of ENGINE_ONLY_OPTIONS) {
    if ((o as unknown as Record<string, unknown>)[k] !== undefined) fail(k, 'configures the engine: pass it to createEngine(), not to engine.sync().')
  }
  validateSyncOptions(o)
  const dataset = resolveDataset(o.dataset ?? defaults.dataset)
  const format = inputFormat(o.format ?? defaults.format, o.input)
  const mode = o.mode ?? dataset.mode ?? defaults.mode
  const allowUnscopedMirror = o.allowUnscopedMirror ?? false
  // Before anything is opened: an unscoped mirror or CSV into a normalizer's dataset is refused here.
  checkSyncPlan(dataset, { mode, allowUnscopedMirror, format })
  return {
    input: o.input ?? null,
    // Here, once: a missing token or unreadable token file fails before anything is opened.
    source: o.source === undefined ? null : { cardtrader: resolveCardTrader(o.source.cardtrader) },
    format,
    gzip: o.gzip ?? defaults.gzip,
    dataset,
    scope: resolveScope(dataset, o as unknown as Record<string, unknown>),
    mode,
    allowUnscopedMirror,
    rejectsFile: o.rejectsFile ?? defaults.rejectsFile,
    maxDeleteRatio: o.maxDeleteRatio ?? defaults.maxDeleteRatio,
    allowMassDelete: o.allowMassDelete ?? defaults.allowMassDelete,
    lock: o.lock ?? defaults.lock,
    diff: o.diff ?? (defaults.diff as 'auto' | 'engine' | 'database'),
    lockTimeoutMs: o.lockTimeoutMs ?? defaults.lockTimeoutMs,
    workMem: o.workMem ?? defaults.workMem,
    statementTimeoutMs: o.statementTimeoutMs ?? defaults.statementTimeoutMs,
    retries: o.retries ?? defaults.retries,
    retryMaxMs: o.retryMaxMs ?? defaults.retryMaxMs,
    signal: o.signal,
    onProgress: o.onProgress,
    dryRun: o.dryRun ?? defaults.dryRun,
    changesFile: o.changesFile ?? defaults.changesFile,
    jobId: o.jobId ?? defaults.jobId,
    writers: o.writers ?? engine.writers,
    partitionBytes: o.partitionBytes ?? engine.partitionBytes,
    maxInFlight: o.maxInFlight ?? engine.maxInFlight,
  }
}

/** The one-shot sync() takes both kinds of options: the engine's go to its engine, the rest to its sync. */
export function splitOptions (o: SyncOptions): { engine: EngineOptions, sync: SyncOptions } {
  if (o == null || typeof o !== 'object') throw new SyncError('BRX_ERR_OPTIONS_INVALID', 'options must be an object.')
  const engine: Record<string, unknown> = {}
  const rest: Record<string, unknown> = { ...o }
  for (const k of ENGINE_ONLY_OPTIONS) {
    if (k in rest) { engine[k] = rest[k]; delete rest[k] }
  }
  return { engine: engine as EngineOptions, sync: rest as unknown as SyncOptions }
}

/** The one place environment variables are read. */
export function connectionFromEnv (o: { databaseUrl?: string }): string | undefined {
  return o.databaseUrl ?? process.env.DATABASE_URL ?? (process.env.PGHOST !== undefined || process.env.PGDATABASE !== undefined ? undefined : 'postgres://postgres@127.0.0.1:5432/test')
}

export function mysqlUrlFromEnv (m: MappingOptions | undefined): string | undefined {
  return m?.mysqlUrl ?? process.env.MYSQL_URL
}
