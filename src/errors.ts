/**
 * Every failure brx-sync reports carries a stable `code`. Messages are full
 * sentences naming the file, row, table or option; the underlying error
 * (pg's DatabaseError, a mysql2 error, a worker crash) is kept as `cause`
 * together with the fields an operator needs (`pgCode`, `detail`, `constraint`).
 *
 * The table below is the single source of truth (fastify's lib/errors.js is
 * the model): each code once, with its CLI exit code and its message
 * template, `%s` filled in order by `syncError(code, args)`. The README
 * documents every code and test/errors.test.ts checks both directions.
 * To add a code: one line here, one row in the README's "Error codes".
 */
export const ERROR_CODES = {
  BRX_ERR_OPTIONS_INVALID: { exit: 2, message: 'options.%s %s' },
  BRX_ERR_INPUT_UNREADABLE: { exit: 3, message: 'Input %s cannot be read: %s.' },
  BRX_ERR_INPUT_MALFORMED: { exit: 3, message: 'Input %s %s.' },
  BRX_ERR_DB_CONNECT: { exit: 4, message: '%s failed: %s' },
  BRX_ERR_DB_SCHEMA: { exit: 4, message: 'PostgreSQL is missing %s; run `brx-sync migrate` first.' },
  BRX_ERR_DB_QUERY: { exit: 4, message: '%s failed: %s' },
  BRX_ERR_DB_TIMEOUT: { exit: 4, message: '%s failed: %s' },
  BRX_ERR_CITUS_LAYOUT: { exit: 4, message: 'The Citus layout of %s does not fit brx-sync: %s.' },
  BRX_ERR_SCOPE_BUSY: { exit: 5, message: 'Another sync of %s holds the scope %s: %s.' },
  BRX_ERR_WIPE_GUARD: { exit: 5, message: 'Mirror would delete %s; nothing was changed.' },
  BRX_ERR_CATALOG_UNAVAILABLE: { exit: 6, message: 'The catalog %s cannot be read: %s.' },
  BRX_ERR_CATALOG_TIMEOUT: { exit: 6, message: 'A catalog lookup took longer than %s ms.' },
  BRX_ERR_WORKER_FAILED: { exit: 7, message: 'A worker failed on the partition starting at record %s (byte %s): %s' },
  BRX_ERR_LOCAL_IO: { exit: 8, message: 'The %s %s cannot be written: %s.' },
  BRX_ERR_SOURCE_AUTH: { exit: 9, message: 'CardTrader rejected the token (HTTP %s on GET %s); check CARDTRADER_TOKEN or the token file.' },
  BRX_ERR_SOURCE_REQUEST: { exit: 9, message: 'CardTrader refused GET %s (HTTP %s): %s.' },
  BRX_ERR_SOURCE_UNAVAILABLE: { exit: 9, message: 'CardTrader GET %s failed after %s attempt(s): %s.' },
  BRX_ERR_SOURCE_NOT_JSON: { exit: 9, message: 'CardTrader %s is not JSON: %s.' },
  BRX_ERR_SOURCE_INTERRUPTED: { exit: 9, message: 'The CardTrader export (%s) broke before its end: %s.' },
  BRX_ERR_CANCELLED: { exit: 130, message: 'The sync was cancelled%s.' },
  BRX_ERR_ABANDONED: { exit: 70, message: 'The process running this sync died; found by %s.' },
  BRX_ERR_INTERNAL: { exit: 70, message: 'Unexpected failure: %s' },
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export interface SyncErrorFields {
  cause?: unknown
  /** PostgreSQL SQLSTATE of the cause (five characters), and nothing else. */
  pgCode?: string
  /** Any other code of the cause: a Node system error (ENOENT, ECONNRESET) or a MySQL driver code. */
  sysCode?: string
  detail?: string
  constraint?: string
  table?: string
  file?: string
  row?: number
  option?: string
}

const SQLSTATE = /^[0-9A-Z]{5}$/

export class SyncError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number
  readonly pgCode?: string
  readonly sysCode?: string
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
    const causeCode = typeof c?.code === 'string' ? c.code : undefined
    // Only a pg DatabaseError carries a SQLSTATE; an fs or socket error's code is a system code.
    this.pgCode = fields.pgCode ?? (causeCode !== undefined && SQLSTATE.test(causeCode) ? causeCode : undefined)
    this.sysCode = fields.sysCode ?? (causeCode !== undefined && !SQLSTATE.test(causeCode) ? causeCode : undefined)
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
      sysCode: this.sysCode,
      detail: this.detail,
      constraint: this.constraint,
      table: this.table,
      file: this.file,
      row: this.row,
      option: this.option,
    }
  }
}

/** A SyncError whose message is the code's template with `args` filled in order. */
export function syncError (code: ErrorCode, args: Array<string | number>, fields: SyncErrorFields = {}): SyncError {
  let i = 0
  const message = ERROR_CODES[code].message.replace(/%s/g, () => String(args[i++] ?? ''))
  return new SyncError(code, message, fields)
}

