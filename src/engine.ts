import path from 'node:path'
import pino from 'pino'
import Piscina from 'piscina'
import { openPool, type OpenPoolOptions } from './db/connections'
import { applyMigrations, migrateDataset } from './db/migrate'
import { resolveDataset, type DatasetSpec } from './dataset'
import { fromPgError } from './errors'
import { createResolver } from './map'
import { detachOnce } from './transform/detach-once'
import { connectionFromEnv, fillEngineOptions, splitOptions, type EngineOptions, type FilledEngineOptions, type SyncOptions } from './options'
import type { SyncReport } from './report/types'
import { SyncMetrics, type EngineMetrics } from './metrics'
import { listRuns, runningRuns, sweep, type RunFilter, type RunSummary, type SweepResult } from './runs/queries'
import { runSync } from './sync/orchestrator'
import type { EngineHandles } from './sync/run'

/** What a host may watch: connections and queues, never the handles themselves. */
export interface EngineStats {
  pg: { total: number, idle: number, inUse: number, waiting: number, max: number }
  /** Partitions waiting for a worker thread. */
  queuedPartitions: number
  workers: number
  activeSyncs: number
}

// The handles, for the orchestrator and tests only: not reachable from an Engine instance.
const internals = new WeakMap<Engine, EngineHandles>()

/**
 * What every sync of one process shares: the pg pool, the worker threads,
 * the blueprint resolver (its LRU and MySQL pool). A host that runs many
 * syncs (one per seller) creates one engine; its bounds hold whatever the
 * number of concurrent syncs. Its pools and options (connection strings)
 * are private: `JSON.stringify(engine)` shows nothing of them.
 */
export class Engine {
  #handles: EngineHandles
  #ownPool: boolean
  #closed = false
  #active = 0
  #meter: SyncMetrics

