import type pg from 'pg'
import { quoteIdent, quoteTable } from '../dataset'
import type { DatasetSpec } from '../dataset/types'
import { syncError } from '../errors'

/**
 * Citus (README "Running on Citus"). A target distributed by one of its
 * dataset's scope columns gets the Citus form of the merge (src/merge/sql.ts):
 * staging distributed by that column and co-located with the target, every
 * join and subquery against staging correlated on it. Anything else on a
 * Citus coordinator (a plain local table) is an ordinary PostgreSQL table.
 */
export interface CitusLayout {
  /** The target's distribution column: one of the dataset's scope columns. */
  column: string
}

const HAS_CITUS = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS has"

/** The target's Citus layout, or null when the database has no Citus or the target is a plain table. */
export async function detectCitus (client: pg.ClientBase, d: DatasetSpec): Promise<CitusLayout | null> {
  if (!(await client.query<{ has: boolean }>(HAS_CITUS)).rows[0].has) return null
  const { rows } = await client.query<{ method: string, repmodel: string, col: string | null }>(
    "SELECT partmethod AS method, repmodel, CASE WHEN partmethod = 'h' THEN column_to_column_name(logicalrelid, partkey) END AS col FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)", [d.table])
  if (rows.length === 0) return null
  // A Citus local table (partmethod 'n', not replicated: Citus adds them for foreign keys to reference tables) lives on the coordinator alone: a plain table.
  if (rows[0].method === 'n' && rows[0].repmodel !== 't') return null
  const col = rows[0].col
  if (col === null) throw syncError('BRX_ERR_CITUS_LAYOUT', [d.table, `it is a Citus ${rows[0].method === 'n' ? 'reference' : 'non-hash'} table; brx-sync merges into a table distributed by a scope column (${scopeNames(d)})`], { table: d.table })
  if (!d.scope.some(c => c.name === col)) throw syncError('BRX_ERR_CITUS_LAYOUT', [d.table, `it is distributed by ${col}, which is not a scope column (${scopeNames(d)}): one scope must live in one shard`], { table: d.table })
  return { column: col }
}

const scopeNames = (d: DatasetSpec): string => d.scope.length === 0 ? 'the dataset has none' : d.scope.map(c => c.name).join(', ')

/** A SQL string literal of brx-sync's own quoted identifiers (regclass arguments of Citus functions). */
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`

/**
 * `migrate --citus`, in the migration's transaction: distributes the
 * dataset's target by its first scope column. A primary key that lacks the
 * distribution column (the preset's `id` alone) becomes (column, its
 * columns); a UNIQUE constraint that lacks it is refused. Already
 * distributed by that column: nothing to do. sync_runs, brx_migrations and
 * the job tables stay local tables of the coordinator (see README).
 */
export async function distributeTarget (client: pg.ClientBase, d: DatasetSpec): Promise<string | null> {
  if (!(await client.query<{ has: boolean }>(HAS_CITUS)).rows[0].has) {
    throw syncError('BRX_ERR_CITUS_LAYOUT', [d.table, 'the citus extension is not installed in this database (CREATE EXTENSION citus, on the coordinator and every worker)'], { table: d.table })
  }
  const col = d.scope[0]?.name
  if (col === undefined) throw syncError('BRX_ERR_CITUS_LAYOUT', [d.table, 'the dataset has no scope column to distribute it by'], { table: d.table })
  const layout = await detectCitus(client, d)
  if (layout !== null) {
    if (layout.column !== col) throw syncError('BRX_ERR_CITUS_LAYOUT', [d.table, `it is already distributed by ${layout.column}, not ${col}`], { table: d.table })
    return null
  }
  const { rows } = await client.query<{ name: string, type: string, cols: string[] }>(
    `SELECT c.conname AS name, c.contype AS type, array_agg(a.attname::text ORDER BY k.ord) AS cols
       FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
      WHERE c.conrelid = to_regclass($1) AND c.contype IN ('p', 'u')
      GROUP BY c.conname, c.contype`, [d.table])
  const table = quoteTable(d.table)
  for (const c of rows) {
    if (c.cols.includes(col)) continue
    if (c.type !== 'p') throw syncError('BRX_ERR_CITUS_LAYOUT', [d.table, `its UNIQUE constraint ${c.name} (${c.cols.join(', ')}) lacks the distribution column ${col}`], { table: d.table })
    await client.query(`ALTER TABLE ${table} DROP CONSTRAINT ${quoteIdent(c.name)}, ADD PRIMARY KEY (${[col, ...c.cols].map(n => quoteIdent(n)).join(', ')})`)
  }
  await client.query(`SELECT create_distributed_table(${literal(table)}, ${literal(col)})`)
  return `distributed ${d.table} by ${col}`
}
