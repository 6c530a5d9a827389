import { SyncError, redact } from '../errors'

function messageOf (err: unknown): string {
  const e = err as { message?: unknown, code?: unknown, errors?: unknown[] }
  // Node's happy-eyeballs connect failure is an AggregateError with an empty message.
  if (typeof e?.message === 'string' && e.message !== '') return e.message
  if (Array.isArray(e?.errors) && e.errors.length > 0) return messageOf(e.errors[0])
  return typeof e?.code === 'string' ? e.code : String(err)
}

/**
 * Every MySQL failure is BRX_ERR_CATALOG_UNAVAILABLE: the catalog could not be
 * read, so nothing may be written. `where` names host, port and database; the
 * driver's message goes through redact() in case it echoes a URL.
 */
export function catalogError (err: unknown, where: string, table?: string): SyncError {
  if (err instanceof SyncError) return err
  const code = (err as { code?: unknown })?.code
  const msg = redact(messageOf(err))
  let text: string
  if (code === 'ER_NO_SUCH_TABLE') text = `The catalog table ${table ?? ''} does not exist in ${where}: ${msg}`
  else if (code === 'ER_BAD_FIELD_ERROR') text = `The catalog table ${table ?? ''} in ${where} lacks a configured column: ${msg}`
  else if (table !== undefined) text = `Reading the catalog table ${table} from ${where} failed: ${msg}`
  else text = `The blueprint catalog at ${where} cannot be reached: ${msg}`
  return new SyncError('BRX_ERR_CATALOG_UNAVAILABLE', text.endsWith('.') ? text : text + '.', { cause: err, table })
}
