import { setTimeout as sleep } from 'node:timers/promises'
import type PgBoss from 'pg-boss'
import pino, { type Logger } from 'pino'
import { createEngine, type Engine } from '../engine'
import type { SyncOptions } from '../options'
import type { SyncReport } from '../report/types'
import { QUEUES, fillWorkerOptions, type FilledWorkerOptions, type WorkQueue, type WorkerOptions } from './config'
import { startBoss } from './boss'
import { bossDb, fetchOne, finalFailureSql, heartbeatSql, type BossDb, type FetchedJob } from './boss-sql'
import { checkJobData, type SyncJobData } from './job-data'
import { toFailure, type JobFailure } from './outcome'
import { envTokenProvider } from './tokens'
import { runDueSchedules } from './schedule'

/**
 * A long-running consumer of sync jobs:
 *
 *   pg-boss queue (PostgreSQL)                      this process
 *   brx-sync ───────┐  fetch one job per free slot   ┌──────────────┐
 *   brx-sync-large ─┴─(large: at most L slots)─────▶ │ slots (N)    │── engine.sync() ──▶ target
 *        ▲                                          │ heartbeat    │   one engine: bounded pools
 *        └── complete / fail (retry | dead letter) ─┴──────────────┘
 *
 * Any number of these run on any number of hosts; they share only
 * PostgreSQL. A job of a seller never runs twice at once: stately queues
 * keyed by scope, a fetch that skips keys already running, and the engine's
 * advisory scope lock (taken with lock: 'fail', so a busy scope frees the
 * slot and retries later instead of waiting in it).
 */
interface Slot { queue: WorkQueue, job: FetchedJob, controller: AbortController, runId?: string, done: Promise<void> }

export interface WorkerStats { running: number, runningLarge: number, succeeded: number, failed: number, retried: number }

export class SyncWorker {
  private readonly slots = new Map<string, Slot>()
  private readonly counts = { succeeded: 0, failed: 0, retried: 0 }
  private readonly logger: Logger
  private readonly db: BossDb
  private stopping = false
  private wake: (() => void) | undefined
  private heartbeatTimer: NodeJS.Timeout | undefined
  private loopDone: Promise<void> = Promise.resolve()
  private stopped: Promise<void> | undefined

  private constructor (private readonly o: FilledWorkerOptions, private readonly boss: PgBoss, private readonly engine: Engine) {
    this.logger = o.logger ?? pino({ level: 'silent' })
    this.db = bossDb(boss)
  }

  static async start (options: WorkerOptions = {}): Promise<SyncWorker> {
    const o = fillWorkerOptions(options)
    // Engine-level options (pools, threads, mapping, the connection) go here, once; engine.sync() gets only per-sync ones.
    // The engine first: bad engine options must fail before pg-boss starts its pool and timers (which would keep the process alive).
    const engine = createEngine({ ...o.engine, databaseUrl: o.engine?.databaseUrl ?? o.databaseUrl, logger: o.engine?.logger ?? o.logger })
    let boss: PgBoss
    try {
      boss = await startBoss(o, { supervise: true, schedule: true, maintenanceSeconds: o.maintenanceSeconds })
    } catch (err) {
      await engine.close()
      throw err
    }
    const w = new SyncWorker(o, boss, engine)
    w.heartbeatTimer = setInterval(() => { void w.heartbeat() }, o.heartbeatSeconds * 1000)
    w.loopDone = w.loop()
    w.logger.info({ concurrency: o.concurrency, largeConcurrency: o.largeConcurrency }, 'worker started')
    return w
  }

  stats (): WorkerStats {
    const runningLarge = [...this.slots.values()].filter(s => s.queue === QUEUES.large).length
    return { running: this.slots.size, runningLarge, ...this.counts }
  }