/** The one "cancelled" error: `where` says at which step ("during the merge"), the signal's reason is appended. */
export function cancelledError (where?: string, signal?: AbortSignal): SyncError {
  const reason = signal?.reason instanceof Error ? `: ${signal.reason.message}` : ''
  return syncError('BRX_ERR_CANCELLED', [`${where !== undefined ? ' ' + where : ''}${reason}`])
}

/** An option that fails its rule: `options.<option> <rule>`. */
export function optionError (option: string, rule: string): SyncError {
  return syncError('BRX_ERR_OPTIONS_INVALID', [option, rule], { option })
}

/** SQLSTATEs retried with backoff besides connection loss. */
const RETRY_PG = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
])

/** Node socket errors: the database is unreachable (ENOENT and friends are local files, not the database). */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/**
 * pg's own messages for a connection that died under it (it sets no code on
 * them), and its connect timeout's 'timeout expired' (pgConnectTimeoutMs): a
 * server that did not accept a connection in time is one we cannot reach.
 */
const LOST_MESSAGE = /Connection terminated|terminating connection|not queryable|Connection ended|^timeout expired$/i

/** pg's client-side query_timeout (pgQueryTimeoutMs): the server did not answer at all. */
const QUERY_READ_TIMEOUT = /^Query read timeout/

function codeOf (e: { code?: unknown, pgCode?: unknown, sysCode?: unknown }): string | undefined {
  for (const c of [e.pgCode, e.sysCode, e.code]) if (typeof c === 'string' && !c.startsWith('BRX_')) return c
  return undefined
}

/**
 * The one connection-loss classifier: a SQLSTATE of class 08 or 57P0x
 * (admin/crash shutdown, cannot connect now), a socket error, or pg's
 * "Connection terminated" family. Follows `cause` chains.
 */
export function isConnectionLoss (err: unknown): boolean {
  const e = err as { code?: unknown, pgCode?: unknown, sysCode?: unknown, cause?: unknown, message?: unknown } | null | undefined
  if (e == null) return false
  const code = codeOf(e)
  if (code !== undefined && (code.startsWith('08') || /^57P0[1-3]$/.test(code) || SOCKET_CODES.has(code))) return true
  if (typeof e.message === 'string' && LOST_MESSAGE.test(e.message)) return true
  return e.cause !== undefined && e.cause !== err && isConnectionLoss(e.cause)
}

/**
 * Worth retrying with backoff: serialization failure, deadlock, connection
 * loss, and a CardTrader export that broke mid-body (the whole fetch starts
 * again). The other source errors already retried their request, or cannot
 * get better (a rejected token): a socket error in their cause is not a
 * reason to start the sync again.
 */
export function isTransient (err: unknown): boolean {
  const e = err as { code?: unknown, pgCode?: unknown, sysCode?: unknown, cause?: unknown } | null | undefined
  if (e == null) return false
  if (err instanceof SyncError && err.code.startsWith('BRX_ERR_SOURCE_')) return err.code === 'BRX_ERR_SOURCE_INTERRUPTED'
  const code = codeOf(e)
  if (code !== undefined && RETRY_PG.has(code)) return true
  if (isConnectionLoss(err)) return true
  return e.cause !== undefined && e.cause !== err && isTransient(e.cause)
}

/** Wraps a pg error into a SyncError with the right code, keeping SQLSTATE, detail and constraint. */
export function fromPgError (err: unknown, what: string): SyncError {
  if (err instanceof SyncError) return err
  const e = err as { code?: string, message?: string }
  const code = e?.code
  let kind: ErrorCode = 'BRX_ERR_DB_QUERY'
  if (code === '57014' || code === '55P03' || (typeof e?.message === 'string' && QUERY_READ_TIMEOUT.test(e.message))) kind = 'BRX_ERR_DB_TIMEOUT'
  else if (code === '42P01' || code === '42703' || code === '3F000') kind = 'BRX_ERR_DB_SCHEMA'
  else if (isConnectionLoss(err) || (code !== undefined && (code.startsWith('28') || code === '3D000'))) kind = 'BRX_ERR_DB_CONNECT'
  return new SyncError(kind, `${what} failed: ${redact(e?.message ?? String(err))}`, { cause: err })
}

/** Any error as a SyncError: cancellation, a database failure, else a bug. */
export function toSyncError (err: unknown): SyncError {
  if (err instanceof SyncError) return err
  const e = err as { code?: unknown, name?: unknown, message?: unknown }
  if (e?.name === 'AbortError') return new SyncError('BRX_ERR_CANCELLED', cancelledError().message, { cause: err })
  if ((typeof e?.code === 'string' && SQLSTATE.test(e.code)) || isConnectionLoss(err) || (typeof e?.message === 'string' && (/connect/i.test(e.message) || QUERY_READ_TIMEOUT.test(e.message)))) return fromPgError(err, 'A database operation')
  return syncError('BRX_ERR_INTERNAL', [redact(String(e?.message ?? err))], { cause: err })
}

/** Removes passwords from connection strings and `password=` fragments. */
export function redact (text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@\s]*@/gi, '$1***@')
    .replace(/(password\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi, '$1***')
}
