import fs from 'node:fs/promises'
import path from 'node:path'
import type pg from 'pg'
import { fromPgError } from '../errors'
import { presets } from '../dataset'
import type { DatasetSpec } from '../dataset/types'
import { distributeTarget } from './citus'
import { buildDatasetDdl } from './ddl'

export { buildDatasetDdl } from './ddl'

/** Schema files that create a preset's own table; the rest (sync_runs, brx_staging) is bookkeeping every dataset needs. */
const PRESET_FILES: Record<string, string> = { '001_user_inventory_items.sql': 'cardtrader-inventory' }

/** schema/ next to the package root (dist/src/db -> ../../../schema). */
export const SCHEMA_DIR = path.resolve(__dirname, '../../../schema')

export interface MigrateFlags {
  /** Distribute the dataset's target (default the CardTrader preset's) with Citus: src/db/citus.ts. */
  citus?: boolean
}

/**
 * Applies schema/*.sql in name order, each once, recorded in brx_migrations.
 * A transaction-level advisory lock serializes concurrent migrators.
 * With `citus`, the target is then distributed in the same transaction.
 */
export async function applyMigrations (pool: pg.Pool, dir = SCHEMA_DIR, dataset?: DatasetSpec, flags: MigrateFlags = {}): Promise<string[]> {
  // A dataset of its own gets the bookkeeping files and its table from its spec; a preset, its file.
  const preset = dataset === undefined || presets[dataset.name] === dataset ? dataset?.name : undefined
  const files = (await fs.readdir(dir)).filter(f => f.endsWith('.sql') && (dataset === undefined || PRESET_FILES[f] === undefined || PRESET_FILES[f] === preset)).sort()
  const client = await pool.connect()
  const applied: string[] = []
  try {
    await client.query('BEGIN')
    await client.query("SELECT pg_advisory_xact_lock(hashtext('brx-sync:migrate'))")
    await client.query('CREATE TABLE IF NOT EXISTS brx_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM brx_migrations')).rows.map(r => r.name))
    for (const f of files) {
      if (done.has(f)) continue
      await client.query(await fs.readFile(path.join(dir, f), 'utf8'))
      await client.query('INSERT INTO brx_migrations (name) VALUES ($1)', [f])
      applied.push(f)
    }
    if (dataset !== undefined && (preset === undefined || !Object.values(PRESET_FILES).includes(preset))) {
      for (const sql of buildDatasetDdl(dataset)) await client.query(sql)
      applied.push(`table ${dataset.table}`)
    }
    if (flags.citus === true) {
      const done = await distributeTarget(client, dataset ?? presets['cardtrader-inventory'])
      if (done !== null) applied.push(done)
    }
    await client.query('COMMIT')
    return applied
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw fromPgError(err, 'Applying the schema')
  } finally {
    client.release()
  }
}

/** `migrate --dataset`: the bookkeeping tables plus the dataset's table (from its spec, or the preset's schema file). */
export async function migrateDataset (pool: pg.Pool, dataset: DatasetSpec, flags: MigrateFlags = {}): Promise<string[]> {
  return await applyMigrations(pool, SCHEMA_DIR, dataset, flags)
}
