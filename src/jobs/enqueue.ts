import { stat } from 'node:fs/promises'
import path from 'node:path'
import type PgBoss from 'pg-boss'
import { fromPgError } from '../errors'
import { QUEUES, jobDefaults, type JobsConnection, type WorkQueue } from './config'
import { startBoss } from './boss'
import { checkJobData, jobKey, type JobSyncOptions, type SyncJobData } from './job-data'
import type { SyncMode } from '../dataset/types'

export interface EnqueueOptions extends JobSyncOptions {
  userId?: string
  scope?: Record<string, string | number>
  dataset?: string
  /** A file path every worker host can read. */
  input?: string
  /** A live source: the job stores the token reference only. */
  source?: { kind: string, tokenRef: string }
  /** Default: the dataset's own mode (mirror for the inventory). */
  mode?: SyncMode
  /** Force the large (capped) queue, or keep it off; default: by input size. */
  large?: boolean
  /** Delay the first attempt. */
  startAfter?: Date | number
  /** Enqueue through this pg-boss (a host that keeps one); else one is started and stopped for this call. */
  boss?: PgBoss
}

export interface Enqueued {
  /** The job id, or null when a job of this scope is already queued (stately: it will run with the newest input it reads). */
  jobId: string | null
  queue: WorkQueue
  key: string
}

function toJobData (o: EnqueueOptions): SyncJobData {
  const scope = o.scope ?? (o.userId !== undefined ? { user_id: o.userId } : undefined)
  const { format, gzip, rejectsFile, maxDeleteRatio, allowMassDelete, lockTimeoutMs, statementTimeoutMs } = o
  const options = Object.fromEntries(Object.entries({ format, gzip, rejectsFile, maxDeleteRatio, allowMassDelete, lockTimeoutMs, statementTimeoutMs }).filter(([, v]) => v !== undefined))
  return checkJobData({
    v: 1,
    scope,
    dataset: o.dataset ?? 'cardtrader-inventory',
    // Workers run elsewhere: a relative path means the enqueuer's directory.
    input: o.input === undefined || o.input === '-' || o.input === '' ? o.input : path.resolve(o.input),
    source: o.source,
    mode: o.mode,
    options: Object.keys(options).length > 0 ? options : undefined,
  })
}

async function pickQueue (d: SyncJobData, large: boolean | undefined): Promise<WorkQueue> {
  if (large !== undefined) return large ? QUEUES.large : QUEUES.sync
  if (d.input === undefined) return QUEUES.sync
  // A missing file is the worker's to report (it may be written before the job runs).
  const size = await stat(d.input).then(s => s.size, () => 0)
  return size >= jobDefaults.largeInputBytes ? QUEUES.large : QUEUES.sync
}

/**
 * Queue one sync. The options are checked here (a bad one throws
 * BRX_ERR_OPTIONS_INVALID at once, nothing is queued); the input itself is
 * read by the worker that takes the job.
 */
export async function enqueueSync (o: EnqueueOptions & JobsConnection): Promise<Enqueued> {
  const data = toJobData(o)
  const queue = await pickQueue(data, o.large)
  const key = jobKey(data)
  const boss = o.boss ?? await startBoss(o, { supervise: false, schedule: false })
  try {
    const jobId = await boss.send(queue, data as unknown as object, { singletonKey: key, startAfter: o.startAfter })
    return { jobId, queue, key }
  } catch (err) {
    throw fromPgError(err, `Queueing the sync of ${key}`)
  } finally {
    if (o.boss === undefined) await boss.stop({ graceful: false })
  }
}
