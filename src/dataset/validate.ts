import { SyncError } from '../errors'
import { findNormalizer, normalizers } from '../transform/normalizers'
import { Rejection } from '../transform/values'
import type { ColumnSpec, DatasetSpec } from './types'
import { TYPES, parseType } from './vocabulary'
import { validateDerived } from './validate-derived'

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/
/** Columns brx-sync adds to staging and temp tables. */
const RESERVED = new Set(['brx_seq', 'brx_ord', 'brx_present'])
const TOP_FIELDS = new Set(['name', 'table', 'scope', 'columns', 'key', 'compare', 'normalizer', 'createdAt', 'updatedAt', 'mirror', 'mapping', 'scopeAlias', 'description', 'mode', 'derived', 'sources'])
const COLUMN_FIELDS = new Set(['name', 'type', 'from', 'nullable', 'min', 'max', 'enum', 'epoch', 'description'])

/**
 * Checks a dataset description and throws BRX_ERR_OPTIONS_INVALID naming the
 * field at fault as a path (`dataset.columns[2].type: 'int' is not a type;
 * known: ...`). `where` prefixes the message (the spec file's name).
 */
export function validateDataset (d: DatasetSpec, where = ''): void {
  const bad = (path: string, msg: string): never => {
    throw new SyncError('BRX_ERR_OPTIONS_INVALID', `${where === '' ? '' : where + ': '}dataset${path}: ${msg}`, { option: 'dataset' })
  }
  if (d == null || typeof d !== 'object' || Array.isArray(d)) bad('', 'must be a preset name, a path to a .json spec, or a dataset description object.')
  for (const k of Object.keys(d)) if (!TOP_FIELDS.has(k)) bad(`.${k}`, `is not a dataset field; known: ${[...TOP_FIELDS].join(', ')}.`)
  if (typeof d.name !== 'string' || d.name.length === 0 || d.name.length > 200) bad('.name', 'must be a non-empty string.')
  checkTable(d.table, bad)
  if (!Array.isArray(d.scope)) bad('.scope', 'must be an array of columns (possibly empty).')
  if (!Array.isArray(d.columns) || d.columns.length === 0) bad('.columns', 'must be a non-empty array of columns.')
  const names = new Set<string>()
  d.scope.forEach((c, i) => checkColumn(c, `.scope[${i}]`, names, bad))
  d.columns.forEach((c, i) => checkColumn(c, `.columns[${i}]`, names, bad))
  const cols = new Map(d.columns.map(c => [c.name, c]))
  validateDerived(d, names, bad)
  if (!Array.isArray(d.key) || d.key.length === 0) bad('.key', 'must name at least one column.')
  d.key.forEach((k, i) => {
    const c = cols.get(k)
    if (c === undefined) return bad(`.key[${i}]`, `"${String(k)}" is not in dataset.columns.`)
    if (d.key.indexOf(k) !== i) bad(`.key[${i}]`, `"${k}" appears twice.`)
    if (c.nullable === true) bad(`.key[${i}]`, `"${k}" is declared nullable, but key columns are never NULL.`)
  })
  if (d.compare !== undefined) {
    if (!Array.isArray(d.compare)) bad('.compare', 'must be an array of column names.')
    const derived = new Set((d.derived ?? []).map(c => c.name))
    d.compare.forEach((k, i) => { if (!cols.has(k) && !derived.has(k)) bad(`.compare[${i}]`, `"${String(k)}" is not in dataset.columns nor dataset.derived.`) })
  }
  for (const f of ['createdAt', 'updatedAt'] as const) {
    const t = d[f]
    if (t == null) continue
    if (typeof t !== 'string' || !IDENT.test(t)) bad(`.${f}`, `${JSON.stringify(t)} is not a valid column name (lower-case letters, digits and _, at most 63 characters).`)
    if (names.has(t)) bad(`.${f}`, `"${t}" is also a column; the merge maintains it.`)
  }
  if (d.createdAt != null && d.createdAt === d.updatedAt) bad('.updatedAt', 'must differ from createdAt.')
  if (d.mirror !== undefined && d.mirror !== 'scoped' && d.mirror !== 'whole-table') bad('.mirror', `must be "scoped" or "whole-table", got ${JSON.stringify(d.mirror)}.`)
  if (d.normalizer !== undefined && (typeof d.normalizer !== 'string' || findNormalizer(d.normalizer) === undefined)) {
    bad('.normalizer', `${JSON.stringify(d.normalizer)} is not a registered normalizer (known: ${Object.keys(normalizers).join(', ')}); leave it out to read records by the columns' rules.`)
  }
  if (d.mapping !== undefined) {
    if (d.mapping === null || typeof d.mapping !== 'object' || typeof d.mapping.from !== 'string' || !Array.isArray(d.mapping.to) || d.mapping.to.length !== 2) bad('.mapping', 'must be { from: column, to: [idColumn, tableColumn] }.')
    for (const m of [d.mapping.from, ...d.mapping.to]) if (!cols.has(m)) bad('.mapping', `names "${m}", which is not in dataset.columns.`)
    const reason = d.mapping.unmappedReason
    if (reason !== undefined && (typeof reason !== 'string' || !IDENT.test(reason))) bad('.mapping.unmappedReason', `must be a reject reason (lower-case letters, digits and _), got ${JSON.stringify(reason)}.`)
  }
  if (d.scopeAlias !== undefined) checkScopeAlias(d, bad)
}

