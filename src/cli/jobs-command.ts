import pino from 'pino'
import type { EngineOptions, MappingOptions } from '../options'
import type { EnqueueOptions } from '../jobs'
import { numberFlag, str, UsageError, type Command, type Io, type Values } from './command'

/** The jobs module (pg-boss, cron-parser) is required by these commands only, not by every CLI start. */
const jobs = (): typeof import('../jobs') => require('../jobs') as typeof import('../jobs')

/**
 * The job commands: `worker` consumes the queue, `enqueue` and `schedule`
 * feed it. All three parse through cli/command.ts like every other command.
 */

const connection = `  --database-url URL      the PostgreSQL of the target and of the queue (schema pgboss)
`

const target = `  --user UUID             the seller whose inventory this is
  --input FILE            an export every worker host can read (a relative path is resolved here)
  --source KIND           a live source instead (e.g. cardtrader); the job stores only --token-ref
  --token-ref REF         the reference the worker's token provider resolves (default: the user)
  --mode MODE             mirror, upsert or insert-new (default: the dataset's own, mirror for the inventory)
`

const workerUsage = `Usage: brx-sync worker [--concurrency N] [--large-concurrency N] [--shutdown-timeout-ms MS] [engine options]

Takes sync jobs from the queue until SIGTERM/SIGINT, then lets running syncs
finish within the deadline and cancels the rest (their jobs are retried elsewhere).

  --concurrency N          syncs at once in this process (default: the machine's parallelism)
  --large-concurrency N    how many of those may be large-queue jobs (default half, at least 1)
  --shutdown-timeout-ms MS deadline for running syncs on SIGTERM (default 60000)
  --pg-pool-size N --workers N --writers N   the engine's bounds (pools and threads)
  --mysql-url URL | --catalog-file FILE | --no-mapping   blueprint mapping
  --log-level LEVEL        pino level on stderr (default info)
${connection}`

const enqueueUsage = `Usage: brx-sync enqueue --user UUID (--input FILE | --source KIND [--token-ref REF]) [--mode MODE] [--large] [--json]

Queues one sync and prints its job id, or that one is already queued for the user.

${target}  --large                 the large (capped) queue, whatever the input's size
  --json                  print { jobId, queue, key } as JSON
${connection}`

const scheduleUsage = `Usage: brx-sync schedule --user UUID (--input FILE | --source KIND [--token-ref REF]) --every 15m|1h|1d [--json]

Syncs the user at that interval (pg-boss cron, once across all workers).

${target}  --every INTERVAL        whole minutes: 15m, 1h, 1d
  --json                  print { key, everySeconds } as JSON
${connection}`

const common: Command['options'] = {
  'database-url': { type: 'string' },
}

const targetOptions: Command['options'] = {
  ...common,
  user: { type: 'string', short: 'u' },
  input: { type: 'string', short: 'i' },
  source: { type: 'string' },
  'token-ref': { type: 'string' },
  mode: { type: 'string' },
  json: { type: 'boolean' },
}

function mappingOf (v: Values): MappingOptions {
  const mapping: MappingOptions = {}
  if (v['no-mapping'] === true) mapping.source = 'none'
  else if (v['catalog-file'] !== undefined) { mapping.source = 'file'; mapping.catalogFile = str(v['catalog-file']) }
  else if (v['mysql-url'] !== undefined) { mapping.source = 'mysql'; mapping.mysqlUrl = str(v['mysql-url']) }
  return mapping
}

/** Engine-level options: they configure the worker's one engine, never a single sync. */
function engineOf (v: Values): EngineOptions {
  return {
    pgPoolSize: numberFlag(v['pg-pool-size'], 'pg-pool-size'),
    workers: numberFlag(v.workers, 'workers'),
    writers: numberFlag(v.writers, 'writers'),
    mapping: mappingOf(v),
  }
}

function targetOf (v: Values): EnqueueOptions & { databaseUrl?: string } {
  const user = str(v.user)
  if (user === undefined) throw new UsageError('--user is required.')
  if ((v.input === undefined) === (v.source === undefined)) throw new UsageError('give --input FILE or --source KIND (one of them).')
  const kind = str(v.source)
  const source = kind === undefined ? undefined : { kind, tokenRef: str(v['token-ref']) ?? user }
  return { userId: user, input: str(v.input), source, mode: v.mode as EnqueueOptions['mode'], databaseUrl: str(v['database-url']) }
}

async function runWorker (v: Values): Promise<number> {
  const logger = pino({ level: str(v['log-level']) ?? 'info', base: { cmd: 'worker', pid: process.pid } }, pino.destination(2))
  const w = await jobs().startWorker({
    databaseUrl: str(v['database-url']),
    concurrency: numberFlag(v.concurrency, 'concurrency'),
    largeConcurrency: numberFlag(v['large-concurrency'], 'large-concurrency'),
    shutdownTimeoutMs: numberFlag(v['shutdown-timeout-ms'], 'shutdown-timeout-ms'),
    engine: engineOf(v),
    logger,
  })
  await new Promise<void>(resolve => {
    const onSignal = (signal: string): void => { logger.info({ signal }, 'stopping'); resolve() }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  })
  await w.stop()
  return 0
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'take sync jobs from the queue',
  usage: workerUsage,
  options: {
    ...common,
    'log-level': { type: 'string' },
    concurrency: { type: 'string' },
    'large-concurrency': { type: 'string' },
    'shutdown-timeout-ms': { type: 'string' },
    'pg-pool-size': { type: 'string' },
    workers: { type: 'string' },
    writers: { type: 'string' },
    'mysql-url': { type: 'string' },
    'catalog-file': { type: 'string' },
    'no-mapping': { type: 'boolean' },
  },
  run: async v => await runWorker(v),
}

export const enqueueCommand: Command = {
  name: 'enqueue',
  summary: 'queue one sync job',
  usage: enqueueUsage,
  options: { ...targetOptions, large: { type: 'boolean' } },
  run: async (v, _p, io: Io) => {
    const e = await jobs().enqueueSync({ ...targetOf(v), large: v.large === true ? true : undefined })
    io.out(v.json === true ? JSON.stringify(e) + '\n' : e.jobId === null ? `already queued: ${e.key}\n` : `queued ${e.jobId} on ${e.queue}\n`)
    return 0
  },
}

export const scheduleCommand: Command = {
  name: 'schedule',
  summary: 'sync a user at an interval (pg-boss cron)',
  usage: scheduleUsage,
  options: { ...targetOptions, every: { type: 'string' } },
  run: async (v, _p, io: Io) => {
    const every = str(v.every)
    if (every === undefined) throw new UsageError('--every is required (15m, 1h, 1d).')
    const s = await jobs().scheduleSync({ ...targetOf(v), every })
    io.out(v.json === true ? JSON.stringify(s) + '\n' : `scheduled ${s.key} every ${s.everySeconds} s\n`)
    return 0
  },
}
