/**
 * Every failure brx-sync reports carries a stable `code`. Messages are full
 * sentences naming the file, row, table or option; the underlying error
 * (pg's DatabaseError, a mysql2 error, a worker crash) is kept as `cause`
 * together with the fields an operator needs (`pgCode`, `detail`, `constraint`).
 *
 * The table below is the single source of truth: the README documents every
 * code in it, and test/errors.test.ts checks both directions.
 */
export const ERROR_CODES = {
  BRX_ERR_OPTIONS_INVALID: { exit: 2, summary: 'An option is missing, has the wrong type, or is out of range.' },
  BRX_ERR_INPUT_UNREADABLE: { exit: 3, summary: 'The input file or stream cannot be opened or read (missing file, permission, corrupt gzip).' },
  BRX_ERR_INPUT_MALFORMED: { exit: 3, summary: 'The input as a whole is not a JSON array or NDJSON stream: empty, truncated, or broken structure. Nothing is written.' },
  BRX_ERR_DB_CONNECT: { exit: 4, summary: 'PostgreSQL cannot be reached or refused the connection.' },
  BRX_ERR_DB_SCHEMA: { exit: 4, summary: 'The target table or brx-sync\'s own tables are missing or do not match the dataset; run `brx-sync migrate`.' },
  BRX_ERR_DB_QUERY: { exit: 4, summary: 'PostgreSQL rejected a statement (after retries for transient errors). The transaction was rolled back.' },
  BRX_ERR_DB_TIMEOUT: { exit: 4, summary: 'A statement or lock wait exceeded its timeout (statement_timeout / lock_timeout). The transaction was rolled back.' },
  BRX_ERR_SCOPE_BUSY: { exit: 5, summary: 'Another sync holds the same scope (e.g. the same user) and `lock: "fail"` was chosen, or the wait exceeded `lockTimeoutMs`.' },
  BRX_ERR_WIPE_GUARD: { exit: 5, summary: 'Mirror mode would delete more than `maxDeleteRatio` of the scope\'s rows; nothing was changed. Pass `allowMassDelete` to proceed.' },
  BRX_ERR_CATALOG_UNAVAILABLE: { exit: 6, summary: 'The blueprint catalog (MySQL or catalog file) cannot be read before or during mapping. Nothing is written.' },
  BRX_ERR_CATALOG_TIMEOUT: { exit: 6, summary: 'A catalog lookup exceeded `mapping.lookupTimeoutMs`. Nothing is written.' },
  BRX_ERR_WORKER_FAILED: { exit: 7, summary: 'A worker thread crashed or returned something unexpected. Nothing is written.' },
  BRX_ERR_LOCAL_IO: { exit: 8, summary: 'A local file brx-sync writes (the rejects file, the duplicate spill file in the temp directory) cannot be written. Nothing is written to the target.' },
  BRX_ERR_SOURCE_AUTH: { exit: 9, summary: 'CardTrader rejected the token (HTTP 401/403). The token is never printed. Nothing is written.' },
  BRX_ERR_SOURCE_REQUEST: { exit: 9, summary: 'CardTrader refused the request (HTTP 404, 422 or another 4xx); `detail` holds its `error_code`, the message its text. Nothing is written.' },
  BRX_ERR_SOURCE_UNAVAILABLE: { exit: 9, summary: 'CardTrader kept answering 429 or 5xx, or could not be reached or timed out, until the retries (attempts and time) ran out. Nothing is written.' },
  BRX_ERR_SOURCE_NOT_JSON: { exit: 9, summary: 'CardTrader (or a proxy in front of it) answered with HTML or another non-JSON body instead of an export. Nothing is written.' },
  BRX_ERR_SOURCE_INTERRUPTED: { exit: 9, summary: 'The export broke mid-body (reset, truncated, idle timeout, no closing bracket); the whole fetch was restarted until the sync\'s retries ran out. Nothing is written or deleted.' },
  BRX_ERR_CANCELLED: { exit: 130, summary: 'The sync was cancelled (AbortSignal, SIGINT or SIGTERM). COPY aborted, transaction rolled back, staging dropped.' },
  BRX_ERR_ABANDONED: { exit: 70, summary: 'Stored in sync_runs.error_code, never thrown: a run found still "running" whose process died (its scope lock was free). The next sync of the scope marks it failed and drops its staging table.' },
  BRX_ERR_INTERNAL: { exit: 70, summary: 'A bug in brx-sync. Please report it with the log.' },
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export interface SyncErrorFields {
  cause?: unknown
  /** PostgreSQL SQLSTATE, MySQL errno string, or Node system code of the cause. */
  pgCode?: string
  detail?: string
  constraint?: string
  table?: string
  file?: string
  row?: number
  option?: string
}

export class SyncError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number
  readonly pgCode?: string
  readonly detail?: string
  readonly constraint?: string
  readonly table?: string
  readonly file?: string
  readonly row?: number
  readonly option?: string

  constructor (code: ErrorCode, message: string, fields: SyncErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause })
    this.name = 'SyncError'
    this.code = code
    this.exitCode = ERROR_CODES[code].exit
    const c = fields.cause as { code?: unknown, detail?: unknown, constraint?: unknown, table?: unknown } | undefined
    this.pgCode = fields.pgCode ?? (typeof c?.code === 'string' ? c.code : undefined)
    this.detail = fields.detail ?? (typeof c?.detail === 'string' ? c.detail : undefined)
    this.constraint = fields.constraint ?? (typeof c?.constraint === 'string' ? c.constraint : undefined)
    this.table = fields.table ?? (typeof c?.table === 'string' ? c.table : undefined)
    this.file = fields.file
    this.row = fields.row
    this.option = fields.option
  }

  toJSON (): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      pgCode: this.pgCode,
      detail: this.detail,
      constraint: this.constraint,
      table: this.table,
      file: this.file,
      row: this.row,
      option: this.option,
    }
  }
}


