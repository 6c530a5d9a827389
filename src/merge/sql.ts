import { compareColumns, quoteIdent, quoteTable, sqlType } from '../dataset'
import type { DatasetSpec } from '../dataset/types'
import { literal, type CitusLayout } from '../db/citus'
import { DERIVED_TABLE, buildDerivedSql } from './derived'

/**
 * The set-based merge, as SQL built once per sync from the dataset
 * description. Identifiers are validated and quoted; the scope values are the
 * only data and are always parameters ($1..$n).
 *
 *   classify  one LEFT JOIN keeps the staged rows that are new or whose compared
 *             columns changed (IS DISTINCT FROM: NULL-safe)
 *   update    the changed ones; unchanged rows are not touched — no dead tuples, no WAL
 *   insert    the new ones
 *   delete  (mirror) the scope's keys absent from staging
 */
export interface MergeSql {
  createStaging: string
  /** A small sync's staging: a TEMP table dropped by the COMMIT of the transaction that fills and merges it. */
  createTemp: string
  copy: string
  dedup: string
  analyze: string
  scopeHasRows: string
  /** One join of staging with the scope's rows keeps only new and changed rows (brx_diff). */
  classify: string
  update: string
  insert: string
  insertAll: string
  /** insert-new: the staged keys the target lacks; existing rows are not touched. */
  insertNew: string
  /** Derived columns computed into brx_src (null when the dataset has none). */
  derive: string | null
  /** The first-sync direct COPY is possible (not with derived columns: they are computed from staging). */
  direct: boolean
  delete: string
  /** First sync of a scope: COPY straight into the target, scope values in every tuple. */
  directCopy: string
  /** Later occurrences of keys copied directly, applied last-wins before COMMIT. */
  lateTable: string
  lateCopy: string
  lateUpdate: string
  lateInsert: string
  /** Engine diff (mirror): the keys of existing rows no input row matched, deleted by key. */
  goneTable: string
  goneCopy: string
  goneDelete: string
  /**
   * Engine diff: the same classification, as one unique-key lookup per staged row (few rows).
   * OFFSET 0 keeps the planner from flattening the LATERAL into a join, so stale statistics
   * on the scope cannot turn it into a hash of the whole scope or a quadratic nested loop.
   */
  classifyLookup: string
  /** The Citus form (SET LOCALs propagated to the workers too: see setLocals). */
  citus: boolean
}


export const SEQ_COLUMN = 'brx_seq'

/**
 * With `citus` (the target is distributed by a scope column; README "Running
 * on Citus") the same merge in the form Citus accepts: staging carries the
 * scope columns and is distributed by the target's column, co-located with
 * it; every join and subquery against staging is correlated on the scope;
 * a first sync's later occurrences are inserted with ON CONFLICT DO NOTHING
 * (a local temp table cannot feed a correlated subquery). With `light`, the
 * light path's form over its coordinator TEMP staging (buildCitusLightSql).
 * The engine diff's key lookup is correlated on the scope too.
 */
export function buildMergeSql (d: DatasetSpec, staging: string, citus?: CitusLayout, light = false): MergeSql {
  const plain = buildPlainSql(d, staging)
  if (citus === undefined) return plain
  return { ...plain, citus: true, ...(light ? buildCitusLightSql(d, staging) : buildCitusSql(d, staging, citus)) }
}

