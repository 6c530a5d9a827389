import { parseArgs } from 'node:util'
import pg from 'pg'
import { SyncError } from '../errors'
import { connectionFromEnv, validateEngineOptions } from '../options'
import { listRuns, runningRuns, sweep, type RunFilter } from '../runs/queries'
import { formatHistory, formatRunning } from './runs-format'

export const statusUsage = `Usage: brx-sync status [--dataset D] [--json] [--database-url URL]

Lists running syncs from sync_runs: dataset, scope, phase, rows so far, start, host/pid.
`
export const historyUsage = `Usage: brx-sync history [--user UUID | --dataset D --scope k=v ...] [--status S] [--limit N] [--json] [--database-url URL]

Lists past runs, newest first (default 20): status (dry runs marked), counts, duration, error code.
`
export const sweepUsage = `Usage: brx-sync sweep [--json] [--database-url URL]

Marks runs whose process died (recorded running, scope lock free) failed with
BRX_ERR_ABANDONED and drops their staging tables and any other leftover staging.
\`brx-sync migrate\` runs it too.
`

type Cmd = 'status' | 'history' | 'sweep'
const USAGE: Record<Cmd, string> = { status: statusUsage, history: historyUsage, sweep: sweepUsage }

/** `status`, `history` and `sweep`: read (or close) sync_runs rows with one small pool. */
export async function runsCommand (cmd: Cmd, argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | string[] | undefined>
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        'database-url': { type: 'string' },
        ...(cmd === 'sweep' ? {} : { dataset: { type: 'string' } }),
        ...(cmd === 'history' ? { user: { type: 'string', short: 'u' }, scope: { type: 'string', multiple: true }, limit: { type: 'string' }, status: { type: 'string' } } : {}),
      },
    }).values
  } catch (err) {
    process.stderr.write(`brx-sync ${cmd}: ${(err as Error).message}\n\n${USAGE[cmd]}`)
    return 2
  }
  if (v.help === true) { process.stdout.write(USAGE[cmd]); return 0 }
  let pool: pg.Pool | undefined
  try {
    const databaseUrl = v['database-url'] as string | undefined
    validateEngineOptions({ databaseUrl })
    pool = new pg.Pool({ connectionString: connectionFromEnv({ databaseUrl }), max: 1, application_name: `brx-sync-${cmd}` })
    pool.on('error', () => {})
    const out = await run(cmd, pool, v)
    process.stdout.write(v.json === true ? JSON.stringify(out.data, null, 2) + '\n' : out.text)
    return 0
  } catch (err) {
    const e = err instanceof SyncError ? err : new SyncError('BRX_ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err })
    if (v.json === true) process.stdout.write(JSON.stringify({ error: e.toJSON() }, null, 2) + '\n')
    process.stderr.write(`brx-sync ${cmd}: ${e.code}: ${e.message}\n`)
    return e.exitCode
  } finally {
    await pool?.end()
  }
}

async function run (cmd: Cmd, pool: pg.Pool, v: Record<string, unknown>): Promise<{ data: unknown, text: string }> {
  if (cmd === 'sweep') {
    const r = await sweep(pool)
    return { data: r, text: `marked ${r.abandoned.length} abandoned run(s) failed (BRX_ERR_ABANDONED); dropped ${r.dropped.length} staging table(s)\n` }
  }
  const filter = filterOf(v)
  if (cmd === 'status') {
    const runs = await runningRuns(pool, filter)
    return { data: runs, text: formatRunning(runs) }
  }
  const runs = await listRuns(pool, filter)
  return { data: runs, text: formatHistory(runs) }
}

function filterOf (v: Record<string, unknown>): RunFilter {
  const bad = (msg: string): never => { throw new SyncError('BRX_ERR_OPTIONS_INVALID', msg, { option: 'scope' }) }
  const f: RunFilter = {}
  if (typeof v.dataset === 'string') f.dataset = v.dataset
  if (typeof v.user === 'string') f.userId = v.user
  if (Array.isArray(v.scope)) {
    f.scope = {}
    for (const kv of v.scope as string[]) {
      const i = kv.indexOf('=')
      if (i <= 0) bad(`--scope must be k=v, got "${kv}".`)
      f.scope[kv.slice(0, i)] = kv.slice(i + 1)
    }
  }
  if (f.userId !== undefined && f.scope !== undefined) bad('pass --user or --scope, not both.')
  if (typeof v.limit === 'string') {
    const n = Number(v.limit)
    if (!Number.isInteger(n)) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `--limit must be an integer, got "${v.limit}".`, { option: 'limit' })
    f.limit = n
  }
  if (typeof v.status === 'string') {
    if (!['running', 'succeeded', 'failed', 'cancelled'].includes(v.status)) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `--status must be running, succeeded, failed or cancelled, got "${v.status}".`, { option: 'status' })
    f.status = v.status as RunFilter['status']
  }
  return f
}
