import path from 'node:path'
import pg from 'pg'
import pino, { type Logger } from 'pino'
import Piscina from 'piscina'
import { fromPgError } from './errors'
import { createResolver, type BlueprintResolver } from './map'
import { applyMigrations } from './db/migrate'
import { connectionFromEnv, defaults, validateEngineOptions, type EngineOptions, type SyncOptions } from './options'
import type { SyncReport } from './report/types'
import { runSync } from './sync'
import { SyncMetrics, type EngineMetrics } from './metrics'
import { listRuns, runningRuns, sweep, type RunFilter, type RunSummary, type SweepResult } from './runs/queries'

/**
 * What every sync of one process shares: the pg pool, the worker threads,
 * the blueprint resolver (its LRU and MySQL pool). A host that runs many
 * syncs (one per seller) creates one engine; its bounds hold whatever the
 * number of concurrent syncs.
 */
export class Engine {
  readonly pgPool: pg.Pool
  readonly piscina: Piscina
  readonly resolver: BlueprintResolver
  readonly logger: Logger
  readonly settings: Required<Pick<EngineOptions, 'workers' | 'writers' | 'partitionBytes' | 'maxInFlight' | 'pgPoolSize'>>
  private readonly ownPool: boolean
  private closed = false
  private readonly meter: SyncMetrics

  constructor (readonly options: EngineOptions = {}) {
    validateEngineOptions(options)
    this.logger = options.logger ?? pino({ level: 'silent' })
    this.settings = {
      workers: options.workers ?? defaults.workers,
      writers: options.writers ?? defaults.writers,
      partitionBytes: options.partitionBytes ?? defaults.partitionBytes,
      maxInFlight: options.maxInFlight ?? defaults.maxInFlight,
      pgPoolSize: options.pgPoolSize ?? defaults.pgPoolSize,
    }
    this.ownPool = options.pgPool === undefined
    this.pgPool = options.pgPool ?? new pg.Pool({ connectionString: connectionFromEnv(options), max: this.settings.pgPoolSize, application_name: 'brx-sync' })
    // Idle clients can be terminated by the server (pg_terminate_backend, restarts): without a listener that is an uncaught error.
    this.pgPool.on('error', err => this.logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'))
    this.piscina = new Piscina({
      filename: path.resolve(__dirname, '../workers/transform.js'),
      minThreads: this.settings.workers,
      maxThreads: this.settings.workers,
      idleTimeout: 30_000,
      workerData: { nice: options.workerNice ?? defaults.workerNice },
    })
    this.resolver = createResolver(options.mapping, this.logger)
    this.meter = new SyncMetrics({
      pgPool: () => ({ total: this.pgPool.totalCount, idle: this.pgPool.idleCount, waiting: this.pgPool.waitingCount }),
      pgPoolMax: this.settings.pgPoolSize,
      mysqlPool: () => this.resolver.poolStats?.() ?? null,
      workers: () => ({ utilization: this.piscina.utilization, queued: this.piscina.queueSize, threads: this.piscina.threads.length }),
    })
  }

  async sync (options: SyncOptions): Promise<SyncReport> {
    const end = this.meter.start()
    try {
      const report = await runSync(this, options)
      end(report.dryRun ? 'dry_run' : 'succeeded', report.rows)
      return report
    } catch (err) {
      end((err as { code?: string }).code === 'BRX_ERR_CANCELLED' ? 'cancelled' : 'failed')
      throw err
    }
  }

  /** Counters and gauges of this engine, and their Prometheus text exposition. */
  async metrics (): Promise<EngineMetrics> {
    return await this.meter.collect()
  }

  /** Past and running syncs from sync_runs, newest first. */
  async runs (filter: RunFilter = {}): Promise<RunSummary[]> {
    return await listRuns(this.pgPool, filter)
  }

  async running (filter: Omit<RunFilter, 'status'> = {}): Promise<RunSummary[]> {
    return await runningRuns(this.pgPool, filter)
  }

  /** Closes runs whose process died (scope lock free) and drops leftover staging tables. */
  async sweep (): Promise<SweepResult> {
    return await sweep(this.pgPool)
  }

  /**
   * The LRU serves every later sync of this engine. After the catalog
   * changes, clear it: the next sync maps afresh and the merge sees the new
   * print ids as changes. (A one-shot `sync()` always starts cold.)
   */
  clearMappingCache (): void {
    this.resolver.clearCache()
  }

  async migrate (): Promise<string[]> {
    return await applyMigrations(this.pgPool)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([
      this.piscina.destroy(),
      this.resolver.close(),
      this.ownPool ? this.pgPool.end() : Promise.resolve(),
    ])
  }
}

export function createEngine (options: EngineOptions = {}): Engine {
  return new Engine(options)
}

/** One-shot: an engine for this sync only, closed afterwards. */
export async function sync (options: SyncOptions): Promise<SyncReport> {
  const engine = new Engine(options)
  try {
    return await engine.sync(options)
  } finally {
    await engine.close()
  }
}

export async function migrate (options: EngineOptions = {}): Promise<string[]> {
  validateEngineOptions(options)
  const pool = options.pgPool ?? new pg.Pool({ connectionString: connectionFromEnv(options), max: 1 })
  try {
    return await applyMigrations(pool)
  } catch (err) {
    throw fromPgError(err, 'Applying the schema')
  } finally {
    if (options.pgPool === undefined) await pool.end()
  }
}