  constructor (options: EngineOptions = {}) {
    const settings = fillEngineOptions(options)
    detachOnce()
    const logger = settings.logger ?? pino({ level: 'silent' })
    this.#ownPool = settings.pgPool === null
    const pool = openPool({ ...poolOptions(settings, options), max: settings.pgPoolSize, logger })
    const piscina = new Piscina({
      filename: path.resolve(__dirname, '../workers/transform.js'),
      minThreads: settings.workers,
      maxThreads: settings.workers,
      idleTimeout: 30_000,
      workerData: { nice: settings.workerNice },
    })
    this.#handles = { pool, piscina, resolver: createResolver(settings.mapping, logger), logger, settings }
    internals.set(this, this.#handles)
    // The gauges read what stats() reads, at collection time; the pool's own counters are not copied.
    this.#meter = new SyncMetrics({
      pgPool: () => this.stats().pg,
      pgPoolMax: settings.pgPoolSize,
      mysqlPool: () => this.#handles.resolver.poolStats?.() ?? null,
      workers: () => ({ utilization: piscina.utilization, queued: this.stats().queuedPartitions, threads: piscina.threads.length }),
    })
  }

  /** One sync through this engine's pools. Engine-level options (databaseUrl, workers, mapping, ...) are refused. */
  async sync (options: SyncOptions): Promise<SyncReport> {
    const end = this.#meter.start()
    this.#active++
    try {
      const report = await runSync(this.#handles, options)
      // A job already done in an earlier attempt wrote nothing now: its rows were counted then.
      end(report.dryRun ? 'dry_run' : 'succeeded', report.alreadySucceeded === true ? undefined : report.rows)
      return report
    } catch (err) {
      end((err as { code?: string }).code === 'BRX_ERR_CANCELLED' ? 'cancelled' : 'failed')
      throw err
    } finally {
      this.#active--
    }
  }

  stats (): EngineStats {
    const { pool, piscina, settings } = this.#handles
    return {
      pg: { total: pool.totalCount, idle: pool.idleCount, inUse: pool.totalCount - pool.idleCount, waiting: pool.waitingCount, max: settings.pgPoolSize },
      queuedPartitions: piscina.queueSize,
      workers: settings.workers,
      activeSyncs: this.#active,
    }
  }

  /** Counters and gauges of this engine, and their Prometheus text exposition. */
  async metrics (): Promise<EngineMetrics> {
    return await this.#meter.collect()
  }

  /** Past and running syncs from sync_runs, newest first. */
  async runs (filter: RunFilter = {}): Promise<RunSummary[]> {
    return await listRuns(this.#handles.pool, filter)
  }

  async running (filter: Omit<RunFilter, 'status'> = {}): Promise<RunSummary[]> {
    return await runningRuns(this.#handles.pool, filter)
  }

  /** Closes runs whose process died (scope lock free) and drops leftover staging tables. */
  async sweep (): Promise<SweepResult> {
    return await sweep(this.#handles.pool)
  }

  /**
   * The LRU serves every later sync of this engine. After the catalog
   * changes, clear it: the next sync maps afresh and the merge sees the new
   * print ids as changes. (A one-shot `sync()` always starts cold.)
   */
  clearMappingCache (): void {
    this.#handles.resolver.clearCache()
  }

  async migrate (): Promise<string[]> {
    try {
      return await applyMigrations(this.#handles.pool)
    } catch (err) {
      throw fromPgError(err, 'Applying the schema')
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const { piscina, resolver, pool } = this.#handles
    await Promise.allSettled([
      piscina.destroy(),
      resolver.close(),
      this.#ownPool ? pool.end() : Promise.resolve(),
    ])
  }

  toJSON (): Record<string, unknown> {
    return { stats: this.stats() }
  }
}

/** The engine's handles. Not part of the public API (src/index.ts does not export it): for tests and tools. */
export function engineInternals (engine: Engine): EngineHandles {
  const h = internals.get(engine)
  if (h === undefined) throw new TypeError('not an Engine')
  return h
}

function poolOptions (settings: FilledEngineOptions, options: EngineOptions): Pick<OpenPoolOptions, 'pool' | 'connectionString' | 'connectTimeoutMs' | 'queryTimeoutMs'> {
  return { pool: settings.pgPool, connectionString: connectionFromEnv(options), connectTimeoutMs: settings.pgConnectTimeoutMs, queryTimeoutMs: settings.pgQueryTimeoutMs }
}

export function createEngine (options: EngineOptions = {}): Engine {
  return new Engine(options)
}

/** One-shot: an engine for this sync only, closed afterwards. Takes engine and sync options alike. */
export async function sync (options: SyncOptions): Promise<SyncReport> {
  const split = splitOptions(options)
  // Per-sync tuning also sizes the one-shot engine (its defaults would otherwise apply).
  const engine = new Engine({ ...split.engine, writers: options.writers, partitionBytes: options.partitionBytes, maxInFlight: options.maxInFlight })
  try {
    return await engine.sync(split.sync)
  } finally {
    await engine.close()
  }
}

/**
 * Applies the schema; with `dataset` (a preset name, a spec path or object), only the bookkeeping tables plus that dataset's table.
 * With `citus: true`, that table (default the CardTrader preset's) is then distributed by its first scope column (README "Running on Citus").
 */
export async function migrate (options: EngineOptions & { dataset?: string | DatasetSpec, citus?: boolean } = {}): Promise<string[]> {
  const { dataset: d, citus, ...engineOptions } = options
  const settings = fillEngineOptions(engineOptions)
  const dataset = d === undefined ? undefined : resolveDataset(d)
  const pool = openPool({ ...poolOptions(settings, engineOptions), max: 1, applicationName: 'brx-sync-migrate', logger: settings.logger ?? pino({ level: 'silent' }) })
  try {
    return dataset === undefined ? await applyMigrations(pool, undefined, undefined, { citus }) : await migrateDataset(pool, dataset, { citus })
  } catch (err) {
    throw fromPgError(err, 'Applying the schema')
  } finally {
    if (settings.pgPool === null) await pool.end()
  }
}
