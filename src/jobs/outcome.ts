import { SyncError, type ErrorCode } from '../errors'

/**
 * Which failures a job retries. Transient: the database or catalog was
 * unreachable or slow, the scope was busy, a worker thread died, the worker
 * process shut down mid-sync. Everything about the job itself (its input, its
 * options, its dataset, the schema, a missing token, the wipe guard) fails
 * the same way on every host: no retry, straight to the dead-letter queue.
 * An unknown code (a newer engine's) is retried: the retry limit bounds it.
 */
const FINAL: ReadonlySet<string> = new Set<ErrorCode>([
  'BRX_ERR_OPTIONS_INVALID',
  'BRX_ERR_INPUT_UNREADABLE',
  'BRX_ERR_INPUT_MALFORMED',
  'BRX_ERR_DB_SCHEMA',
  'BRX_ERR_WIPE_GUARD',
])

/** Codes of other sources (an HTTP source's authentication errors) that must not be retried either. */
const FINAL_PATTERN = /AUTH|FORBIDDEN|UNAUTHORIZED/

export interface JobFailure {
  code: string
  message: string
  retryable: boolean
  runId?: string
}

export function toFailure (err: unknown, runId: string | undefined): JobFailure {
  const code = err instanceof SyncError || typeof (err as { code?: unknown })?.code === 'string'
    ? String((err as { code: string }).code)
    : 'BRX_ERR_INTERNAL'
  const message = err instanceof Error ? err.message : String(err)
  return { code, message, retryable: !FINAL.has(code) && !FINAL_PATTERN.test(code), runId }
}
