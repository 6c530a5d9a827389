import type pg from 'pg'
import { syncError } from '../errors'
import type { DatasetSpec } from '../dataset/types'

/** Fails with BRX_ERR_DB_SCHEMA, naming what is missing, before anything is locked or written. */
export async function checkSchema (client: pg.ClientBase, d: DatasetSpec): Promise<void> {
  const { rows } = await client.query<{ target: string | null, runs: string | null, staging: string | null }>(
    "SELECT to_regclass($1) AS target, to_regclass('sync_runs') AS runs, (SELECT nspname FROM pg_namespace WHERE nspname = 'brx_staging') AS staging", [d.table])
  const missing = [rows[0].target === null ? d.table : null, rows[0].runs === null ? 'sync_runs' : null, rows[0].staging === null ? 'schema brx_staging' : null].filter(Boolean)
  if (missing.length > 0) throw syncError('BRX_ERR_DB_SCHEMA', [missing.join(', ')], { table: d.table })
}
