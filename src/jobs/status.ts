import type pg from 'pg'
import pino from 'pino'
import { openPool } from '../db/connections'
import { connectionFromEnv, defaults } from '../options'
import { fromPgError } from '../errors'
import type { JobsConnection } from './config'

/**
 * A job's life in one query: pg-boss's state (created → active → completed /
 * retry / failed), attempts, the output (the run id and row counts, or the
 * error code and message), and the engine's sync_runs row with its progress:
 * the one named in the output, or the scope's running run while active.
 */
export interface JobStatus {
  id: string
  queue: string
  state: 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed'
  attempts: number
  createdOn: Date
  startedOn: Date | null
  completedOn: Date | null
  output: Record<string, unknown> | null
  run: { id: string, status: string, progress: unknown, error_code: string | null, started_at: Date, finished_at: Date | null } | null
}

const JOB_SQL = (schema: string): string => `
  SELECT id, name AS queue, state, retry_count + 1 AS attempts, created_on AS "createdOn", started_on AS "startedOn",
         completed_on AS "completedOn", output, data
  FROM (SELECT id, name, state, retry_count, created_on, started_on, completed_on, output, data FROM ${schema}.job WHERE id = $1
        UNION ALL
        SELECT id, name, state, retry_count, created_on, started_on, completed_on, output, data FROM ${schema}.archive WHERE id = $1) j
  LIMIT 1`

const RUN_BY_ID = 'SELECT id, status, progress, error_code, started_at, finished_at FROM sync_runs WHERE id = $1'
const RUN_OF_SCOPE = "SELECT id, status, progress, error_code, started_at, finished_at FROM sync_runs WHERE scope = $1::jsonb AND dataset = $2 AND status = 'running' ORDER BY started_at DESC LIMIT 1"

export async function jobStatus (jobId: string, c: JobsConnection & { pgPool?: pg.Pool } = {}): Promise<JobStatus | null> {
  const pool = openPool({ pool: c.pgPool ?? null, connectionString: connectionFromEnv(c), max: 1, logger: c.logger ?? pino({ level: 'silent' }), connectTimeoutMs: defaults.pgConnectTimeoutMs, queryTimeoutMs: defaults.pgQueryTimeoutMs })
  try {
    const { rows } = await pool.query(JOB_SQL(c.schema ?? 'pgboss'), [jobId])
    if (rows.length === 0) return null
    const { data, ...job } = rows[0]
    const runId = typeof job.output?.runId === 'string' ? job.output.runId : undefined
    const run = runId !== undefined
      ? (await pool.query(RUN_BY_ID, [runId])).rows[0]
      : job.state === 'active' ? (await pool.query(RUN_OF_SCOPE, [JSON.stringify(data.scope), data.dataset])).rows[0] : undefined
    return { ...job, run: run ?? null }
  } catch (err) {
    throw fromPgError(err, `Reading job ${jobId}`)
  } finally {
    if (c.pgPool === undefined) await pool.end()
  }
}
