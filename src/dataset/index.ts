import fs from 'node:fs'
import { SyncError, optionError, syncError } from '../errors'
import { cardtraderInventory } from './cardtrader'
import { catalogSnapshots, marketCandles, orderBook } from './presets'
import type { DatasetSpec, SyncMode } from './types'
import { validateDataset } from './validate'

export type { DatasetSpec, ColumnSpec, PgType, MappingSpec, DerivedSpec, AggregateSpec, ArithmeticSpec, SourceTableSpec, SyncMode } from './types'
export { TYPES, TYPE_NAMES, parseType, sqlType, type BaseType, type ParsedType } from './vocabulary'
export { validateDataset } from './validate'

export const presets: Record<string, DatasetSpec> = {
  [cardtraderInventory.name]: cardtraderInventory,
  [catalogSnapshots.name]: catalogSnapshots,
  [marketCandles.name]: marketCandles,
  [orderBook.name]: orderBook,
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/

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

/** A spec file: a .json path, or anything with a path separator. */
export function isSpecPath (s: string): boolean {
  return /\.json$/i.test(s) || s.includes('/') || s.includes('\\')
}

/**
 * A preset name, a path to a .json spec file, or a description object ->
 * a validated dataset. Default: the CardTrader inventory preset.
 */
export function resolveDataset (d: string | DatasetSpec | undefined): DatasetSpec {
  if (d === undefined) return cardtraderInventory
  if (typeof d === 'string') {
    if (Object.prototype.hasOwnProperty.call(presets, d)) return presets[d]
    if (!isSpecPath(d)) throw optionError('dataset', `"${d}" is not a known preset (known: ${Object.keys(presets).join(', ')}) nor a path to a .json spec.`)
    return loadDatasetFile(d)
  }
  validateDataset(d)
  return d
}

/** Reads and validates a spec file (once per sync: a few kilobytes). */
export function loadDatasetFile (file: string): DatasetSpec {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw syncError('BRX_ERR_OPTIONS_INVALID', ['dataset', `names the spec file ${file}, which cannot be read: ${(err as Error).message}.`], { option: 'dataset', file, cause: err })
  }
  let spec: DatasetSpec
  try {
    spec = JSON.parse(text) as DatasetSpec
  } catch (err) {
    throw syncError('BRX_ERR_OPTIONS_INVALID', ['dataset', `names the spec file ${file}, which is not valid JSON: ${(err as Error).message}.`], { option: 'dataset', file })
  }
  validateDataset(spec, file)
  return spec
}

/** Columns that decide "changed" for the merge. */
export function compareColumns (d: DatasetSpec): string[] {
  return d.compare ?? [...d.columns, ...(d.derived ?? [])].map(c => c.name).filter(n => !d.key.includes(n))
}

/**
 * Mirror with an empty scope deletes every row of the table missing from the
 * input: refused unless the spec says `"mirror": "whole-table"` or the caller
 * passes allowUnscopedMirror. A named normalizer reads JSON records only.
 */
export function checkSyncPlan (d: DatasetSpec, plan: { mode: SyncMode, allowUnscopedMirror: boolean, format: string }): void {
  if (plan.mode === 'mirror' && d.scope.length === 0 && d.mirror !== 'whole-table' && !plan.allowUnscopedMirror) {
    throw optionError('mode', `"mirror" would delete every row of ${d.table} missing from the input: dataset ${d.name} has no scope columns. Say "mirror": "whole-table" in the spec, pass allowUnscopedMirror (--allow-unscoped-mirror), or use mode "upsert".`)
  }
  if (plan.format === 'csv' && d.normalizer !== undefined) {
    throw optionError('format', `"csv" cannot feed dataset ${d.name}: its normalizer "${d.normalizer}" takes JSON records; CSV input needs a dataset read by column rules.`)
  }
}
