import type { Preview } from '../merge/changes'

/** What a sync returns and stores in `sync_runs.report`. Every input row is accounted for:
 *  read = valid + rejected
 *  valid = written + duplicates + unmapped + excluded
 *  written = inserted + updated + unchanged + existing
 *  (existing: insert-new mode's staged keys already present, left as they were) */
export interface RowCounts {
  read: number
  valid: number
  rejected: number
  duplicates: number
  unmapped: number
  excluded: number
  written: number
  inserted: number
  updated: number
  unchanged: number
  deleted: number
  existing: number
}

export interface MappingReport {
  source: 'none' | 'file' | 'mysql'
  mapped: number
  unmapped: number
  excluded: number
  /** Blueprint ids resolved, summed over partitions (each partition asks once per distinct id). */
  lookups: number
  cacheHits: number
  cacheMisses: number
  roundTrips: number
  rowsFetched: number
  lookupMs: number
}

export interface SyncReport {
  runId: string
  dataset: string
  mode: 'mirror' | 'upsert' | 'insert-new'
  scope: Record<string, string | number>
  status: 'succeeded'
  rows: RowCounts
  /** Rejections by reason (stable reason codes, see README "Reject reasons"). */
  rejectReasons: Record<string, number>
  rejectsFile: string | null
  mapping: MappingReport
  bytesRead: number
  partitions: number
  /** Wall-clock milliseconds per phase. `load` = read + transform + COPY, which overlap. */
  phases: { lock: number, load: number, merge: number, total: number }
  /** Milliseconds workers spent transforming partitions (wall time, summed over threads). */
  workerBusyMs: number
  rowsPerSecond: number
  fastPath: boolean
  /** How the re-sync found its changes: in the engine (only changed rows staged) or in the database (every row staged). */
  diff: 'engine' | 'database'
  attempts: number
  /** True when nothing was committed: the counts are what a real sync would do. */
  dryRun: boolean
  /** Dry run only: the mass-delete guard's verdict and up to 10 keys of each kind of change. */
  preview?: Preview
  /** The changes file, when one was asked for (complete: it appears only after COMMIT). */
  changesFile?: string | null
  /**
   * Set when `jobId` named a job whose sync had already committed (run `runId`, whose stored
   * report this is): this call read and wrote nothing.
   */
  alreadySucceeded?: true
}

export interface Progress {
  runId: string
  phase: 'load' | 'merge' | 'done'
  rowsRead: number
  rowsWritten: number
  bytesRead: number
  /** Input size in bytes when known (a file), else null. */
  bytesTotal: number | null
  /** 0..100 when the input size is known, else null. */
  percent: number | null
}

export interface Reject {
  /** 1-based ordinal of the record in the input. */
  row: number
  /** Byte offset of the record in the (decompressed) input. */
  offset: number
  /** Stable reason code. */
  reason: string
  message: string
  /** The raw record: parsed JSON when it parsed, else the raw text (truncated to 64 KiB).
   *  On its way from a worker to the rejects file it is that value already serialized as JSON text. */
  record: unknown
}
