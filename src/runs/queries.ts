import type pg from 'pg'
import { presets } from '../dataset'
import { checkout } from '../db/connections'
import { fromPgError, optionError, syncError } from '../errors'
import { dropStaging, scopeKey } from './runs'

/**
 * Read-side of sync_runs for operators: running syncs, past runs, and the
 * sweep of runs whose process died. Everything is one query (or one per dead
 * run for the sweep), never per row of a target.
 */
export interface RunSummary {
  id: string
  dataset: string
  scope: Record<string, unknown>
  mode: string
  status: 'running' | 'succeeded' | 'failed' | 'cancelled'
  dryRun: boolean
  startedAt: Date
  finishedAt: Date | null
  durationMs: number | null
  host: string | null
  pid: number | null
  /** Running: the last progress the run stored (phase, rows so far). */
  phase: string | null
  rowsRead: number | null
  rows: Record<string, number> | null
  errorCode: string | null
  errorMessage: string | null
}

export interface RunFilter {
  /** Shorthand for scope { user_id }. */
  userId?: string
  dataset?: string
  scope?: Record<string, string | number>
  status?: RunSummary['status']
  /** Newest first; default 20, at most 1000. */
  limit?: number
}

const COLUMNS = `id, dataset, scope, mode, status, dry_run, started_at, finished_at, host, pid, progress, report->'rows' AS rows, error_code, error_message,
  (extract(epoch FROM (coalesce(finished_at, clock_timestamp()) - started_at)) * 1000)::float8 AS duration_ms`

interface Raw {
  id: string, dataset: string, scope: Record<string, unknown>, mode: string, status: RunSummary['status'], dry_run: boolean | null,
  started_at: Date, finished_at: Date | null, host: string | null, pid: number | null, progress: { phase?: string, rowsRead?: number } | null,
  rows: Record<string, number> | null, error_code: string | null, error_message: string | null, duration_ms: number
}

function toSummary (r: Raw): RunSummary {
  return {
    id: r.id,
    dataset: r.dataset,
    scope: r.scope,
    mode: r.mode,
    status: r.status,
    dryRun: r.dry_run === true,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.finished_at === null ? null : Math.round(r.duration_ms),
    host: r.host,
    pid: r.pid,
    phase: r.status === 'running' ? (r.progress?.phase ?? 'starting') : null,
    rowsRead: r.progress?.rowsRead ?? r.rows?.read ?? null,
    rows: r.rows,
    errorCode: r.error_code,
    errorMessage: r.error_message,
  }
}

/** Past and present runs, newest first. */
export async function listRuns (db: pg.Pool | pg.ClientBase, filter: RunFilter = {}): Promise<RunSummary[]> {
  const where: string[] = []
  const params: unknown[] = []
  const scope: Record<string, string | number> = { ...(filter.scope ?? {}) }
  if (filter.userId !== undefined) scope.user_id = filter.userId.toLowerCase()
  if (filter.dataset !== undefined) { params.push(filter.dataset); where.push(`dataset = $${params.length}`) }
  // Containment: a filter naming some scope columns matches every run within them.
  if (Object.keys(scope).length > 0) { params.push(JSON.stringify(scope)); where.push(`scope @> $${params.length}::jsonb`) }
  if (filter.status !== undefined) { params.push(filter.status); where.push(`status = $${params.length}`) }
  const limit = filter.limit ?? 20
  if (!(Number.isInteger(limit) && limit > 0 && limit <= 1000)) throw optionError('limit', `must be an integer from 1 to 1000, got ${JSON.stringify(limit)}.`)
  params.push(limit)
  try {
    const { rows } = await db.query<Raw>(`SELECT ${COLUMNS} FROM sync_runs ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC, id LIMIT $${params.length}`, params)
    return rows.map(toSummary)
  } catch (err) {
    throw fromPgError(err, 'Reading sync_runs')
  }
}

/** Syncs running now (as sync_runs records them; `sweep` closes those whose process died). */
export async function runningRuns (db: pg.Pool | pg.ClientBase, filter: Omit<RunFilter, 'status'> = {}): Promise<RunSummary[]> {
  return await listRuns(db, { ...filter, status: 'running', limit: filter.limit ?? 1000 })
}

export interface SweepResult {
  /** Runs found running whose scope lock was free: their process died. Marked failed, BRX_ERR_ABANDONED. */
  abandoned: string[]
  /** Staging tables dropped (of those runs, and of finished runs whose cleanup never ran). */
  dropped: string[]
}

const ABANDONED = syncError('BRX_ERR_ABANDONED', ['brx-sync sweep']).message

const TRY_LOCK = 'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok'
const UNLOCK = 'SELECT pg_advisory_unlock(hashtext($1), hashtext($2))'

/**
 * A running sync holds its scope's advisory lock (see runs.ts) from before
 * its run row exists until after COMMIT: a run marked running whose lock we
 * can take is dead. We hold the lock while closing it, so no sync of that
 * scope can start meanwhile.
 */
export async function sweep (pool: pg.Pool): Promise<SweepResult> {
  const client = await checkout(pool)
  const out: SweepResult = { abandoned: [], dropped: [] }
  try {
    const { rows } = await client.query<{ id: string, dataset: string, scope: string, target_table: string | null, staging_table: string | null }>(
      "SELECT id, dataset, scope::text AS scope, target_table, staging_table FROM sync_runs WHERE status = 'running' ORDER BY started_at")
    for (const r of rows) {
      const table = r.target_table ?? presets[r.dataset]?.table
      if (table === undefined) continue // a custom dataset recorded before schema 003: its lock key is unknown
      // The lock key is the canonical scope text the sync built (sorted keys), rebuilt from the stored jsonb.
      const scope = scopeKey(JSON.parse(r.scope) as Record<string, string | number>)
      if (!(await client.query<{ ok: boolean }>(TRY_LOCK, [table, scope])).rows[0].ok) continue
      try {
        if (r.staging_table !== null && await stagingExists(client, r.staging_table)) {
          await dropStaging(client, r.staging_table)
          out.dropped.push(r.staging_table)
        }
        const res = await client.query(
          "UPDATE sync_runs SET status = 'failed', finished_at = now(), error_code = 'BRX_ERR_ABANDONED', error_message = $2 WHERE id = $1 AND status = 'running'", [r.id, ABANDONED])
        if ((res.rowCount ?? 0) > 0) out.abandoned.push(r.id)
      } finally {
        await client.query(UNLOCK, [table, scope])
      }
    }
    // Staging of runs that are not running (their cleanup failed) or have no run row at all.
    const orphans = await client.query<{ name: string }>(
      `SELECT 'brx_staging.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'brx_staging' AND c.relkind = 'r' AND c.relname ~ '^s_[0-9a-f]{32}$'
          AND NOT EXISTS (SELECT 1 FROM sync_runs r WHERE r.staging_table = 'brx_staging.' || c.relname AND r.status = 'running')`)
    for (const o of orphans.rows) {
      await dropStaging(client, o.name)
      out.dropped.push(o.name)
    }
    return out
  } catch (err) {
    throw fromPgError(err, 'Sweeping abandoned runs')
  } finally {
    client.release()
  }
}

async function stagingExists (client: pg.ClientBase, name: string): Promise<boolean> {
  return (await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [name])).rows[0].t !== null
}
