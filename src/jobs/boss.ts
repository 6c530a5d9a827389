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
  try {
    await boss.start()
    await ensureQueues(boss)
  } catch (err) {
    await boss.stop({ graceful: false }).catch(() => {})
    throw fromPgError(err, 'Starting the job queue (pg-boss)')
  }
  return boss
}

/** Idempotent: every process may call it; createQueue is a no-op for an existing queue. */
export async function ensureQueues (boss: PgBoss): Promise<void> {
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
