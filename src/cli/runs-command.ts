import type pg from 'pg'
import pino from 'pino'
import { openPool } from '../db/connections'
import { connectionFromEnv, fillEngineOptions } from '../options'
import { listRuns, runningRuns, sweep, type RunFilter, type SweepResult } from '../runs/queries'
import { numberFlag, str, UsageError, type Command, type Io, type Values } from './command'
import { formatHistory, formatRunning } from './runs-format'

const statusUsage = `Usage: brx-sync status [--dataset D] [--json] [--database-url URL]

Lists running syncs from sync_runs: dataset, scope, phase, rows so far, start, host/pid.
`
const historyUsage = `Usage: brx-sync history [--user UUID | --dataset D --scope k=v ...] [--status S] [--limit N] [--json] [--database-url URL]

Lists past runs, newest first (default 20): status (dry runs marked), counts, duration, error code.
`
const sweepUsage = `Usage: brx-sync sweep [--json] [--database-url URL]

Marks runs whose process died (recorded running, scope lock free) failed with
BRX_ERR_ABANDONED and drops their staging tables and any other leftover staging.
\`brx-sync migrate\` runs it too.
`

const common: Command['options'] = { json: { type: 'boolean' }, 'database-url': { type: 'string' } }

/** One small pool for a read of sync_runs (or a sweep), ended afterwards. */
export async function withRunsPool<T> (databaseUrl: string | undefined, use: (pool: pg.Pool) => Promise<T>): Promise<T> {
  // Validates the URL without echoing it (it may hold a password).
  const settings = fillEngineOptions({ databaseUrl })
  const pool = openPool({ pool: null, connectionString: connectionFromEnv({ databaseUrl }), max: 1, logger: pino({ level: 'silent' }), connectTimeoutMs: settings.pgConnectTimeoutMs, queryTimeoutMs: settings.pgQueryTimeoutMs })
  try {
    return await use(pool)
  } finally {
    await pool.end()
  }
}

function print (v: Values, io: Io, data: unknown, text: string): number {
  io.out(v.json === true ? JSON.stringify(data, null, 2) + '\n' : text)
  return 0
}

export function formatSweep (r: SweepResult): string {
  return `marked ${r.abandoned.length} abandoned run(s) failed (BRX_ERR_ABANDONED); dropped ${r.dropped.length} staging table(s)\n`
}

type RunSummaryStatus = NonNullable<RunFilter['status']>
const STATUSES: RunSummaryStatus[] = ['running', 'succeeded', 'failed', 'cancelled']

function scopeOf (pairs: unknown): Record<string, string> | undefined {
  if (!Array.isArray(pairs) || pairs.length === 0) return undefined
  const scope: Record<string, string> = {}
  for (const kv of pairs as string[]) {
    const i = kv.indexOf('=')
    if (i <= 0) throw new UsageError(`--scope must be COLUMN=VALUE, got "${kv}".`)
    scope[kv.slice(0, i)] = kv.slice(i + 1)
  }
  return scope
}

function filterOf (v: Values): RunFilter {
  const f: RunFilter = { dataset: str(v.dataset), userId: str(v.user), scope: scopeOf((v as Record<string, unknown>).scope), limit: numberFlag(v.limit, 'limit') }
  if (f.userId !== undefined && f.scope !== undefined) throw new UsageError('pass --user or --scope, not both.')
  const status = str(v.status)
  if (status !== undefined) {
    if (!STATUSES.includes(status as RunSummaryStatus)) throw new UsageError(`--status must be ${STATUSES.join(', ')}, got "${status}".`)
    f.status = status as RunSummaryStatus
  }
  return f
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'running syncs',
  usage: statusUsage,
  options: { ...common, dataset: { type: 'string' } },
  run: async (v, _p, io) => await withRunsPool(str(v['database-url']), async pool => {
    const runs = await runningRuns(pool, { dataset: str(v.dataset) })
    return print(v, io, runs, formatRunning(runs))
  }),
}

export const historyCommand: Command = {
  name: 'history',
  summary: 'past runs',
  usage: historyUsage,
  options: { ...common, dataset: { type: 'string' }, user: { type: 'string', short: 'u' }, scope: { type: 'string', multiple: true }, limit: { type: 'string' }, status: { type: 'string' } },
  run: async (v, _p, io) => {
    const filter = filterOf(v)
    return await withRunsPool(str(v['database-url']), async pool => {
      const runs = await listRuns(pool, filter)
      return print(v, io, runs, formatHistory(runs))
    })
  },
}

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'close runs whose process died, drop their staging',
  usage: sweepUsage,
  options: common,
  run: async (v, _p, io) => await withRunsPool(str(v['database-url']), async pool => {
    const r = await sweep(pool)
    return print(v, io, r, formatSweep(r))
  }),
}
