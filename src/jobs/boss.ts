import { setTimeout as sleep } from 'node:timers/promises'
import PgBoss from 'pg-boss'
import type { Logger } from 'pino'
import { connectionFromEnv } from '../options'
import { fromPgError } from '../errors'
import { QUEUES, jobDefaults, type JobsConnection } from './config'

/**
 * One pg-boss instance per process, in the same PostgreSQL as the target
 * (schema `pgboss`). pg-boss creates and migrates its schema on start.
 * `supervise` runs its maintenance (expiring jobs whose worker stopped
 * extending them, archiving); `schedule` runs its cron.
 */
export async function startBoss (c: JobsConnection, o: { supervise: boolean, schedule: boolean, maintenanceSeconds?: number }): Promise<PgBoss> {
  // Processes starting together on a fresh database race to create the queues (PostgreSQL reports a deadlock
  // or a duplicate); the loser tries again shortly, when the queues exist.
  for (let attempt = 1; ; attempt++) {
    const boss = newBoss(c, o)
    try {
      await boss.start()
      await ensureQueues(boss)
      return boss
    } catch (err) {
      await boss.stop({ graceful: false }).catch(() => {})
      if (attempt >= 8 || !['40P01', '23505', '42P07', '42710'].includes((err as { code?: string }).code ?? '')) throw fromPgError(err, 'Starting the job queue (pg-boss)')
      await sleep(50 + Math.random() * 100 * attempt)
    }
  }
}

function newBoss (c: JobsConnection, o: { supervise: boolean, schedule: boolean, maintenanceSeconds?: number }): PgBoss {
  const boss = new PgBoss({
    connectionString: connectionFromEnv(c) ?? 'postgres://postgres@127.0.0.1:5432/test',
    application_name: 'brx-sync-jobs',
    schema: c.schema ?? jobDefaults.schema,
    max: c.bossPoolSize ?? jobDefaults.bossPoolSize,
    supervise: o.supervise,
    schedule: o.schedule,
    maintenanceIntervalSeconds: o.maintenanceSeconds ?? jobDefaults.maintenanceSeconds,
  })
  const logger: Logger | undefined = c.logger
  // pg-boss emits 'error' for failed maintenance or cron rounds; they are retried on the next round.
  boss.on('error', err => logger?.warn({ err: err.message }, 'pg-boss background error'))
  return boss
}

/** Idempotent: every process may call it; createQueue is a no-op for an existing queue. */
export async function ensureQueues (boss: PgBoss): Promise<void> {
  const existing = new Set((await boss.getQueues()).map(q => q.name))
  if ([QUEUES.dead, QUEUES.sync, QUEUES.large, QUEUES.tick].every(q => existing.has(q))) return
  await boss.createQueue(QUEUES.dead, { name: QUEUES.dead, retentionMinutes: jobDefaults.retentionDays * 24 * 60 })
  for (const name of [QUEUES.sync, QUEUES.large]) {
    await boss.createQueue(name, {
      name,
      policy: 'stately',
      retryLimit: jobDefaults.retryLimit,
      retryDelay: jobDefaults.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: jobDefaults.expireSeconds,
      deadLetter: QUEUES.dead,
      retentionMinutes: jobDefaults.retentionDays * 24 * 60,
    })
  }
  await boss.createQueue(QUEUES.tick, { name: QUEUES.tick, policy: 'singleton', retryLimit: 0 })
}

/** A pg-boss handle for a host that enqueues often: pass it as `boss` to enqueueSync; `stop()` it at exit. No maintenance or cron here (workers run those). */
export async function openJobQueue (c: JobsConnection = {}): Promise<PgBoss> {
  return await startBoss(c, { supervise: false, schedule: false })
}