function buildPlainSql (d: DatasetSpec, staging: string): MergeSql {
  const target = quoteTable(d.table)
  const inputCols = d.columns.map(c => quoteIdent(c.name))
  // The target's columns: the input's, then the derived ones (computed into brx_src).
  const written = [...d.columns, ...(d.derived ?? [])]
  const cols = written.map(c => quoteIdent(c.name))
  const src = d.derived !== undefined && d.derived.length > 0 ? DERIVED_TABLE : staging
  const nonKey = written.filter(c => !d.key.includes(c.name)).map(c => quoteIdent(c.name))
  const cmp = compareColumns(d).map(c => quoteIdent(c))
  const keyJoin = d.key.map(k => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ')
  const scopeCols = d.scope.map(c => quoteIdent(c.name))
  const scopeWhere = d.scope.map((c, i) => `t.${quoteIdent(c.name)} = $${i + 1}::${sqlType(c.type)}`)
  const scopeParams = d.scope.map((c, i) => `$${i + 1}::${sqlType(c.type)}`)
  const inScope = (alias = 't'): string => scopeWhere.map(w => w.replace(/^t\./, `${alias}.`)).join(' AND ') || 'TRUE'
  const updatedAt = d.updatedAt != null ? `, ${quoteIdent(d.updatedAt)} = now()` : ''
  const insertCols = [...scopeCols, ...cols].join(', ')
  const insertVals = [...scopeParams, ...cols.map(c => `s.${c}`)].join(', ')
  const row = (alias: string): string => `(${cmp.map(c => `${alias}.${c}`).join(', ')})`

  const late = 'brx_late'
  const keyList = d.key.map(k => quoteIdent(k)).join(', ')
  const lastWins = `(SELECT DISTINCT ON (${keyList}) * FROM ${late} ORDER BY ${keyList}, brx_ord DESC)`
  const keyDefs = d.key.map(k => { const c = d.columns.find(x => x.name === k); return `${quoteIdent(k)} ${sqlType(c?.type ?? 'text')}` }).join(', ')
  return {
    citus: false,
    classifyLookup: `CREATE TEMP TABLE brx_diff ON COMMIT DROP AS SELECT s.*, t.${quoteIdent(d.key[0])} IS NOT NULL AS brx_present FROM ${staging} s LEFT JOIN LATERAL (SELECT ${[quoteIdent(d.key[0]), ...cmp.filter(c => c !== quoteIdent(d.key[0]))].map(c => `t.${c}`).join(', ')} FROM ${target} t WHERE ${inScope()} AND ${keyJoin} OFFSET 0) t ON true WHERE t.${quoteIdent(d.key[0])} IS NULL OR ${row('t')} IS DISTINCT FROM ${row('s')}`,
    goneTable: `CREATE TEMP TABLE brx_gone (${keyDefs}) ON COMMIT DROP`,
    goneCopy: `COPY brx_gone (${keyList}) FROM STDIN (FORMAT binary)`,
    goneDelete: `DELETE FROM ${target} t USING brx_gone s WHERE ${inScope()} AND ${keyJoin}`,
    directCopy: `COPY ${target} (${insertCols}) FROM STDIN (FORMAT binary)`,
    lateTable: `CREATE TEMP TABLE ${late} (${[...d.scope, ...d.columns].map(c => `${quoteIdent(c.name)} ${sqlType(c.type)}`).join(', ')}, brx_ord bigserial) ON COMMIT DROP`,
    // brx_ord numbers the rows in COPY order, which is input order.
    lateCopy: `COPY ${late} (${insertCols}) FROM STDIN (FORMAT binary)`,
    lateUpdate: nonKey.length === 0
      ? 'SELECT 1 WHERE false'
      : `UPDATE ${target} t SET ${nonKey.map(c => `${c} = s.${c}`).join(', ')} FROM ${lastWins} s WHERE ${inScope()} AND ${keyJoin}`,
    lateInsert: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${lastWins} s WHERE NOT EXISTS (SELECT 1 FROM ${target} t WHERE ${inScope()} AND ${keyJoin})`,
    // UNLOGGED: staged rows are merged and dropped, WAL for them is waste. Autovacuum off: an
    // auto-ANALYZE racing the load could leave the planner thinking staging holds one row.
    derive: src === staging ? null : buildDerivedSql(d, staging),
    direct: src === staging,
    createStaging: `CREATE UNLOGGED TABLE ${staging} (${d.columns.map(c => `${quoteIdent(c.name)} ${sqlType(c.type)}`).join(', ')}, ${SEQ_COLUMN} integer NOT NULL) WITH (autovacuum_enabled = false)`,
    createTemp: `CREATE TEMP TABLE ${staging} (${d.columns.map(c => `${quoteIdent(c.name)} ${sqlType(c.type)}`).join(', ')}, ${SEQ_COLUMN} integer NOT NULL) ON COMMIT DROP`,
    copy: `COPY ${staging} (${inputCols.join(', ')}, ${SEQ_COLUMN}) FROM STDIN (FORMAT binary)`,
    // Last occurrence wins: drop every staged row that a later row with the same key supersedes.
    dedup: `DELETE FROM ${staging} a USING ${staging} b WHERE ${d.key.map(k => `a.${quoteIdent(k)} = b.${quoteIdent(k)}`).join(' AND ')} AND a.${SEQ_COLUMN} < b.${SEQ_COLUMN}`,
    // The planner needs the row count and the key columns' statistics to choose hash joins;
    // sampling the other columns (jsonb, long text) would only cost time.
    analyze: `ANALYZE ${staging} (${keyList})`,
    scopeHasRows: `SELECT EXISTS (SELECT 1 FROM ${target} t WHERE ${inScope()}) AS has`,
    // brx_present tells changed rows (update by key) from new ones (insert); unchanged rows never
    // leave staging. One hash join instead of one per statement: the update and the insert then
    // touch only the few rows that differ.
    classify: `CREATE TEMP TABLE brx_diff ON COMMIT DROP AS SELECT s.*, t.${quoteIdent(d.key[0])} IS NOT NULL AS brx_present FROM ${src} s LEFT JOIN ${target} t ON ${inScope()} AND ${keyJoin} WHERE t.${quoteIdent(d.key[0])} IS NULL OR ${row('t')} IS DISTINCT FROM ${row('s')}`,
    update: nonKey.length === 0
      ? 'SELECT 1 WHERE false'
      : `UPDATE ${target} t SET ${nonKey.map(c => `${c} = s.${c}`).join(', ')}${updatedAt} FROM brx_diff s WHERE s.brx_present AND ${inScope()} AND ${keyJoin}`,
    insert: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM brx_diff s WHERE NOT s.brx_present`,
    insertAll: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${src} s`,
    insertNew: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${src} s WHERE NOT EXISTS (SELECT 1 FROM ${target} t WHERE ${inScope()} AND ${keyJoin})`,
    delete: `DELETE FROM ${target} t WHERE ${inScope()} AND NOT EXISTS (SELECT 1 FROM ${staging} s WHERE ${keyJoin})`,
  }
}

/** The statements that differ on Citus; the rest (update, insert from brx_diff, analyze, COPY into the target) are the same. */
function buildCitusSql (d: DatasetSpec, staging: string, citus: CitusLayout): Partial<MergeSql> {
  const target = quoteTable(d.table)
  const stagedCols = [...d.scope, ...d.columns]
  const written = [...d.columns, ...(d.derived ?? [])]
  const cols = written.map(c => quoteIdent(c.name))
  const src = d.derived !== undefined && d.derived.length > 0 ? DERIVED_TABLE : staging
  const cmp = compareColumns(d).map(c => quoteIdent(c))
  const scopeCols = d.scope.map(c => quoteIdent(c.name))
  const keyJoin = d.key.map(k => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ')
  // Staging's rows carry the scope: correlate on every scope column (the distribution column among them).
  const scopeJoin = (a: string, b: string): string => d.scope.map(c => `${a}.${quoteIdent(c.name)} = ${b}.${quoteIdent(c.name)}`).join(' AND ')
  const inScope = (alias: string): string => d.scope.map((c, i) => `${alias}.${quoteIdent(c.name)} = $${i + 1}::${sqlType(c.type)}`).join(' AND ')
  const scopeParams = d.scope.map((c, i) => `$${i + 1}::${sqlType(c.type)}`)
  const insertCols = [...scopeCols, ...cols].join(', ')
  const insertVals = [...scopeParams, ...cols.map(c => `s.${c}`)].join(', ')
  const row = (alias: string): string => `(${cmp.map(c => `${alias}.${c}`).join(', ')})`
  const keyList = d.key.map(k => quoteIdent(k)).join(', ')
  const conflict = [...scopeCols, ...d.key.map(k => quoteIdent(k))].join(', ')
  const lastWins = `(SELECT DISTINCT ON (${keyList}) * FROM brx_late ORDER BY ${keyList}, brx_ord DESC)`
  const defs = stagedCols.map(c => `${quoteIdent(c.name)} ${sqlType(c.type)}`).join(', ')
  return {
    createStaging: `CREATE UNLOGGED TABLE ${staging} (${defs}, ${SEQ_COLUMN} integer NOT NULL) WITH (autovacuum_enabled = false); ` +
      `SELECT create_distributed_table(${literal(staging)}, ${literal(citus.column)}, colocate_with => ${literal(target)})`,
    copy: `COPY ${staging} (${[...scopeCols, ...d.columns.map(c => quoteIdent(c.name))].join(', ')}, ${SEQ_COLUMN}) FROM STDIN (FORMAT binary)`,
    dedup: `DELETE FROM ${staging} a USING ${staging} b WHERE ${scopeJoin('a', 'b')} AND ${d.key.map(k => `a.${quoteIdent(k)} = b.${quoteIdent(k)}`).join(' AND ')} AND a.${SEQ_COLUMN} < b.${SEQ_COLUMN}`,
    // Staging is co-located with the target: a router join in the scope's shard; the (few) changed rows land in a coordinator temp table.
    classify: `CREATE TEMP TABLE brx_diff ON COMMIT DROP AS SELECT s.*, t.${quoteIdent(d.key[0])} IS NOT NULL AS brx_present FROM ${src} s LEFT JOIN ${target} t ON ${inScope('t')} AND ${scopeJoin('t', 's')} AND ${keyJoin} WHERE ${inScope('s')} AND (t.${quoteIdent(d.key[0])} IS NULL OR ${row('t')} IS DISTINCT FROM ${row('s')})`,
    insertAll: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${src} s WHERE ${inScope('s')}`,
    insertNew: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${src} s WHERE ${inScope('s')} AND NOT EXISTS (SELECT 1 FROM ${target} t WHERE ${inScope('t')} AND ${scopeJoin('t', 's')} AND ${keyJoin})`,
    delete: `DELETE FROM ${target} t WHERE ${inScope('t')} AND NOT EXISTS (SELECT 1 FROM ${staging} s WHERE ${scopeJoin('s', 't')} AND ${keyJoin})`,
    // Engine diff: the per-row key lookup, correlated on the scope (the goneDelete from a temp table is accepted as it is).
    classifyLookup: `CREATE TEMP TABLE brx_diff ON COMMIT DROP AS SELECT s.*, t.${quoteIdent(d.key[0])} IS NOT NULL AS brx_present FROM ${staging} s LEFT JOIN LATERAL (SELECT ${[quoteIdent(d.key[0]), ...cmp.filter(c => c !== quoteIdent(d.key[0]))].map(c => `t.${c}`).join(', ')} FROM ${target} t WHERE ${inScope('t')} AND ${scopeJoin('t', 's')} AND ${keyJoin} OFFSET 0) t ON true WHERE t.${quoteIdent(d.key[0])} IS NULL OR ${row('t')} IS DISTINCT FROM ${row('s')}`,
    // lateUpdate has already written every late key that exists; the rest are inserted. RETURNING: with
    // ON CONFLICT pulled to the coordinator, Citus' command tag counts every source row, RETURNING's rows are exact.
    lateInsert: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${lastWins} s ON CONFLICT (${conflict}) DO NOTHING RETURNING 1`,
  }
}

/**
 * The light path on Citus: staging is a TEMP table on the coordinator (no
 * scope columns, as on plain PostgreSQL), which Citus cannot join with a
 * distributed table inside the shard. Each statement instead sends the few
 * staged keys to the scope's shard as a subquery result (`IN (SELECT … FROM
 * staging)`, planned by Citus as an intermediate result) and joins the
 * answer on the coordinator. A LEFT JOIN of the temp table with the target
 * would pull the whole scope to the coordinator (0.2–0.4 s for a 20k-row
 * scope, against 15 ms this way; README "Running on Citus").
 */
function buildCitusLightSql (d: DatasetSpec, staging: string): Partial<MergeSql> {
  const target = quoteTable(d.table)
  const written = [...d.columns, ...(d.derived ?? [])]
  const cols = written.map(c => quoteIdent(c.name))
  const cmp = compareColumns(d).map(c => quoteIdent(c))
  const scopeCols = d.scope.map(c => quoteIdent(c.name))
  const keys = d.key.map(k => quoteIdent(k))
  const keyJoin = keys.map(k => `t.${k} = s.${k}`).join(' AND ')
  const inScope = d.scope.map((c, i) => `t.${quoteIdent(c.name)} = $${i + 1}::${sqlType(c.type)}`).join(' AND ') || 'TRUE'
  const scopeParams = d.scope.map((c, i) => `$${i + 1}::${sqlType(c.type)}`)
  const insertCols = [...scopeCols, ...cols].join(', ')
  const insertVals = [...scopeParams, ...cols.map(c => `s.${c}`)].join(', ')
  const row = (alias: string): string => `(${cmp.map(c => `${alias}.${c}`).join(', ')})`
  const keyTuple = (alias: string): string => `(${keys.map(k => `${alias}.${k}`).join(', ')})`
  // Rows with their derived columns come from brx_src (the derive step), as in the plain form; the keys, from staging.
  const src = d.derived !== undefined && d.derived.length > 0 ? DERIVED_TABLE : staging
  const staged = `(SELECT ${keys.join(', ')} FROM ${staging})`
  const conflict = [...scopeCols, ...keys].join(', ')
  // OFFSET 0: the scope's matching rows are fetched as one router query, not flattened into the join.
  const existing = `(SELECT ${[...new Set([...keys, ...cmp])].map(c => `t.${c}`).join(', ')} FROM ${target} t WHERE ${inScope} AND ${keyTuple('t')} IN ${staged} OFFSET 0)`
  const classify = `CREATE TEMP TABLE brx_diff ON COMMIT DROP AS SELECT s.*, t.${keys[0]} IS NOT NULL AS brx_present FROM ${src} s LEFT JOIN ${existing} t ON ${keyJoin} WHERE t.${keys[0]} IS NULL OR ${row('t')} IS DISTINCT FROM ${row('s')}`
  return {
    classify,
    // Engine diff: staging holds only the new and changed rows; the same fetch by key classifies them.
    classifyLookup: classify,
    // Staging is deduplicated: a conflict is a key the target already holds. RETURNING counts exactly (see lateInsert).
    insertNew: `INSERT INTO ${target} (${insertCols}) SELECT ${insertVals} FROM ${src} s ON CONFLICT (${conflict}) DO NOTHING RETURNING 1`,
    // Key columns are NOT NULL (validated in the workers, NOT NULL in the target): NOT IN is the anti-join.
    delete: `DELETE FROM ${target} t WHERE ${inScope} AND ${keyTuple('t')} NOT IN ${staged}`,
  }
}
