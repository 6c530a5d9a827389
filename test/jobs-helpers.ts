/**
 * Helpers of the job tests: worker processes tagged by application_name,
 * job states read from pg-boss's tables, and samplers that watch the
 * invariants (connections per worker, running jobs per seller) while the
 * workers run.
 */
import pg from 'pg'
import { PG_URL, spawnCli, waitFor, type Child } from './fault-helpers'

export const POOL = 4 // --pg-pool-size of every test worker
export const BOSS_POOL = 2 // jobDefaults.bossPoolSize

export interface WorkerProc extends Child { name: string, pid: number }

export function workerUrl (name: string): string {
  return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${name}`
}

export function spawnWorker (name: string, extra: string[] = []): WorkerProc {
  const c = spawnCli(['worker', '--concurrency', '2', '--pg-pool-size', String(POOL), '--workers', '1', '--no-mapping',
    '--database-url', workerUrl(name), '--log-level', 'info', ...extra])
  return { ...c, name, pid: c.child.pid as number }
}

export interface JobRow { id: string, name: string, state: string, retry_count: number, singleton_key: string | null, output: any, data: any }

export async function jobs (db: pg.Pool, ids?: string[]): Promise<JobRow[]> {
  const cols = 'id, name, state::text, retry_count, singleton_key, output, data'
  const where = ids === undefined ? '' : 'WHERE id = ANY($1::uuid[])'
  const { rows } = await db.query<JobRow>(`SELECT ${cols} FROM pgboss.job ${where} UNION ALL SELECT ${cols} FROM pgboss.archive ${where}`, ids === undefined ? [] : [ids])
  return rows
}

export async function waitJobsDone (db: pg.Pool, ids: string[], timeoutMs: number): Promise<JobRow[]> {
  return await waitFor('jobs to finish', async () => {
    const rows = await jobs(db, ids)
    return rows.length === ids.length && rows.every(r => r.state === 'completed' || r.state === 'failed') ? rows : undefined
  }, timeoutMs, 200)
}

/** Samples every `everyMs` until stopped; keeps the maxima. */
export class Sampler {
  readonly connections = new Map<string, number>()
  /** Per application, the connections seen when its count first passed `bound`. */
  readonly detail = new Map<string, string>()
  /** Connections one worker may hold; above it the sampler records what they are. */
  bound?: number
  maxActivePerKey = 0
  samples = 0
  private stopped = false
  private readonly done: Promise<void>

  constructor (private readonly db: pg.Pool, private readonly prefix: string, everyMs = 100) {
    this.done = this.loop(everyMs)
  }

  private async loop (everyMs: number): Promise<void> {
    while (!this.stopped) {
      const c = await this.db.query<{ app: string, n: number }>(
        'SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1 AND datname = current_database() GROUP BY 1', [`${this.prefix}%`])
      for (const r of c.rows) {
        if (r.n > (this.connections.get(r.app) ?? 0) && this.bound !== undefined && r.n > this.bound) {
          // What the extra connections are, for the failure message.
          const d = await this.db.query<{ line: string }>(
            "SELECT format('%s %s %s %s', pid, coalesce(state, '-'), backend_start::time(0), left(regexp_replace(query, '\\s+', ' ', 'g'), 70)) AS line FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() ORDER BY backend_start", [r.app])
          this.detail.set(r.app, d.rows.map(x => x.line).join(' | '))
        }
        this.connections.set(r.app, Math.max(this.connections.get(r.app) ?? 0, r.n))
      }
      const a = await this.db.query<{ n: number }>(
        "SELECT coalesce(max(n), 0)::int AS n FROM (SELECT count(*) AS n FROM pgboss.job WHERE state = 'active' AND name LIKE 'brx-sync%' GROUP BY singleton_key) x")
        .catch(() => ({ rows: [{ n: 0 }] }))
      this.maxActivePerKey = Math.max(this.maxActivePerKey, a.rows[0].n)
      this.samples++
      await new Promise(resolve => setTimeout(resolve, everyMs))
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.done
  }
}

/** Runs of one seller whose lifetimes overlap. An abandoned run ended at its last heartbeat (its process died). */
export async function overlappingRuns (db: pg.Pool, userId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string, s: Date, e: Date }>(
    `SELECT id, started_at AS s, CASE WHEN error_code = 'BRX_ERR_ABANDONED' THEN heartbeat_at ELSE finished_at END AS e
     FROM sync_runs WHERE scope = jsonb_build_object('user_id', $1::text) ORDER BY started_at`, [userId])
  const out: string[] = []
  for (let i = 1; i < rows.length; i++) if (rows[i - 1].e === null || rows[i - 1].e > rows[i].s) out.push(`${rows[i - 1].id} overlaps ${rows[i].id}`)
  return out
}

export async function resetQueue (db: pg.Pool): Promise<void> {
  await db.query('DROP SCHEMA IF EXISTS pgboss CASCADE')
}
