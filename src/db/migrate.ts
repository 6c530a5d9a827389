import fs from 'node:fs/promises'
import path from 'node:path'
import type pg from 'pg'
import { fromPgError } from '../errors'

/** schema/ next to the package root (dist/src/db -> ../../../schema). */
export const SCHEMA_DIR = path.resolve(__dirname, '../../../schema')

/**
 * Applies schema/*.sql in name order, each once, recorded in brx_migrations.
 * A transaction-level advisory lock serializes concurrent migrators.
 */
export async function applyMigrations (pool: pg.Pool, dir = SCHEMA_DIR): Promise<string[]> {
  const files = (await fs.readdir(dir)).filter(f => f.endsWith('.sql')).sort()
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
    await client.query('COMMIT')
    return applied
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw fromPgError(err, 'Applying the schema')
  } finally {
    client.release()
  }
}
