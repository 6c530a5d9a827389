import type { DatasetSpec, DerivedSpec } from './types'
import { TYPES, parseType } from './vocabulary'

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/
const TABLE = /^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$/
const DERIVED_FIELDS = new Set(['name', 'type', 'aggregate', 'arithmetic', 'description'])
const AGG_FIELDS = new Set(['fn', 'table', 'column', 'on', 'default'])
const FNS = ['sum', 'count', 'min', 'max']
const OPS = ['+', '-', '*']
export const MODES = ['mirror', 'upsert', 'insert-new'] as const

type Bad = (path: string, msg: string) => never

/**
 * `mode`, `derived` and `sources`: every identifier checked like the
 * columns' (they are quoted into SQL), every arithmetic argument a known
 * column or a finite number, derived columns referring only to input columns
 * or to derived ones declared before them (no cycles), aggregates over
 * numeric-ordered columns only for sum.
 */
export function validateDerived (d: DatasetSpec, names: Set<string>, bad: Bad): void {
  if (d.mode !== undefined && !(MODES as readonly string[]).includes(d.mode)) bad('.mode', `must be one of ${MODES.join(', ')}, got ${JSON.stringify(d.mode)}.`)
  if (d.sources !== undefined) checkSources(d, bad)
  if (d.derived === undefined) return
  if (!Array.isArray(d.derived)) bad('.derived', 'must be an array of derived columns.')
  const input = new Set([...d.scope, ...d.columns].map(c => c.name))
  const known = new Set(input)
  d.derived.forEach((c, i) => {
    const path = `.derived[${i}]`
    checkShape(c, path, names, bad)
    if ((c.aggregate === undefined) === (c.arithmetic === undefined)) bad(path, 'needs exactly one of aggregate or arithmetic.')
    if (c.aggregate !== undefined) checkAggregate(c, `${path}.aggregate`, input, bad)
    else checkArithmetic(c, `${path}.arithmetic`, known, bad)
    known.add(c.name)
  })
  if (Array.isArray(d.key)) for (const k of d.key) if (d.derived.some(c => c.name === k)) bad('.key', `"${k}" is a derived column; a key comes from the input.`)
}

function checkShape (c: DerivedSpec, path: string, names: Set<string>, bad: Bad): void {
  if (c == null || typeof c !== 'object' || Array.isArray(c)) bad(path, 'must be a derived column object { name, type, aggregate | arithmetic }.')
  for (const k of Object.keys(c)) if (!DERIVED_FIELDS.has(k)) bad(`${path}.${k}`, `is not a derived column field; known: ${[...DERIVED_FIELDS].join(', ')}.`)
  if (typeof c.name !== 'string' || !IDENT.test(c.name) || c.name.startsWith('brx_')) bad(`${path}.name`, `${JSON.stringify(c.name)} is not a valid column name (lower-case letters, digits and _, at most 63 characters, not brx_).`)
  if (names.has(c.name)) bad(`${path}.name`, `"${c.name}" appears twice.`)
  names.add(c.name)
  const t = parseType(c.type)
  if (typeof t === 'string') bad(`${path}.type`, `${t}.`)
}

function checkAggregate (c: DerivedSpec, path: string, input: Set<string>, bad: Bad): void {
  const a = c.aggregate as NonNullable<DerivedSpec['aggregate']>
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return bad(path, 'must be { fn, table, column, on, default }.')
  for (const k of Object.keys(a)) if (!AGG_FIELDS.has(k)) bad(`${path}.${k}`, `is not an aggregate field; known: ${[...AGG_FIELDS].join(', ')}.`)
  if (!FNS.includes(a.fn)) bad(`${path}.fn`, `must be one of ${FNS.join(', ')}, got ${JSON.stringify(a.fn)}.`)
  if (typeof a.table !== 'string' || !TABLE.test(a.table)) bad(`${path}.table`, `${JSON.stringify(a.table)} is not a valid table name ("table" or "schema.table").`)
  if (a.column === undefined ? a.fn !== 'count' : typeof a.column !== 'string' || !IDENT.test(a.column)) bad(`${path}.column`, a.column === undefined ? `${a.fn} needs the column it aggregates.` : `${JSON.stringify(a.column)} is not a valid column name.`)
  if (a.on === null || typeof a.on !== 'object' || Array.isArray(a.on) || Object.keys(a.on).length === 0) return bad(`${path}.on`, 'must map at least one column of the source table to a dataset column, e.g. { "origem": "num_pedido" }.')
  for (const [src, col] of Object.entries(a.on)) {
    if (!IDENT.test(src)) bad(`${path}.on`, `"${src}" is not a valid column name.`)
    if (typeof col !== 'string' || !input.has(col)) bad(`${path}.on.${src}`, `${JSON.stringify(col)} is not a scope or input column of the dataset.`)
  }
  if (a.default !== undefined && (typeof a.default !== 'number' || !Number.isFinite(a.default))) bad(`${path}.default`, `must be a finite number, got ${JSON.stringify(a.default)}.`)
  const t = parseType(c.type)
  if (typeof t !== 'string' && (a.fn === 'sum' || a.fn === 'count') && !TYPES[t.base].ordered) bad(`${path}.fn`, `${a.fn} gives a number; the column is ${String(c.type)}.`)
}

function checkArithmetic (c: DerivedSpec, path: string, known: Set<string>, bad: Bad): void {
  const a = c.arithmetic as NonNullable<DerivedSpec['arithmetic']>
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return bad(path, 'must be { op, args }.')
  if (!OPS.includes(a.op)) bad(`${path}.op`, `must be one of ${OPS.join(' ')}, got ${JSON.stringify(a.op)}.`)
  if (!Array.isArray(a.args) || a.args.length < 2) bad(`${path}.args`, 'must list at least two operands (column names or numbers).')
  a.args.forEach((x, i) => {
    if (typeof x === 'number') { if (!Number.isFinite(x)) bad(`${path}.args[${i}]`, 'must be a finite number.'); return }
    if (typeof x !== 'string' || !known.has(x)) bad(`${path}.args[${i}]`, `${JSON.stringify(x)} is not an input column nor a derived column declared before "${c.name}".`)
  })
}

function checkSources (d: DatasetSpec, bad: Bad): void {
  if (!Array.isArray(d.sources)) return bad('.sources', 'must be an array of { table, columns }.')
  d.sources.forEach((s, i) => {
    const path = `.sources[${i}]`
    if (s == null || typeof s !== 'object' || typeof s.table !== 'string' || !TABLE.test(s.table)) return bad(`${path}.table`, 'must be a valid table name.')
    if (s.table === d.table) bad(`${path}.table`, 'is the dataset\'s own table.')
    if (!Array.isArray(s.columns) || s.columns.length === 0) bad(`${path}.columns`, 'must list the table\'s columns { name, type }.')
    s.columns.forEach((c, j) => {
      if (typeof c?.name !== 'string' || !IDENT.test(c.name)) bad(`${path}.columns[${j}].name`, `${JSON.stringify(c?.name)} is not a valid column name.`)
      const t = parseType(c.type)
      if (typeof t === 'string') bad(`${path}.columns[${j}].type`, `${t}.`)
    })
  })
}
