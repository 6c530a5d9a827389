import { compareColumns, quoteIdent, quoteTable } from '../dataset'
import type { DatasetSpec } from '../dataset/types'

/**
 * The set-based merge, as SQL built once per sync from the dataset
 * description. Identifiers are validated and quoted; the scope values are the
 * only data and are always parameters ($1..$n).
 *
 *   update  rows whose compared columns changed (IS DISTINCT FROM: NULL-safe);
 *           unchanged rows are not touched — no dead tuples, no WAL
 *   insert  staged keys the scope does not have
 *   delete  (mirror) the scope's keys absent from staging
 */
export interface MergeSql {
  createStaging: string
  copy: string
  dedup: string
  analyze: string
  scopeHasRows: string
  update: string
  insert: string
  insertAll: string
  delete: string
  /** First sync of a scope: COPY straight into the target, scope values in every tuple. */
  directCopy: string
  /** Later occurrences of keys copied directly, applied last-wins before COMMIT. */
  lateTable: string
  lateCopy: string
  lateUpdate: string
  lateInsert: string
}

const PG_TYPE: Record<string, string> = {
  int2: 'smallint', int4: 'integer', int8: 'bigint', float8: 'double precision', bool: 'boolean',
  text: 'text', jsonb: 'jsonb', uuid: 'uuid', timestamptz: 'timestamptz', date: 'date',
}

export const SEQ_COLUMN = 'brx_seq'

export function buildMergeSql (d: DatasetSpec, staging: string): MergeSql {
  const target = quoteTable(d.table)
  const cols = d.columns.map(c => quoteIdent(c.name))
  const nonKey = d.columns.filter(c => !d.key.includes(c.name)).map(c => quoteIdent(c.name))
  const cmp = compareColumns(d).map(c => quoteIdent(c))
  const keyJoin = d.key.map(k => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ')
  const scopeCols = d.scope.map(c => quoteIdent(c.name))
  const scopeWhere = d.scope.map((c, i) => `t.${quoteIdent(c.name)} = $${i + 1}::${PG_TYPE[c.type]}`)
  const scopeParams = d.scope.map((c, i) => `$${i + 1}::${PG_TYPE[c.type]}`)
  const inScope = (alias = 't'): string => scopeWhere.map(w => w.replace(/^t\./, `${alias}.`)).join(' AND ') || 'TRUE'
  const updatedAt = d.updatedAt != null ? `, ${quoteIdent(d.updatedAt)} = now()` : ''
  const insertCols = [...scopeCols, ...cols].join(', ')
  const insertVals = [...scopeParams, ...cols.map(c => `s.${c}`)].join(', ')
  const row = (alias: string): string => `(${cmp.map(c => `${alias}.${c}`).join(', ')})`

  const late = 'brx_late'
  const keyList = d.key.map(k => quoteIdent(k)).join(', ')
  const lastWins = `(SELECT DISTINCT ON (${keyList}) * FROM ${late} ORDER BY ${keyList}, brx_ord DESC)`
  return {
    directCopy: `COPY ${target} (${insertCols}) FROM STDIN (FORMAT binary)`,
    lateTable: `CREATE TEMP TABLE ${late} (${[...d.scope, ...d.columns].map(c => `${quoteIdent(c.name)} ${PG_TYPE[c.type]}`).join(', ')}, brx_ord bigserial) ON COMMIT DROP`,
    // brx_ord numbers the rows in COPY order, which is input order.
    lateCopy: `COPY ${late} (${insertCols}) FROM STDIN (FORMAT binary)`,
    lateUpdate: nonKey.length === 0
      ? 'SELECT 1 WHERE false'
      : `UPDATE ${target} t SET ${nonKey.map(c => `${c} = s.${c}`).join(', ')} FROM ${lastWins} s WHERE ${inScope()} AND ${keyJoin}`,
    lateInsert: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${lastWins} s WHERE NOT EXISTS (SELECT 1 FROM ${target} t WHERE ${inScope()} AND ${keyJoin})`,
    // UNLOGGED: staged rows are merged and dropped, WAL for them is waste. Autovacuum off: an
    // auto-ANALYZE racing the load could leave the planner thinking staging holds one row.
    createStaging: `CREATE UNLOGGED TABLE ${staging} (${d.columns.map(c => `${quoteIdent(c.name)} ${PG_TYPE[c.type]}`).join(', ')}, ${SEQ_COLUMN} integer NOT NULL) WITH (autovacuum_enabled = false)`,
    copy: `COPY ${staging} (${cols.join(', ')}, ${SEQ_COLUMN}) FROM STDIN (FORMAT binary)`,
    // Last occurrence wins: drop every staged row that a later row with the same key supersedes.
    dedup: `DELETE FROM ${staging} a USING ${staging} b WHERE ${d.key.map(k => `a.${quoteIdent(k)} = b.${quoteIdent(k)}`).join(' AND ')} AND a.${SEQ_COLUMN} < b.${SEQ_COLUMN}`,
    analyze: `ANALYZE ${staging}`,
    scopeHasRows: `SELECT EXISTS (SELECT 1 FROM ${target} t WHERE ${inScope()}) AS has`,
    update: nonKey.length === 0
      ? 'SELECT 1 WHERE false'
      : `UPDATE ${target} t SET ${nonKey.map(c => `${c} = s.${c}`).join(', ')}${updatedAt} FROM ${staging} s WHERE ${inScope()} AND ${keyJoin} AND ${row('t')} IS DISTINCT FROM ${row('s')}`,
    insert: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${staging} s WHERE NOT EXISTS (SELECT 1 FROM ${target} t WHERE ${inScope()} AND ${keyJoin})`,
    insertAll: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${staging} s`,
    delete: `DELETE FROM ${target} t WHERE ${inScope()} AND NOT EXISTS (SELECT 1 FROM ${staging} s WHERE ${keyJoin})`,
  }
}
