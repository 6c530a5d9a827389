import { compareColumns, quoteIdent, quoteTable } from '../dataset'
import type { DatasetSpec } from '../dataset/types'
import { sqlType } from '../dataset/vocabulary'

/**
 * Change capture, as SQL built once per sync. Each change is one NDJSON line
 * built by PostgreSQL itself (json_build_object keeps the column order),
 * collected set-based into a temp table inside the merge transaction:
 *
 *   update  {op, key, changed: {col: [old, new]}}  captured before the UPDATE (old values), from brx_diff
 *   insert  {op, key, row}                        from the INSERT's RETURNING
 *   delete  {op, key, row}                        from the DELETE's RETURNING (the old row)
 *
 * The temp table feeds a sample (dry run) and COPY … TO STDOUT (the changes
 * file). Nothing here runs when neither is asked for.
 */
export interface ChangeSql {
  table: string
  /** Update lines: joins brx_diff (changed rows only) with the target by key, before the UPDATE. */
  captureUpdates: string
  /** The merge's insert / insertAll / delete, wrapped so their RETURNING rows land in brx_changes. */
  insert: (insertSql: string) => string
  delete: (deleteSql: string) => string
  /** Direct path: every row of the (previously empty) scope is an insert. */
  captureScopeInserts: string
  sample: string
  copyOut: string
}

const CHANGES = 'brx_changes'

export function buildChangeSql (d: DatasetSpec): ChangeSql {
  const target = quoteTable(d.table)
  const scopeWhere = d.scope.map((c, i) => `t.${quoteIdent(c.name)} = $${i + 1}::${sqlType(c.type)}`).join(' AND ') || 'TRUE'
  const keyJoin = d.key.map(k => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ')
  const pairs = (names: string[], alias: string): string => names.map(n => `'${n}', ${alias}.${quoteIdent(n)}`).join(', ')
  const keyNames = [...d.scope.map(c => c.name), ...d.key]
  const rowNames = [...d.scope.map(c => c.name), ...d.columns.map(c => c.name), ...(d.derived ?? []).map(c => c.name)]
  const keyJson = (alias: string): string => `json_build_object(${pairs(keyNames, alias)})`
  const rowJson = (alias: string): string => `json_build_object(${pairs(rowNames, alias)})`
  // A column that did not change is NULL and left out; a changed one is [old, new]. (Not
  // json_strip_nulls: it would also drop nulls nested inside jsonb values.)
  const changed = `(SELECT json_object_agg(c.k, c.v) FROM (VALUES ${compareColumns(d).map(c => {
    const q = quoteIdent(c)
    return `('${c}', CASE WHEN t.${q} IS DISTINCT FROM s.${q} THEN json_build_array(t.${q}, s.${q}) END)`
  }).join(', ')}) AS c (k, v) WHERE c.v IS NOT NULL)`
  const line = (op: string, key: string, rest: string): string => `json_build_object('op', '${op}', 'key', ${key}, ${rest})::text`
  const returning = `RETURNING ${rowNames.map(n => `t.${quoteIdent(n)}`).join(', ')}`
  return {
    table: `CREATE TEMP TABLE ${CHANGES} (op text NOT NULL, line text NOT NULL) ON COMMIT DROP`,
    captureUpdates: `INSERT INTO ${CHANGES} SELECT 'update', ${line('update', keyJson('t'), `'changed', ${changed}`)} FROM brx_diff s JOIN ${target} t ON ${scopeWhere} AND ${keyJoin} WHERE s.brx_present`,
    // The merge's INSERT names the target without an alias; RETURNING needs one to stay unambiguous.
    insert: sql => `WITH c AS (${sql.replace(`INSERT INTO ${target} `, `INSERT INTO ${target} AS t `)} ${returning}) INSERT INTO ${CHANGES} SELECT 'insert', ${line('insert', keyJson('c'), `'row', ${rowJson('c')}`)} FROM c`,
    delete: sql => `WITH c AS (${sql} ${returning}) INSERT INTO ${CHANGES} SELECT 'delete', ${line('delete', keyJson('c'), `'row', ${rowJson('c')}`)} FROM c`,
    captureScopeInserts: `INSERT INTO ${CHANGES} SELECT 'insert', ${line('insert', keyJson('t'), `'row', ${rowJson('t')}`)} FROM ${target} t WHERE ${scopeWhere}`,
    sample: `SELECT line FROM ${CHANGES} WHERE op = $1 LIMIT $2`,
    // CSV with a delimiter and quote that never occur in json text (PostgreSQL escapes every control
    // character in json strings): lines come out verbatim, where text format would escape backslashes.
    copyOut: `COPY ${CHANGES} (line) TO STDOUT (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')`,
  }
}
