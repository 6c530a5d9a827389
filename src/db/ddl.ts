import { quoteIdent, quoteTable, sqlType } from '../dataset'
import type { DatasetSpec } from '../dataset/types'

/**
 * The target table of a dataset, from its spec: the scope columns, then the
 * columns with their SQL types, NOT NULL where the spec says nullable: false
 * (and for every scope and key column), created_at / updated_at when the spec
 * names them, and UNIQUE over scope + key (what the merge joins on). Every
 * identifier is validated and quoted. IF NOT EXISTS: an existing table is
 * left as it is.
 */
export function buildDatasetDdl (d: DatasetSpec): string[] {
  const table = quoteTable(d.table, 'dataset.table')
  const keys = new Set(d.key)
  const col = (name: string, type: string, notNull: boolean): string => `  ${quoteIdent(name)} ${sqlType(type)}${notNull ? ' NOT NULL' : ''}`
  const lines = [
    ...d.scope.map(c => col(c.name, c.type, true)),
    ...d.columns.map(c => col(c.name, c.type, keys.has(c.name) || c.nullable === false)),
    ...(d.derived ?? []).map(c => col(c.name, c.type, false)),
  ]
  for (const t of [d.createdAt, d.updatedAt]) if (t != null) lines.push(`  ${quoteIdent(t)} timestamptz NOT NULL DEFAULT now()`)
  const bare = d.table.split('.').pop() as string
  // PostgreSQL truncates identifiers at 63 bytes; name the constraint so it fits.
  const constraint = quoteIdent(`${bare.slice(0, 58)}_key`)
  lines.push(`  CONSTRAINT ${constraint} UNIQUE (${[...d.scope.map(c => c.name), ...d.key].map(n => quoteIdent(n)).join(', ')})`)
  const out: string[] = []
  if (d.table.includes('.')) out.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(d.table.split('.')[0], 'dataset.table')}`)
  out.push(`CREATE TABLE IF NOT EXISTS ${table} (\n${lines.join(',\n')}\n)`)
  for (const src of d.sources ?? []) {
    if (src.table.includes('.')) out.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(src.table.split('.')[0], 'dataset.sources.table')}`)
    out.push(`CREATE TABLE IF NOT EXISTS ${quoteTable(src.table, 'dataset.sources.table')} (\n${src.columns.map(c => col(c.name, c.type, false)).join(',\n')}\n)`)
  }
  return out
}