/** PostgreSQL SQLSTATEs (and socket errors) worth retrying with backoff. */
const TRANSIENT_PG = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', '08003', '08006', '08001', '08004', // connection exceptions
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT',
])

export function isTransient (err: unknown): boolean {
  const e = err as { code?: unknown, pgCode?: unknown, cause?: unknown, message?: unknown }
  if (e == null) return false
  if (err instanceof SyncError && err.code.startsWith('BRX_ERR_SOURCE_')) return err.code === 'BRX_ERR_SOURCE_INTERRUPTED'
  const code = typeof e.pgCode === 'string' ? e.pgCode : typeof e.code === 'string' ? e.code : undefined
  if (code !== undefined && TRANSIENT_PG.has(code)) return true
  if (typeof e.message === 'string' && /Connection terminated|terminating connection|not queryable|Connection ended/i.test(e.message)) return true
  if (e.cause !== undefined && e.cause !== err) return isTransient(e.cause)
  return false
}

/** Node socket errors: the database is unreachable (ENOENT and friends are local files, not the database). */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/** Wraps a pg error into a SyncError with the right code, keeping SQLSTATE, detail and constraint. */
export function fromPgError (err: unknown, what: string): SyncError {
  if (err instanceof SyncError) return err
  const e = err as { code?: string, message?: string }
  const code = e?.code
  let kind: ErrorCode = 'BRX_ERR_DB_QUERY'
  if (code === '57014' || code === '55P03') kind = 'BRX_ERR_DB_TIMEOUT'
  else if (code === '42P01' || code === '42703' || code === '3F000') kind = 'BRX_ERR_DB_SCHEMA'
  else if (code !== undefined && (code.startsWith('08') || code.startsWith('57P') || code.startsWith('28') || code === '3D000' || SOCKET_CODES.has(code))) kind = 'BRX_ERR_DB_CONNECT'
  else if (typeof e?.message === 'string' && /Connection terminated|not queryable|Connection ended/i.test(e.message)) kind = 'BRX_ERR_DB_CONNECT'
  return new SyncError(kind, `${what} failed: ${redact(e?.message ?? String(err))}`, { cause: err })
}

/** Removes passwords from connection strings and `password=` fragments. */
export function redact (text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s]*@/gi, '$1***@')
    .replace(/(password\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi, '$1***')
}
