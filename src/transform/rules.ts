/**
 * A dataset's column rules compiled once into a record reader, the
 * normalizer of every dataset without a named one. Per column, the source
 * path, the coercer, the null rule and the checks (min/max, enum) are
 * resolved up front into closures; per record, the reader only walks them.
 * Unknown fields are ignored.
 */
import type { ColumnSpec, DatasetSpec } from '../dataset/types'
import { TYPES, parseType } from '../dataset/vocabulary'
import type { Coercer } from './coerce'
import type { Normalizer } from './normalizers'
import { Rejection, isPlainObject, preview, typeName } from './values'

export type RecordFormat = 'json' | 'csv'

interface CompiledColumn {
  name: string
  /** The source value of this column in a record (undefined when absent). */
  get: (rec: any) => unknown
  nullable: boolean
  coerce: Coercer
  /** min/max/enum, or null when the column has none. */
  check: ((v: unknown) => void) | null
  /** Filled by the mapping stage, not read from the record. */
  mapped: boolean
  /** The missing_field message (a CSV header without the column's field says so). */
  missing: string
}

/**
 * `(rec, out) => void`: for 'json', `rec` is a parsed record; for 'csv', the
 * record's fields (see csv.ts), named by `header`. Throws a Rejection whose
 * message names the column, the value and the rule.
 */
export function compileRecordReader (spec: DatasetSpec, format: RecordFormat, header?: readonly string[]): Normalizer {
  if (format === 'csv' && header === undefined) throw new Error('a CSV record reader needs the header')
  const mappedCols = new Set(spec.mapping?.to ?? [])
  const keys = new Set(spec.key)
  const cols = spec.columns.map(c => compileColumn(c, format, header, keys.has(c.name), mappedCols.has(c.name)))
  const width = header?.length ?? 0
  const n = cols.length
  return (rec: unknown, out: unknown[]): void => {
    if (format === 'json') {
      if (!isPlainObject(rec)) throw new Rejection('not_an_object', `a record must be a JSON object, got ${typeName(rec)}.`)
    } else if ((rec as unknown[]).length !== width) {
      throw new Rejection('malformed_csv', `the record has ${(rec as unknown[]).length} fields; the header has ${width}.`)
    }
    for (let i = 0; i < n; i++) {
      const c = cols[i]
      if (c.mapped) { out[i] = null; continue }
      const v = c.get(rec)
      if (v === undefined || v === null) {
        if (!c.nullable) throw new Rejection('missing_field', c.missing)
        out[i] = null
        continue
      }
      const x = c.coerce(v)
      if (c.check !== null) c.check(x)
      out[i] = x
    }
  }
}

function compileColumn (c: ColumnSpec, format: RecordFormat, header: readonly string[] | undefined, isKey: boolean, mapped: boolean): CompiledColumn {
  const t = parseType(c.type)
  if (typeof t === 'string') throw new Error(`column ${c.name}: ${t}`)
  const from = c.from ?? c.name
  const coerce = TYPES[t.base].coerce({ column: c.name, type: t, epoch: c.epoch, csv: format === 'csv' })
  const inHeader = format !== 'csv' || (header as readonly string[]).includes(from)
  return {
    name: c.name,
    get: format === 'csv' ? csvGetter(from, header as readonly string[]) : jsonGetter(from),
    missing: inHeader
      ? `${c.name} is missing (the column is not nullable).`
      : `${c.name} is missing: the CSV header has no field "${from}" (it has ${(header as readonly string[]).map(h => JSON.stringify(h)).join(', ')}).`,
    nullable: !isKey && c.nullable !== false,
    coerce,
    check: checker(c, coerce),
    mapped,
  }
}

/** A getter for a dotted path; own properties only ("constructor" in a record is data, not Object's). */
function jsonGetter (from: string): (rec: any) => unknown {
  const path = from.split('.')
  const own = path.map(k => k in Object.prototype)
  if (path.length === 1 && !own[0]) { const k = path[0]; return rec => rec[k] }
  if (path.length === 2 && !own[0] && !own[1]) {
    const [a, b] = path
    return rec => { const o = rec[a]; return isPlainObject(o) ? o[b] : undefined }
  }
  return rec => {
    let o: any = rec
    for (let i = 0; i < path.length; i++) {
      if (!isPlainObject(o) || (own[i] && !Object.prototype.hasOwnProperty.call(o, path[i]))) return undefined
      o = o[path[i]]
    }
    return o
  }
}

/** A field the header lacks reads as missing: NULL, or missing_field when the column is not nullable. */
function csvGetter (from: string, header: readonly string[]): (rec: any) => unknown {
  const at = header.indexOf(from)
  if (at < 0) return () => undefined
  return rec => rec[at]
}

function checker (c: ColumnSpec, coerce: Coercer): ((v: unknown) => void) | null {
  const { min, max } = c
  const allowed = c.enum === undefined ? null : new Set(c.enum.map(v => coerce(v)))
  if (min === undefined && max === undefined && allowed === null) return null
  const list = allowed === null ? '' : [...allowed].map(v => preview(v)).join(', ')
  return (v: unknown): void => {
    if (min !== undefined || max !== undefined) {
      const n = Number(v)
      if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
        throw new Rejection('out_of_range', `${c.name} must be ${min !== undefined && max !== undefined ? `between ${min} and ${max}` : min !== undefined ? `at least ${min}` : `at most ${max}`}, got ${preview(v)}.`)
      }
    }
    if (allowed !== null && !allowed.has(v as never)) throw new Rejection('invalid_value', `${c.name} must be one of ${list}, got ${preview(v)}.`)
  }
}