  private async loop (): Promise<void> {
    while (!this.stopping) {
      try {
        await this.fill()
        await this.tick()
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'fetching jobs failed; retrying')
      }
      if (this.stopping) break
      await new Promise<void>(resolve => {
        this.wake = resolve
        setTimeout(resolve, this.o.pollIntervalMs).unref()
      })
      this.wake = undefined
    }
  }

  /** Large jobs first while their cap allows, so they progress; the other slots take the normal queue. */
  private async fill (): Promise<void> {
    while (!this.stopping && this.slots.size < this.o.concurrency) {
      const queues: WorkQueue[] = this.stats().runningLarge < this.o.largeConcurrency ? [QUEUES.large, QUEUES.sync] : [QUEUES.sync]
      let job: FetchedJob | undefined
      let queue: WorkQueue = QUEUES.sync
      for (queue of queues) {
        job = await fetchOne(this.db, this.o.schema, queue)
        if (job !== undefined) break
      }
      if (job === undefined || this.stopping) {
        if (job !== undefined) await this.boss.fail(queue, job.id, { code: 'BRX_ERR_CANCELLED', message: 'The worker stopped before starting the job.', retryable: true })
        return
      }
      this.begin(queue, job)
    }
  }

  /** The cron tick (pg-boss schedule, once a minute across all hosts) fans out the due schedules. */
  private async tick (): Promise<void> {
    const [t] = await this.boss.fetch(QUEUES.tick)
    if (t === undefined) return
    const n = await runDueSchedules(this.boss, this.o.schema)
    await this.boss.complete(QUEUES.tick, t.id, { enqueued: n })
    if (n > 0) this.logger.info({ enqueued: n }, 'scheduled syncs enqueued')
  }

  private begin (queue: WorkQueue, job: FetchedJob): void {
    const controller = new AbortController()
    const slot: Slot = { queue, job, controller, done: Promise.resolve() }
    this.slots.set(job.id, slot)
    slot.done = this.run(slot).finally(() => {
      this.slots.delete(job.id)
      this.wake?.()
    })
  }

  private async run (slot: Slot): Promise<void> {
    const { job, queue } = slot
    const log = this.logger.child({ job: job.id, queue, key: job.singletonKey, attempt: job.retryCount + 1 })
    log.info('job running')
    try {
      const data = checkJobData(job.data)
      const options = await this.syncOptions(data, slot, log)
      const report = await this.engine.sync({ ...options, jobId: job.id })
      await this.boss.complete(queue, job.id, summary(report))
      this.counts.succeeded++
      log.info({ runId: report.runId, rows: report.rows.read, ms: report.phases.total }, 'job succeeded')
    } catch (err) {
      await this.failJob(slot, toFailure(err, slot.runId), log)
    }
  }

  private async syncOptions (d: SyncJobData, slot: Slot, log: Logger): Promise<SyncOptions> {
    const base: Record<string, unknown> = {
      ...d.options,
      scope: d.scope,
      dataset: d.dataset,
      mode: d.mode,
      // A busy scope (a sync outside the queue) frees the slot and retries with backoff instead of waiting in it.
      lock: 'fail',
      signal: slot.controller.signal,
      onProgress: (p: { runId: string }) => {
        if (slot.runId === undefined) log.info({ runId: p.runId }, 'sync run started')
        slot.runId = p.runId
      },
    }
    if (d.input !== undefined) return { ...base, input: d.input } as unknown as SyncOptions
    const src = d.source as { kind: string, tokenRef: string }
    const token = await (this.o.tokenProvider ?? envTokenProvider)(src.tokenRef, { id: slot.job.id, scope: d.scope })
    // The live source's option shape: { source: { <kind>: { token } } }; the token lives only in this call.
    return { ...base, source: { [src.kind]: { token } } } as unknown as SyncOptions
  }

  private async failJob (slot: Slot, f: JobFailure, log: Logger): Promise<void> {
    const { job, queue } = slot
    const retries = f.retryable && job.retryCount < job.retryLimit
    try {
      if (!f.retryable) await this.db.executeSql(finalFailureSql(this.o.schema), [queue, job.id])
      await this.boss.fail(queue, job.id, { ...f })
    } catch (err) {
      // The job stays active until it expires; pg-boss then retries it.
      log.warn({ err: (err as Error).message }, 'recording the job failure failed')
    }
    if (retries) this.counts.retried++
    else this.counts.failed++
    log[retries ? 'warn' : 'error']({ code: f.code, runId: f.runId, retry: retries, err: f.message }, retries ? 'job failed; will be retried' : 'job failed; sent to the dead-letter queue')
  }

  private async heartbeat (): Promise<void> {
    for (const queue of [QUEUES.sync, QUEUES.large]) {
      const ids = [...this.slots.values()].filter(s => s.queue === queue).map(s => s.job.id)
      if (ids.length === 0) continue
      await this.db.executeSql(heartbeatSql(this.o.schema), [queue, ids, this.o.expireSeconds])
        .catch(err => this.logger.warn({ err: (err as Error).message }, 'job heartbeat failed'))
    }
  }

  /**
   * Stop taking jobs; running syncs get shutdownTimeoutMs to finish, then are
   * cancelled (COPY aborted, rolled back, staging dropped) and their jobs failed
   * as retryable, so another worker takes them. Resolves when all is closed.
   */
  async stop (): Promise<void> {
    this.stopped ??= this.shutdown()
    return await this.stopped
  }

  private async shutdown (): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.loopDone
    const running = [...this.slots.values()].map(s => s.done)
    this.logger.info({ running: running.length, timeoutMs: this.o.shutdownTimeoutMs }, 'worker stopping')
    // Cancelling, rolling back and closing take a moment (100-200 ms measured here): keep a quarter of the
    // deadline for them, at least 250 ms (a short deadline's quarter is less than that) and at most 5 s.
    const t = this.o.shutdownTimeoutMs
    const reserve = Math.min(5000, t, Math.max(250, Math.floor(t / 4)))
    const deadline = sleep(t - reserve, 'timeout', { ref: false })
    if (await Promise.race([Promise.all(running).then(() => 'done'), deadline]) === 'timeout') {
      for (const s of this.slots.values()) s.controller.abort(new Error('worker shutting down'))
      await Promise.all(running)
    }
    clearInterval(this.heartbeatTimer)
    await this.boss.stop({ graceful: false })
    await this.engine.close()
    this.logger.info(this.stats(), 'worker stopped')
  }
}

/** The job's output: enough to find the run in sync_runs and see what it did. */
function summary (r: SyncReport): Record<string, unknown> {
  return { runId: r.runId, rows: r.rows, ms: r.phases.total, fastPath: r.fastPath, ...(r.alreadySucceeded === true ? { alreadySucceeded: true } : {}) }
}

export async function startWorker (options: WorkerOptions = {}): Promise<SyncWorker> {
  return await SyncWorker.start(options)
}
