import { parseArgs } from 'node:util'
import pino from 'pino'
import { SyncError } from '../errors'
import type { EngineOptions, MappingOptions } from '../options'
import { enqueueSync, scheduleSync, startWorker, type EnqueueOptions } from '../jobs'

export const jobsUsage = `Usage:
  brx-sync worker [--concurrency N] [--large-concurrency N] [--shutdown-timeout-ms MS] [engine options]
      take sync jobs from the queue until SIGTERM/SIGINT (then finish or cancel within the deadline)
  brx-sync enqueue --user UUID (--input FILE | --source KIND --token-ref REF) [--mode mirror|upsert] [--large] [--json]
      queue one sync; prints the job id (or that one is already queued for the user)
  brx-sync schedule --user UUID (--input FILE | --source KIND --token-ref REF) --every 15m|1h|1d
      sync the user at that interval (pg-boss cron, once across all workers)

  --database-url URL      the PostgreSQL of the target and of the queue (schema pgboss)
  engine options (worker): --pg-pool-size N --workers N --writers N --mysql-url URL --catalog-file FILE --no-mapping
  --log-level LEVEL       pino level on stderr (default info)
`

const options = {
  help: { type: 'boolean', short: 'h' },
  user: { type: 'string', short: 'u' },
  input: { type: 'string', short: 'i' },
  source: { type: 'string' },
  'token-ref': { type: 'string' },
  mode: { type: 'string' },
  large: { type: 'boolean' },
  every: { type: 'string' },
  json: { type: 'boolean' },
  concurrency: { type: 'string' },
  'large-concurrency': { type: 'string' },
  'shutdown-timeout-ms': { type: 'string' },
  'database-url': { type: 'string' },
  'pg-pool-size': { type: 'string' },
  workers: { type: 'string' },
  writers: { type: 'string' },
  'mysql-url': { type: 'string' },
  'catalog-file': { type: 'string' },
  'no-mapping': { type: 'boolean' },
  'log-level': { type: 'string' },
} as const

type Values = Record<string, string | boolean | undefined>

const int = (v: Values, name: string): number | undefined => {
  if (v[name] === undefined) return undefined
  const n = Number(v[name])
  if (!Number.isInteger(n)) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `--${name} must be an integer, got "${String(v[name])}".`, { option: name })
  return n
}

function engineOptions (v: Values): EngineOptions {
  const mapping: MappingOptions = {}
  if (v['no-mapping'] === true) mapping.source = 'none'
  else if (v['catalog-file'] !== undefined) { mapping.source = 'file'; mapping.catalogFile = v['catalog-file'] as string }
  else if (v['mysql-url'] !== undefined) { mapping.source = 'mysql'; mapping.mysqlUrl = v['mysql-url'] as string }
  return { pgPoolSize: int(v, 'pg-pool-size'), workers: int(v, 'workers'), writers: int(v, 'writers'), mapping }
}

function target (v: Values): EnqueueOptions & { databaseUrl?: string } {
  if (v.user === undefined) throw new SyncError('BRX_ERR_OPTIONS_INVALID', '--user is required.', { option: 'user' })
  const source = v.source === undefined ? undefined : { kind: v.source as string, tokenRef: (v['token-ref'] as string | undefined) ?? (v.user as string) }
  return { userId: v.user as string, input: v.input as string | undefined, source, mode: v.mode as EnqueueOptions['mode'], databaseUrl: v['database-url'] as string | undefined }
}

async function worker (v: Values): Promise<number> {
  const logger = pino({ level: (v['log-level'] as string | undefined) ?? 'info', base: { cmd: 'worker', pid: process.pid } }, pino.destination(2))
  const w = await startWorker({
    databaseUrl: v['database-url'] as string | undefined,
    concurrency: int(v, 'concurrency'),
    largeConcurrency: int(v, 'large-concurrency'),
    shutdownTimeoutMs: int(v, 'shutdown-timeout-ms'),
    engine: engineOptions(v),
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

export async function jobsCommand (cmd: 'worker' | 'enqueue' | 'schedule', argv: string[]): Promise<number> {
  let v: Values
  try {
    v = parseArgs({ args: argv, strict: true, options }).values
  } catch (err) {
    process.stderr.write(`brx-sync ${cmd}: ${(err as Error).message}\n\n${jobsUsage}`)
    return 2
  }
  if (v.help === true) { process.stdout.write(jobsUsage); return 0 }
  try {
    if (cmd === 'worker') return await worker(v)
    if (cmd === 'schedule') {
      const s = await scheduleSync({ ...target(v), every: (v.every as string | undefined) ?? '' })
      process.stdout.write(v.json === true ? JSON.stringify(s) + '\n' : `scheduled ${s.key} every ${s.everySeconds} s\n`)
      return 0
    }
    const e = await enqueueSync({ ...target(v), large: v.large === true ? true : undefined })
    process.stdout.write(v.json === true ? JSON.stringify(e) + '\n' : e.jobId === null ? `already queued: ${e.key}\n` : `queued ${e.jobId} on ${e.queue}\n`)
    return 0
  } catch (err) {
    const e = err instanceof SyncError ? err : new SyncError('BRX_ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err })
    process.stderr.write(`brx-sync ${cmd}: ${e.code}: ${e.message}\n`)
    return e.exitCode
  }
}
