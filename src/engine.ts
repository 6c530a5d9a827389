import path from 'node:path'
import pg from 'pg'
import pino, { type Logger } from 'pino'
import Piscina from 'piscina'
import { fromPgError } from './errors'
import { createResolver, type BlueprintResolver } from './map'
import { createPgPool, guardPool, type PgConnectionOptions } from './db/connections'
import { applyMigrations } from './db/migrate'
import { connectionFromEnv, defaults, validateEngineOptions, type EngineOptions, type SyncOptions } from './options'
import type { SyncReport } from './report/types'
import { runSync } from './sync'

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
    this.pgPool = options.pgPool !== undefined ? guardPool(options.pgPool, this.logger) : createPgPool(pgConnectionOptions(options, this.settings.pgPoolSize, 'brx-sync'), this.logger)
    this.piscina = new Piscina({
      filename: path.resolve(__dirname, '../workers/transform.js'),
      minThreads: this.settings.workers,
      maxThreads: this.settings.workers,
      idleTimeout: 30_000,
      workerData: { nice: options.workerNice ?? defaults.workerNice },
    })
    this.resolver = createResolver(options.mapping, this.logger)
  }

  async sync (options: SyncOptions): Promise<SyncReport> {
    return await runSync(this, options)
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

function pgConnectionOptions (o: EngineOptions, max: number, applicationName: string): PgConnectionOptions {
  return {
    connectionString: connectionFromEnv(o),
    max,
    applicationName,
    connectTimeoutMs: o.pgConnectTimeoutMs ?? defaults.pgConnectTimeoutMs,
    queryTimeoutMs: o.pgQueryTimeoutMs ?? defaults.pgQueryTimeoutMs,
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
  const logger = options.logger ?? pino({ level: 'silent' })
  const pool = options.pgPool !== undefined ? guardPool(options.pgPool, logger) : createPgPool(pgConnectionOptions(options, 1, 'brx-sync-migrate'), logger)
  try {
    return await applyMigrations(pool)
  } catch (err) {
    throw fromPgError(err, 'Applying the schema')
  } finally {
    if (options.pgPool === undefined) await pool.end()
  }
}
