import { SyncError } from '../errors'
import { cardtraderInventory } from './cardtrader'
import { findNormalizer, normalizers } from '../transform/normalizers'
import type { DatasetSpec, PgType } from './types'

export type { DatasetSpec, ColumnSpec, PgType, MappingSpec } from './types'

export const presets: Record<string, DatasetSpec> = {
  [cardtraderInventory.name]: cardtraderInventory,
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/
const PG_TYPES: readonly PgType[] = ['int2', 'int4', 'int8', 'float8', 'bool', 'text', 'jsonb', 'uuid', 'timestamptz', 'date']

/** Validates an identifier from configuration and returns it double-quoted. */
export function quoteIdent (name: string, what = 'identifier'): string {
  if (typeof name !== 'string' || !IDENT.test(name)) {
    throw new SyncError('BRX_ERR_OPTIONS_INVALID', `${what} "${String(name)}" is not a valid identifier (lower-case letters, digits and _, at most 63 characters).`, { option: what })
  }
  return `"${name}"`
}

/** "schema.table" or "table", each part validated and quoted. */
export function quoteTable (name: string, what = 'table'): string {
  const parts = String(name).split('.')
  if (parts.length > 2) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `${what} "${name}" has more than one dot.`, { option: what })
  return parts.map(p => quoteIdent(p, what)).join('.')
}

export function resolveDataset (d: string | DatasetSpec | undefined): DatasetSpec {
  if (d === undefined) return cardtraderInventory
  if (typeof d === 'string') {
    const p = presets[d]
    if (p === undefined) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `options.dataset "${d}" is not a known preset (known: ${Object.keys(presets).join(', ')}).`, { option: 'dataset' })
    return p
  }
  validateDataset(d)
  return d
}

export function validateDataset (d: DatasetSpec): void {
  const bad = (msg: string): never => { throw new SyncError('BRX_ERR_OPTIONS_INVALID', `options.dataset ${msg}`, { option: 'dataset' }) }
  if (d == null || typeof d !== 'object') bad('must be a preset name or a dataset description.')
  quoteTable(d.table, 'dataset.table')
  if (!Array.isArray(d.columns) || d.columns.length === 0) bad('.columns must be a non-empty array.')
  if (!Array.isArray(d.scope)) bad('.scope must be an array (possibly empty).')
  const names = new Set<string>()
  for (const c of [...d.scope, ...d.columns]) {
    quoteIdent(c.name, 'dataset column')
    if (!PG_TYPES.includes(c.type)) bad(`column "${c.name}" has type ${JSON.stringify(c.type)}; known types: ${PG_TYPES.join(', ')}.`)
    if (names.has(c.name)) bad(`column "${c.name}" appears twice.`)
    names.add(c.name)
  }
  const cols = new Set(d.columns.map(c => c.name))
  if (!Array.isArray(d.key) || d.key.length === 0) bad('.key must name at least one column.')
  for (const k of d.key) if (!cols.has(k)) bad(`.key names "${k}", which is not in .columns.`)
  for (const k of d.compare ?? []) if (!cols.has(k)) bad(`.compare names "${k}", which is not in .columns.`)
  if (d.mapping !== undefined) {
    for (const m of [d.mapping.from, ...d.mapping.to]) if (!cols.has(m)) bad(`.mapping names "${m}", which is not in .columns.`)
  }
  for (const t of [d.createdAt, d.updatedAt]) if (t != null) quoteIdent(t, 'dataset timestamp column')
  if (typeof d.normalizer !== 'string' || findNormalizer(d.normalizer) === undefined) bad(`.normalizer ${JSON.stringify(d.normalizer)} is not a registered normalizer (known: ${Object.keys(normalizers).join(', ')}).`)
}

/** Columns that decide "changed" for the merge. */
export function compareColumns (d: DatasetSpec): string[] {
  return d.compare ?? d.columns.map(c => c.name).filter(n => !d.key.includes(n))
}
