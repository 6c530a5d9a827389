import type PgBoss from 'pg-boss'
import { optionError } from '../errors'
import { QUEUES, type JobsConnection } from './config'
import { bossDb } from './boss-sql'
import { startBoss } from './boss'
import { jobKey, checkJobData, type SyncJobData } from './job-data'
import type { EnqueueOptions } from './enqueue'

/**
 * Recurring syncs. pg-boss 10 keeps one cron schedule per queue name, so a
 * schedule per seller would need a queue per seller. Instead one pg-boss
 * cron (`brx-sync-tick`, every minute; pg-boss sends it once across all
 * hosts) wakes a worker, which enqueues every schedule whose time has come
 * from a small table next to pg-boss's. Claiming a schedule is one UPDATE, so
 * two workers never enqueue the same one twice; the stately queue dedupes
 * anyway.
 */
function scheduleTable (schema: string): string {
  return `${schema}.brx_sync_schedules`
}

async function ensureTable (boss: PgBoss, schema: string): Promise<void> {
  await bossDb(boss).executeSql(`CREATE TABLE IF NOT EXISTS ${scheduleTable(schema)} (
    key text PRIMARY KEY, data jsonb NOT NULL, every_seconds integer NOT NULL CHECK (every_seconds >= 60),
    next_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
}

/** '15m', '1h', '1d', '90s' → seconds. Whole minutes only: the cron ticks once a minute. */
export function parseEvery (every: string): number {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(every.trim())
  const seconds = m === null ? NaN : Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd']
  if (!(seconds >= 60) || seconds % 60 !== 0) throw optionError('every', `must be whole minutes like "15m", "1h" or "1d", got "${every}".`)
  return seconds
}

export interface ScheduleOptions extends Omit<EnqueueOptions, 'startAfter' | 'boss'> { every: string }

/** Creates or replaces the scope's schedule; its first sync is enqueued at the next tick. */
export async function scheduleSync (o: ScheduleOptions & JobsConnection): Promise<{ key: string, everySeconds: number }> {
  const everySeconds = parseEvery(o.every)
  const scope = o.scope ?? (o.userId !== undefined ? { user_id: o.userId } : undefined)
  const data: SyncJobData = checkJobData({ v: 1, scope, dataset: o.dataset ?? 'cardtrader-inventory', input: o.input, source: o.source, mode: o.mode })
  const key = jobKey(data)
  const schema = o.schema ?? 'pgboss'
  const boss = await startBoss(o, { supervise: false, schedule: false })
  try {
    await ensureTable(boss, schema)
    await bossDb(boss).executeSql(`INSERT INTO ${scheduleTable(schema)} (key, data, every_seconds, next_at) VALUES ($1, $2, $3, now())
      ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, every_seconds = EXCLUDED.every_seconds, next_at = now()`, [key, data, everySeconds])
    await boss.schedule(QUEUES.tick, '* * * * *', {}, { singletonKey: 'tick' })
    return { key, everySeconds }
  } finally {
    await boss.stop({ graceful: false })
  }
}

export async function unscheduleSync (o: { userId?: string, scope?: Record<string, string | number>, dataset?: string } & JobsConnection): Promise<boolean> {
  const key = jobKey({ dataset: o.dataset ?? 'cardtrader-inventory', scope: o.scope ?? { user_id: o.userId ?? '' } })
  const schema = o.schema ?? 'pgboss'
  const boss = await startBoss(o, { supervise: false, schedule: false })
  try {
    await ensureTable(boss, schema)
    const { rows } = await bossDb(boss).executeSql(`DELETE FROM ${scheduleTable(schema)} WHERE key = $1 RETURNING key`, [key])
    return rows.length > 0
  } finally {
    await boss.stop({ graceful: false })
  }
}

/** Claims the due schedules (next_at moves forward in the same statement) and enqueues one sync each. */
export async function runDueSchedules (boss: PgBoss, schema: string): Promise<number> {
  await ensureTable(boss, schema)
  const { rows } = await bossDb(boss).executeSql(`UPDATE ${scheduleTable(schema)}
    SET next_at = now() + every_seconds * interval '1 second' WHERE next_at <= now() + interval '5 seconds' RETURNING key, data`)
  for (const r of rows as Array<{ key: string, data: SyncJobData }>) {
    await boss.send(QUEUES.sync, r.data, { singletonKey: r.key })
  }
  return rows.length
}
