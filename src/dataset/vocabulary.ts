/**
 * The one table of column types. Each entry says how the type is spelled in
 * SQL (DDL, staging, casts), how a source value is coerced into what the
 * encoder takes (src/transform/coerce.ts), and which BinaryWriter method
 * sends it (src/encode/tuple.ts dispatches on the same names; its switch is
 * exhaustive over BaseType, so a type added here without an encoder does not
 * compile). Validation lists the known types from here too.
 */
import { coercers, type CoercerFactory } from '../transform/coerce'

export type BaseType = 'int2' | 'int4' | 'int8' | 'float8' | 'numeric' | 'bool' | 'text' | 'varchar' | 'jsonb' | 'uuid' | 'timestamptz' | 'date'

/** A column type read once: `numeric(12,4)` -> { base: 'numeric', precision: 12, scale: 4 }. */
export interface ParsedType {
  base: BaseType
  /** varchar(n): at most n code points. */
  length?: number
  /** numeric(p,s): p significant digits, s after the point. */
  precision?: number
  scale?: number
}

export interface TypeEntry {
  /** SQL spelling, parameters included. */
  sql: (t: ParsedType) => string
  coerce: CoercerFactory
  /** Numeric ordering applies: min/max allowed. */
  ordered: boolean
  /** The type takes parameters in parentheses (required for varchar, optional for numeric). */
  params: 0 | 1 | 2
}

export const TYPES: Record<BaseType, TypeEntry> = {
  int2: { sql: () => 'smallint', coerce: coercers.int2, ordered: true, params: 0 },
  int4: { sql: () => 'integer', coerce: coercers.int4, ordered: true, params: 0 },
  int8: { sql: () => 'bigint', coerce: coercers.int8, ordered: true, params: 0 },
  float8: { sql: () => 'double precision', coerce: coercers.float8, ordered: true, params: 0 },
  numeric: { sql: t => t.precision === undefined ? 'numeric' : `numeric(${t.precision},${t.scale ?? 0})`, coerce: coercers.numeric, ordered: true, params: 2 },
  bool: { sql: () => 'boolean', coerce: coercers.bool, ordered: false, params: 0 },
  text: { sql: () => 'text', coerce: coercers.text, ordered: false, params: 0 },
  varchar: { sql: t => `varchar(${t.length ?? 0})`, coerce: coercers.text, ordered: false, params: 1 },
  jsonb: { sql: () => 'jsonb', coerce: coercers.jsonb, ordered: false, params: 0 },
  uuid: { sql: () => 'uuid', coerce: coercers.uuid, ordered: false, params: 0 },
  timestamptz: { sql: () => 'timestamptz', coerce: coercers.timestamptz, ordered: false, params: 0 },
  date: { sql: () => 'date', coerce: coercers.date, ordered: false, params: 0 },
}

export const TYPE_NAMES = Object.keys(TYPES) as BaseType[]

/** PostgreSQL's own limits: numeric precision 1..1000, varchar length 1..10485760. */
const MAX_PRECISION = 1000
const MAX_VARCHAR = 10_485_760
const PARAMS = /^([a-z0-9]+)(?:\((\d+)(?:,(\d+))?\))?$/

/** Parses a column type, or returns a sentence saying what is wrong with it. */
export function parseType (type: unknown): ParsedType | string {
  if (typeof type !== 'string') return `must be a type name, got ${JSON.stringify(type)}`
  const m = PARAMS.exec(type.replace(/\s+/g, ''))
  const base = m?.[1] as BaseType | undefined
  if (m === null || base === undefined || !Object.prototype.hasOwnProperty.call(TYPES, base)) return `'${type}' is not a type; known: ${TYPE_NAMES.join(', ')}, varchar(n), numeric(p,s)`
  const e = TYPES[base]
  const a = m[2] === undefined ? undefined : Number(m[2])
  const b = m[3] === undefined ? undefined : Number(m[3])
  if (e.params === 0 && a !== undefined) return `'${type}': ${base} takes no parameters`
  if (base === 'varchar') {
    if (a === undefined || b !== undefined || a < 1 || a > MAX_VARCHAR) return `'${type}': varchar needs one length from 1 to ${MAX_VARCHAR}, e.g. varchar(64)`
    return { base, length: a }
  }
  if (base === 'numeric') {
    if (a === undefined) return { base }
    if (a < 1 || a > MAX_PRECISION) return `'${type}': numeric precision must be from 1 to ${MAX_PRECISION}`
    if (b !== undefined && b > a) return `'${type}': numeric scale must be from 0 to the precision`
    return { base, precision: a, scale: b ?? 0 }
  }
  return { base }
}

/** The SQL spelling of a validated column type. */
export function sqlType (type: string): string {
  const t = parseType(type)
  if (typeof t === 'string') throw new Error(`column type ${t}`)
  return TYPES[t.base].sql(t)
}
