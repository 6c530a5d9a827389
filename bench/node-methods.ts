/**
 * The Node-side alternatives, written the way the seeds and most Node code
 * write them. Each is given the same normalizer brx-sync uses (so the final
 * rows are comparable) and prepared statements where they repeat (the
 * generous case for per-row code): what is left is the query pattern itself.
 */
import fs from 'node:fs'
import type pg from 'pg'
import { records, toRow } from './data'
import { COLUMNS, COMPARE, TABLE } from './lib'

const cols = COLUMNS.join(', ')
/** COLUMNS is user_id, blueprint_id, external_stock_id, then the rest: $1..$3 address a row, $4.. set it. */
const setList = COLUMNS.slice(3).map((c, i) => `${c} = $${i + 4}`).join(', ')
const PG_MAX_PARAMS = 65_535

/** What the seeds did: the whole export read and JSON.parse'd at once. */
async function parseAll (file: string, user: string): Promise<unknown[][]> {
  const products = JSON.parse(await fs.promises.readFile(file, 'utf8')) as unknown[]
  return products.map(p => toRow(p, user))
}

function values (rows: unknown[][], params: unknown[]): string {
  return rows.map(r => `(${r.map(v => { params.push(v); return `$${params.length}` }).join(', ')})`).join(', ')
}

/**
 * Mirror mode's delete: the user's keys absent from the export, sent as two
 * arrays. NOT EXISTS over unnest plans as a hash anti-join; NOT IN would
 * fall back to a per-row subplan once the key list outgrows work_mem.
 */
async function deleteMissing (db: pg.Pool | pg.PoolClient, user: string, rows: unknown[][]): Promise<void> {
  await db.query(`DELETE FROM ${TABLE} t WHERE t.user_id = $1 AND NOT EXISTS (
      SELECT 1 FROM unnest($2::int[], $3::text[]) k(b, e) WHERE k.b = t.blueprint_id AND k.e = t.external_stock_id)`,
  [user, rows.map(r => r[1]), rows.map(r => r[2])])
}

/**
 * Seed 000's "after": chunks of 5,000 products, 3 in parallel on 3
 * connections, each chunk one transaction with a batched existence check,
 * a multi-row INSERT of the new products and one UPDATE per existing one.
 */
export async function seedsAfter (pool: pg.Pool, file: string, user: string, mirror: boolean): Promise<number> {
  const rows = await parseAll(file, user)
  const CHUNK = 5_000
  let next = 0
  const lane = async (): Promise<void> => {
    const c = await pool.connect()
    try {
      for (let i = next++; i * CHUNK < rows.length; i = next++) {
        const chunk = rows.slice(i * CHUNK, (i + 1) * CHUNK)
        await c.query('BEGIN')
        const params: unknown[] = [user]
        const keys = chunk.map(r => { params.push(r[1], r[2]); return `($${params.length - 1}, $${params.length})` })
        const found = await c.query(`SELECT blueprint_id, external_stock_id FROM ${TABLE}
          WHERE user_id = $1 AND (blueprint_id, external_stock_id) IN (${keys.join(', ')})`, params)
        const existing = new Set(found.rows.map(r => `${String(r.blueprint_id)}|${String(r.external_stock_id)}`))
        const fresh = chunk.filter(r => !existing.has(`${String(r[1])}|${String(r[2])}`))
        // "one multi-row INSERT", split only where the protocol's 65,535 bind parameters force it
        const perStmt = Math.floor(PG_MAX_PARAMS / COLUMNS.length)
        for (let j = 0; j < fresh.length; j += perStmt) {
          const p: unknown[] = []
          await c.query(`INSERT INTO ${TABLE} (${cols}) VALUES ${values(fresh.slice(j, j + perStmt), p)}`, p)
        }
        for (const r of chunk) {
          if (!existing.has(`${String(r[1])}|${String(r[2])}`)) continue
          await c.query({ name: 'seeds-after-update', text: `UPDATE ${TABLE} SET ${setList}, updated_at = now() WHERE user_id = $1 AND blueprint_id = $2 AND external_stock_id = $3`, values: r })
        }
        await c.query('COMMIT')
      }
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      c.release()
    }
  }
  await Promise.all([lane(), lane(), lane()])
  if (mirror) await deleteMissing(pool, user, rows)
  return rows.length
}

/**
 * Seed 000's "before": per product one SELECT, then one INSERT or UPDATE,
 * sequential, a commit per 5,000-product chunk. Run on the first `limit`
 * records only and extrapolated by the caller: the full run takes minutes.
 * No delete pass (a slice cannot know what is missing).
 */
export async function seedsBefore (pool: pg.Pool, file: string, user: string, limit: number): Promise<number> {
  const c = await pool.connect()
  let n = 0
  try {
    await c.query('BEGIN')
    for await (const line of records(file, limit)) {
      const r = toRow(JSON.parse(line), user)
      const found = await c.query({ name: 'seeds-before-select', text: `SELECT id FROM ${TABLE} WHERE user_id = $1 AND blueprint_id = $2 AND external_stock_id = $3`, values: r.slice(0, 3) })
      if (found.rowCount === 0) {
        await c.query({ name: 'seeds-before-insert', text: `INSERT INTO ${TABLE} (${cols}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, values: r })
      } else {
        await c.query({ name: 'seeds-before-update', text: `UPDATE ${TABLE} SET ${setList}, updated_at = now() WHERE user_id = $1 AND blueprint_id = $2 AND external_stock_id = $3`, values: r })
      }
      if (++n % 5_000 === 0) { await c.query('COMMIT'); await c.query('BEGIN') }
    }
    await c.query('COMMIT')
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    c.release()
  }
  return n
}

/**
 * What most Node code does: multi-row INSERT ... ON CONFLICT DO UPDATE in
 * batches of 1,000, each its own transaction, skipping unchanged rows with
 * the same IS DISTINCT FROM test brx-sync's merge uses; then the delete.
 */
export async function onConflictBatches (pool: pg.Pool, file: string, user: string, mirror: boolean): Promise<number> {
  const rows = await parseAll(file, user)
  const sql = (v: string): string => `INSERT INTO ${TABLE} AS t (${cols}) VALUES ${v}
    ON CONFLICT (user_id, blueprint_id, external_stock_id) DO UPDATE SET ${COMPARE.map(c => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()
    WHERE (${COMPARE.map(c => `t.${c}`).join(', ')}) IS DISTINCT FROM (${COMPARE.map(c => `EXCLUDED.${c}`).join(', ')})`
  const c = await pool.connect()
  try {
    for (let i = 0; i < rows.length; i += 1_000) {
      const p: unknown[] = []
      await c.query(sql(values(rows.slice(i, i + 1_000), p)), p)
    }
    if (mirror) await deleteMissing(c, user, rows)
  } finally {
    c.release()
  }
  return rows.length
}