type Bad = (path: string, msg: string) => never

/** `scopeAlias`: option name -> scope column (the CardTrader preset's userId -> user_id). */
function checkScopeAlias (d: DatasetSpec, bad: Bad): void {
  const a = d.scopeAlias as unknown
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return bad('.scopeAlias', 'must be an object { optionName: scopeColumn }.')
  const scopeNames = d.scope.map(c => c.name)
  for (const [option, column] of Object.entries(a as Record<string, unknown>)) {
    if (!/^[a-z][A-Za-z0-9]*$/.test(option)) bad(`.scopeAlias.${option}`, 'is not an option name (camelCase letters and digits).')
    if (typeof column !== 'string' || !scopeNames.includes(column)) bad(`.scopeAlias.${option}`, `must name a scope column (${scopeNames.join(', ') || 'none'}), got ${JSON.stringify(column)}.`)
  }
}

function checkTable (table: unknown, bad: Bad): void {
  if (typeof table !== 'string') return bad('.table', 'must be a table name.')
  const parts = table.split('.')
  if (parts.length > 2 || !parts.every(p => IDENT.test(p))) bad('.table', `"${table}" is not a valid table name ("table" or "schema.table"; lower-case letters, digits and _, at most 63 characters each).`)
  if (parts[0] === 'brx_staging' || table === 'sync_runs' || table === 'brx_migrations') bad('.table', `"${table}" belongs to brx-sync itself.`)
}

function checkColumn (c: ColumnSpec, path: string, names: Set<string>, bad: Bad): void {
  if (c == null || typeof c !== 'object' || Array.isArray(c)) bad(path, 'must be a column object { name, type, ... }.')
  for (const k of Object.keys(c)) if (!COLUMN_FIELDS.has(k)) bad(`${path}.${k}`, `is not a column field; known: ${[...COLUMN_FIELDS].join(', ')}.`)
  if (typeof c.name !== 'string' || !IDENT.test(c.name)) bad(`${path}.name`, `${JSON.stringify(c.name)} is not a valid column name (lower-case letters, digits and _, at most 63 characters).`)
  if (RESERVED.has(c.name)) bad(`${path}.name`, `"${c.name}" is reserved for brx-sync's own use.`)
  if (names.has(c.name)) bad(`${path}.name`, `"${c.name}" appears twice.`)
  names.add(c.name)
  const t = parseType(c.type)
  if (typeof t === 'string') return bad(`${path}.type`, `${t}.`)
  if (c.from !== undefined && (typeof c.from !== 'string' || c.from.length === 0 || c.from.split('.').some(p => p.length === 0))) bad(`${path}.from`, `must be a field name or a dotted path ("reading.temp"), got ${JSON.stringify(c.from)}.`)
  if (c.nullable !== undefined && typeof c.nullable !== 'boolean') bad(`${path}.nullable`, `must be true or false, got ${JSON.stringify(c.nullable)}.`)
  for (const f of ['min', 'max'] as const) {
    if (c[f] === undefined) continue
    if (!TYPES[t.base].ordered) bad(`${path}.${f}`, `applies to numbers only; the column is ${String(c.type)}.`)
    if (typeof c[f] !== 'number' || !Number.isFinite(c[f])) bad(`${path}.${f}`, `must be a number, got ${JSON.stringify(c[f])}.`)
  }
  if (c.min !== undefined && c.max !== undefined && c.min > c.max) bad(`${path}.min`, `${c.min} is greater than max ${c.max}.`)
  if (c.epoch !== undefined) {
    if (t.base !== 'timestamptz' && t.base !== 'date') bad(`${path}.epoch`, `applies to timestamptz and date columns only; the column is ${String(c.type)}.`)
    if (c.epoch !== 's' && c.epoch !== 'ms') bad(`${path}.epoch`, `must be "s" or "ms", got ${JSON.stringify(c.epoch)}.`)
  }
  if (c.enum !== undefined) {
    if (!Array.isArray(c.enum) || c.enum.length === 0) bad(`${path}.enum`, 'must be a non-empty array of allowed values.')
    const coerce = TYPES[t.base].coerce({ column: c.name, type: t, epoch: c.epoch, csv: false })
    c.enum.forEach((v, i) => {
      try { coerce(v) } catch (err) { if (err instanceof Rejection) bad(`${path}.enum[${i}]`, err.message); throw err }
    })
  }
}
