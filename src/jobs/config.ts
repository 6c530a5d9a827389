import os from 'node:os'
import type { Logger } from 'pino'
import { optionError } from '../errors'
import type { EngineOptions } from '../options'
import type { TokenProvider } from './tokens'

/**
 * Queue names and the one defaults table of the job system. Two work queues
 * so that big sellers cannot take every slot: a worker runs at most
 * `largeConcurrency` jobs of the large queue at once, the other slots stay
 * for everyone else. Both queues are `stately` keyed by scope: per seller at
 * most one job queued and one running, across every host.
 */
export const QUEUES = {
  sync: 'brx-sync',
  large: 'brx-sync-large',
  dead: 'brx-sync-dead',
  tick: 'brx-sync-tick',
} as const

export type WorkQueue = typeof QUEUES.sync | typeof QUEUES.large

export const jobDefaults = {
  schema: 'pgboss',
  /** Retries of transient failures: backoff retryDelaySeconds · 2^n, jittered (pg-boss's retryBackoff). */
  retryLimit: 5,
  retryDelaySeconds: 2,
  /**
   * A running job is failed (and retried elsewhere) when its worker has not
   * extended it for this long: a SIGKILLed worker's job comes back within
   * expireSeconds + maintenanceSeconds + the first retry delay.
   */
  expireSeconds: 10,
  heartbeatSeconds: 2,
  maintenanceSeconds: 2,
  pollIntervalMs: 1000,
  shutdownTimeoutMs: 60_000,
  /** pg-boss's own connections per process (fetch, complete, heartbeat, maintenance). */
  bossPoolSize: 2,
  /** A file input at least this big goes to the large queue. */
  largeInputBytes: 256 << 20,
  /** Jobs and their dead letters are kept this long (pg-boss retention, then archive). */
  retentionDays: 7,
} as const

export interface JobsConnection {
  /** PostgreSQL holding the queue (its own schema). Default: DATABASE_URL, PG*, as the engine. */
  databaseUrl?: string
  /** pg-boss schema. */
  schema?: string
  bossPoolSize?: number
  logger?: Logger
}

export interface WorkerOptions extends JobsConnection {
  /** Syncs at once in this process. Default: the machine's available parallelism. */
  concurrency?: number
  /** How many of those slots may run large-queue jobs. Default: half, at least 1. */
  largeConcurrency?: number
  /** The engine every job of this process runs through (its pools bound the process). */
  engine?: EngineOptions
  /** Resolves a job's token reference; default reads BRX_TOKEN_<REF> from the environment. */
  tokenProvider?: TokenProvider
  /** SIGTERM / stop(): running syncs get this long to finish before they are cancelled and retried elsewhere. */
  shutdownTimeoutMs?: number
  heartbeatSeconds?: number
  expireSeconds?: number
  maintenanceSeconds?: number
  pollIntervalMs?: number
}

export type FilledWorkerOptions = Required<Omit<WorkerOptions, 'databaseUrl' | 'logger' | 'tokenProvider' | 'engine'>> &
  Pick<WorkerOptions, 'databaseUrl' | 'logger' | 'tokenProvider' | 'engine'>

function fail (option: string, rule: string): never {
  throw optionError(option, rule)
}

function positiveInt (o: Record<string, unknown>, k: string): void {
  const v = o[k]
  if (v !== undefined && !(Number.isInteger(v) && (v as number) > 0)) fail(k, `must be a positive integer, got ${JSON.stringify(v)}.`)
}

export function fillWorkerOptions (o: WorkerOptions): FilledWorkerOptions {
  for (const k of ['concurrency', 'largeConcurrency', 'shutdownTimeoutMs', 'heartbeatSeconds', 'expireSeconds', 'maintenanceSeconds', 'pollIntervalMs', 'bossPoolSize']) positiveInt(o as Record<string, unknown>, k)
  const concurrency = o.concurrency ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length)
  // An option given as undefined (a CLI flag not passed) takes its default.
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as WorkerOptions
  const filled: FilledWorkerOptions = {
    schema: jobDefaults.schema,
    bossPoolSize: jobDefaults.bossPoolSize,
    shutdownTimeoutMs: jobDefaults.shutdownTimeoutMs,
    heartbeatSeconds: jobDefaults.heartbeatSeconds,
    expireSeconds: jobDefaults.expireSeconds,
    maintenanceSeconds: jobDefaults.maintenanceSeconds,
    pollIntervalMs: jobDefaults.pollIntervalMs,
    largeConcurrency: Math.max(1, Math.floor(concurrency / 2)),
    ...given,
    concurrency,
  }
  if (filled.largeConcurrency > concurrency) fail('largeConcurrency', `must not exceed concurrency (${concurrency}), got ${filled.largeConcurrency}.`)
  if (filled.heartbeatSeconds >= filled.expireSeconds) fail('heartbeatSeconds', `must be shorter than expireSeconds (${filled.expireSeconds}), got ${filled.heartbeatSeconds}.`)
  return filled
}
