import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type pg from 'pg'
import { SyncError, cancelledError, fromPgError, redact, syncError } from '../errors'

/**
 * sync_runs bookkeeping and the per-scope advisory lock. The lock is a
 * session-level pg advisory lock keyed on (target table, scope), held by the
 * sync's control connection from start to commit: two syncs of one user never
 * interleave, syncs of different users never wait on each other.
 */
export function scopeKey (scope: Record<string, string | number>): string {
  return JSON.stringify(Object.fromEntries(Object.keys(scope).sort().map(k => [k, scope[k]])))
}

const TRY_LOCK = 'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok'

export async function acquireScopeLock (client: pg.ClientBase, table: string, scope: string,
  opts: { wait: boolean, timeoutMs: number, signal?: AbortSignal }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs
  let delay = 25
  for (;;) {
    if (opts.signal?.aborted === true) throw cancelledError('while waiting for the scope lock')
    const { rows } = await client.query<{ ok: boolean }>(TRY_LOCK, [table, scope])
    if (rows[0].ok) return
    if (!opts.wait) throw syncError('BRX_ERR_SCOPE_BUSY', [table, scope, 'lock: "fail" was chosen'], { table })
    if (Date.now() >= deadline) throw syncError('BRX_ERR_SCOPE_BUSY', [table, scope, `waited longer than lockTimeoutMs (${opts.timeoutMs} ms)`], { table })
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())))
    delay = Math.min(delay * 2, 500)
  }
}

export async function releaseScopeLock (client: pg.ClientBase, table: string, scope: string): Promise<void> {
  await client.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [table, scope])
}

export interface RunRow { id: string, dataset: string, scope: string, mode: string, staging: string, table: string, dryRun: boolean, jobId: string | null }

const INSERT_RUN = `INSERT INTO sync_runs (id, dataset, scope, mode, status, pid, host, staging_table, target_table, dry_run, job_id)
  VALUES ($1, $2, $3::jsonb, $4, 'running', $5, $6, $7, $8, $9, $10)`

const RESTART_RUN = `${INSERT_RUN}
  ON CONFLICT (id) DO UPDATE SET status = 'running', finished_at = NULL, error_code = NULL, error_message = NULL, heartbeat_at = now()
  WHERE sync_runs.status <> 'succeeded'`

/**
 * The run's row: inserted on the first attempt, set running again on a retry
 * (see restartRun).
 */
export async function startRun (client: pg.ClientBase, r: RunRow, attempt: number): Promise<void> {
  await writeRun(client, attempt > 1 ? RESTART_RUN : INSERT_RUN, r)
}

/**
 * A row that may exist or not: a retry's, or a light run's whose row rolled
 * back with its transaction (then it is inserted anew, to record the
 * failure). A succeeded row is never relabeled: a connection lost after
 * COMMIT is retried, not undone.
 */
export async function restartRun (client: pg.ClientBase, r: RunRow): Promise<void> {
  await writeRun(client, RESTART_RUN, r)
}

async function writeRun (client: pg.ClientBase, sql: string, r: RunRow): Promise<void> {
  try {
    await client.query(sql, [r.id, r.dataset, r.scope, r.mode, process.pid, os.hostname(), r.staging, r.table, r.dryRun, r.jobId])
  } catch (err) {
    throw fromPgError(err, 'Recording the run in sync_runs')
  }
}

/**
 * The report of a succeeded run of this job, if any. Asked before the input is opened and again
 * under the scope lock: a run of the job still going elsewhere holds that lock, so the second
 * answer cannot be overtaken by its commit.
 */
export async function succeededRunOfJob (client: pg.ClientBase, jobId: string): Promise<Record<string, unknown> | null> {
  const { rows } = await client.query<{ report: Record<string, unknown> }>(
    "SELECT report FROM sync_runs WHERE job_id = $1 AND status = 'succeeded' AND NOT dry_run ORDER BY finished_at DESC LIMIT 1", [jobId])
  return rows[0]?.report ?? null
}

/** Progress and heartbeat; best effort, by whoever has a connection free (never waited for). */
export async function recordProgress (db: pg.Pool | pg.ClientBase, id: string, progress: unknown): Promise<void> {
  await db.query('UPDATE sync_runs SET progress = $2::jsonb, heartbeat_at = now() WHERE id = $1', [id, JSON.stringify(progress)])
}

/** Inside the merge transaction, just before COMMIT: the run succeeds with the data or not at all. */
export async function succeedRun (client: pg.ClientBase, id: string, report: unknown, progress: unknown): Promise<void> {
  // clock_timestamp(), not now(): now() is when the merge transaction began.
  await client.query(
    "UPDATE sync_runs SET status = 'succeeded', finished_at = clock_timestamp(), heartbeat_at = clock_timestamp(), report = $2::jsonb, progress = $3::jsonb WHERE id = $1",
    [id, JSON.stringify(report), JSON.stringify(progress)])
}

export async function failRun (client: pg.ClientBase, id: string, err: SyncError): Promise<void> {
  const status = err.code === 'BRX_ERR_CANCELLED' ? 'cancelled' : 'failed'
  await client.query(
    // Only a run still running: a connection lost after COMMIT must not relabel a succeeded run.
    "UPDATE sync_runs SET status = $2, finished_at = now(), error_code = $3, error_message = $4 WHERE id = $1 AND status = 'running'",
    [id, status, err.code, redact(err.message)])
}

/**
 * Runs of this scope still marked running while we hold the scope lock can
 * only be dead (their process held the lock until it died): mark them failed
 * and drop their staging tables.
 */
export async function reapAbandoned (client: pg.ClientBase, dataset: string, scope: string, me: string): Promise<number> {
  const { rows } = await client.query<{ id: string, staging_table: string | null }>(
    "SELECT id, staging_table FROM sync_runs WHERE status = 'running' AND dataset = $1 AND scope = $2::jsonb AND id <> $3",
    [dataset, scope, me])
  for (const r of rows) {
    if (r.staging_table !== null) await dropStaging(client, r.staging_table)
    await client.query(
      "UPDATE sync_runs SET status = 'failed', finished_at = now(), error_code = 'BRX_ERR_ABANDONED', error_message = $2 WHERE id = $1 AND status = 'running'",
      [r.id, syncError('BRX_ERR_ABANDONED', ['a later sync of the same scope']).message])
  }
  return rows.length
}

/** Staging tables are named by brx-sync itself (brx_staging.s_<run id hex>); anything else is refused. */
export function stagingName (runId: string): string {
  return `brx_staging.s_${runId.replace(/-/g, '')}`
}

const STAGING = /^brx_staging\.s_[0-9a-f]{32}$/

export async function dropStaging (client: pg.ClientBase, name: string): Promise<void> {
  if (!STAGING.test(name)) return
  await client.query(`DROP TABLE IF EXISTS ${name}`)
}
