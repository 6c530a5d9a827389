import type PgBoss from 'pg-boss'

/**
 * Three statements on pg-boss 10's job table, pinned to that version
 * (package.json has it exact; test/jobs.test.ts exercises each one):
 *
 * - fetch: pg-boss 10's own fetch takes the oldest queued job even when its
 *   singleton key is already active; the unique index refuses it and the fetch
 *   returns nothing, so one busy seller blocks the whole queue
 *   (timgit/pg-boss#535, #610; fixed upstream only in versions needing Node 22).
 *   Ours takes, per key, only the oldest pending job, and only when no job of
 *   that key is active.
 * - heartbeat: pg-boss 10 has no heartbeat, only a fixed expiration. A worker
 *   extends `expire_in` of its running jobs every few seconds, so a short
 *   expiration finds a dead worker's job quickly however long a sync lasts.
 * - finalFailure: a job that must not be retried (bad input, bad options) has
 *   its retry limit set to the attempts made, so pg-boss's own `fail` moves it
 *   to `failed` and copies it, with the reason, to the dead-letter queue.
 */
export interface FetchedJob { id: string, data: unknown, retryCount: number, retryLimit: number, singletonKey: string | null }

export function fetchSql (schema: string): string {
  return `
    WITH next AS (
      SELECT j.id FROM ${schema}.job j
      WHERE j.name = $1 AND j.state < 'active' AND j.start_after < now()
        AND NOT EXISTS (
          SELECT 1 FROM ${schema}.job o
          WHERE o.name = $1 AND o.singleton_key = j.singleton_key AND o.id <> j.id
            AND (o.state = 'active' OR (o.state < 'active' AND (o.created_on, o.id) < (j.created_on, j.id))))
      ORDER BY j.priority DESC, j.created_on, j.id
      LIMIT 1
      FOR UPDATE SKIP LOCKED
    )
    UPDATE ${schema}.job j SET
      state = 'active',
      started_on = now(),
      retry_count = CASE WHEN started_on IS NOT NULL THEN retry_count + 1 ELSE retry_count END
    FROM next WHERE j.name = $1 AND j.id = next.id
    RETURNING j.id, j.data, j.retry_count AS "retryCount", j.retry_limit AS "retryLimit", j.singleton_key AS "singletonKey"`
}

export function heartbeatSql (schema: string): string {
  return `UPDATE ${schema}.job SET expire_in = (now() - started_on) + make_interval(secs => $3)
    WHERE name = $1 AND id = ANY($2::uuid[]) AND state = 'active'`
}

export function finalFailureSql (schema: string): string {
  return `UPDATE ${schema}.job SET retry_limit = retry_count WHERE name = $1 AND id = $2 AND state = 'active'`
}

export interface BossDb { executeSql: (text: string, values?: unknown[]) => Promise<{ rows: any[] }> }

export function bossDb (boss: PgBoss): BossDb {
  return boss.getDb() as unknown as BossDb
}

/** One job, or undefined. A race with another worker over the same key (23505) is "nothing this time". */
export async function fetchOne (db: BossDb, schema: string, queue: string): Promise<FetchedJob | undefined> {
  try {
    const { rows } = await db.executeSql(fetchSql(schema), [queue])
    return rows[0] as FetchedJob | undefined
  } catch (err) {
    if ((err as { code?: string }).code === '23505') return undefined
    throw err
  }
}
