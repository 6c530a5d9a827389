import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import type { Logger } from 'pino'
import type Piscina from 'piscina'
import { cancelledError, SyncError } from '../errors'
import { newMappingStats, type BlueprintResolver, type MappingStats } from '../map'
import type { CitusLayout } from '../db/citus'
import { buildMergeSql, type MergeSql } from '../merge/sql'
import type { FilledEngineOptions, FilledSyncOptions } from '../options'
import type { OpenedSource } from '../read/source'
import type { Progress } from '../report/types'
import type { TupleLayout } from '../transform/partition'
import { stagingName, type RunRow } from '../runs/runs'
import type { DiffSink } from '../diff/sink'
import type { PendingDiff } from '../diff/pending'
import type { DirectSink, Sink } from '../write/sinks'

/** What the engine lends each sync: its pools, threads and resolver, and its filled options. */
export interface EngineHandles {
  readonly pool: pg.Pool
  readonly piscina: Piscina
  readonly resolver: BlueprintResolver
  readonly logger: Logger
  readonly settings: FilledEngineOptions
}

/** What the load stage counted, summed over partitions. */
export interface LoadTotals {
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
  /** Engine diff: partitions transformed while the scope was still being read, marked afterwards. */
  markedLate: number
  reasons: Record<string, number>
  maybeDuplicates: boolean
}

/**
 * An input this small (and no mapping) takes the light path: its staging is a
 * TEMP table created in the merge transaction (no catalog entry to commit and
 * drop, no second writer), its one partition is transformed on the main
 * thread (a few milliseconds of CPU, less than a worker round trip) and its
 * run row is committed with its data. Same guarantees: one transaction, the
 * run recorded, the scope locked; a transient failure retries the whole sync
 * (file inputs).
 */
export const SMALL_INPUT_BYTES = 64 * 1024
/**
 * On Citus the staged path costs a distributed staging table (create and
 * drop: 0.1-0.4 s of DDL on every worker) and a COPY through the
 * coordinator, while the light path creates nothing distributed: up to
 * this size it is the faster one (a 500 KB input: 60-70 ms against
 * 0.6-0.75 s; README "Running on Citus"), for a few tens of milliseconds
 * of transform on the main thread.
 */
export const CITUS_SMALL_INPUT_BYTES = 1024 * 1024
const LIGHT_STAGING = 'brx_light'

const newTotals = (): LoadTotals => ({ read: 0, valid: 0, rejected: 0, unmapped: 0, excluded: 0, mapped: 0, staged: 0, bytesRead: 0, partitions: 0, workerBusyMs: 0, markedLate: 0, reasons: {}, maybeDuplicates: false })

/**
 * One sync: its filled options, the engine's handles, and everything one
 * attempt opens and counts. Stages take the run and nothing else; a retry
 * starts a fresh attempt on the same run (same id, same sync_runs row).
 */
export class SyncRun {
  readonly id = randomUUID()
  readonly staging = stagingName(this.id)
  sql: MergeSql
  /** The target is distributed with Citus: the merge's Citus form (README "Running on Citus"). */
  citus: CitusLayout | null = null
  /** The same merge over the light path's TEMP staging (see SMALL_INPUT_BYTES). */
  lightSql: MergeSql
  /** What to do with an unmapped record; null when this sync maps nothing. */
  readonly unmapped: 'skip' | 'keep' | null
  readonly log: Logger
  readonly t0 = performance.now()
  attempt = 0
  phases = { lock: 0, load: 0, merge: 0, total: 0 }
  totals = newTotals()
  mappingStats: MappingStats = newMappingStats()
  /** [0] is the control connection: it holds the scope lock and runs the merge. */
  clients: pg.PoolClient[] = []
  source: OpenedSource | null = null
  sink: Sink | null = null
  direct: DirectSink | null = null
  /** The engine diff's sink, when this re-sync diffs in the engine (see src/diff); set once its scope is read. */
  diff: DiffSink | null = null
  /** The engine diff reading its scope while the load runs (src/diff/pending.ts). */
  pendingDiff: PendingDiff | null = null
  /** Input bytes the load may hold beyond its in-flight bound while that read runs. */
  overlapBytes = 0
  locked = false
  recorded = false
  /** This attempt takes the light path: TEMP staging in the merge transaction, transform on the main thread. */
  light = false

  constructor (readonly engine: EngineHandles, readonly options: FilledSyncOptions) {
    this.sql = buildMergeSql(options.dataset, this.staging)
    this.lightSql = buildMergeSql(options.dataset, LIGHT_STAGING)
    this.unmapped = options.dataset.mapping !== undefined && engine.resolver.source !== 'none' ? engine.settings.unmapped : null
    this.log = engine.logger.child({ runId: this.id })
  }

  /** The target turned out to be distributed (asked on the control connection, before the scope lock and before anything is written). */
  useCitus (layout: CitusLayout): void {
    this.citus = layout
    this.sql = buildMergeSql(this.options.dataset, this.staging, layout)
    this.lightSql = buildMergeSql(this.options.dataset, LIGHT_STAGING, layout, true)
  }

  /** Values written before the columns of each staged tuple: on Citus staging carries the scope (its distribution column). */
  get stagingPrefix (): TupleLayout['prefix'] {
    return this.citus === null ? [] : this.scopePrefix
  }

  get scopePrefix (): TupleLayout['prefix'] {
    return this.dataset.scope.map((c, i) => ({ type: c.type, value: this.options.scope.list[i] }))
  }

  get control (): pg.PoolClient { return this.clients[0] }
  get dataset (): FilledSyncOptions['dataset'] { return this.options.dataset }
  get signal (): AbortSignal | undefined { return this.options.signal }

  /** A new attempt: nothing of the previous one is kept but the id and the sync_runs row. */
  begin (attempt: number): void {
    this.attempt = attempt
    this.phases = { lock: 0, load: 0, merge: 0, total: 0 }
    this.totals = newTotals()
    this.mappingStats = newMappingStats()
    this.clients = []
    this.source = null
    this.sink = null
    this.direct = null
    this.diff = null
    this.pendingDiff = null
    this.overlapBytes = 0
    this.locked = false
    this.light = false
  }

  /** The row this run keeps in sync_runs. */
  get row (): RunRow {
    return { id: this.id, dataset: this.dataset.name, scope: this.options.scope.key, mode: this.options.mode, staging: this.staging, table: this.dataset.table, dryRun: this.options.dryRun, jobId: this.options.jobId }
  }

  // A function, not a narrowed property: the signal can fire between any two awaits.
  aborted (): boolean { return this.options.signal?.aborted === true }

  cancelled (): SyncError { return cancelledError(undefined, this.options.signal) }

  throwIfAborted (): void { if (this.aborted()) throw this.cancelled() }

  /** A file can be read again on a retry, and a CardTrader export fetched again; stdin and streams cannot. */
  get reopenable (): boolean {
    const input = this.options.input
    return this.options.source !== null || (typeof input === 'string' && input !== '-')
  }

  progress (phase: Progress['phase'], rowsRead: number, rowsWritten: number): Progress {
    const bytesTotal = this.source?.size ?? null
    const bytesRead = this.totals.bytesRead
    return { runId: this.id, phase, rowsRead, rowsWritten, bytesRead, bytesTotal, percent: bytesTotal !== null && bytesTotal > 0 ? Math.min(100, Math.round(1000 * bytesRead / bytesTotal) / 10) : null }
  }

  /** Wall time of a phase, from `since` to now. */
  time (phase: keyof SyncRun['phases'], since: number): void {
    this.phases[phase] = performance.now() - since
    this.phases.total = performance.now() - this.t0
  }
}
