/**
 * A reference model for datasets read by column rules (no named normalizer),
 * restated the slow, obvious way and importing nothing from src/: what a
 * record becomes (each column's value as PostgreSQL prints it, ::text, with
 * timezone UTC), or the reason it is rejected; and what a sync does to the
 * table and the report. The record rules it restates, per column in order:
 * a missing or null value is NULL (or missing_field when not nullable), then
 * the type's rule, then min/max, then enum.
 */

export interface ModelColumn {
  name: string
  type: string
  from?: string
  nullable?: boolean
  min?: number
  max?: number
  enum?: unknown[]
  epoch?: 's' | 'ms'
}

export interface ModelSpec {
  scope: Array<{ name: string, type: string }>
  columns: ModelColumn[]
  key: string[]
  compare?: string[]
}

/** A stored row: column name -> PostgreSQL's text of the value (null for NULL). */
export type ModelRow = Record<string, string | null>

export class ModelReject { constructor (readonly reason: string) {} }
const fail = (reason: string): never => { throw new ModelReject(reason) }

// --- numbers ----------------------------------------------------------------

/** Decimal text -> [digits as BigInt, exponent]: value = digits * 10^exp. */
function parseDecimal (s: string): [bigint, number] | null {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(s)
  if (m === null || (m[2] + (m[3] ?? '')) === '') return null
  const frac = m[3] ?? ''
  const mant = BigInt((m[1] === '-' ? '-' : '') + (m[2] + frac).replace(/^0+(?=\d)/, ''))
  return [mant, Number(m[4] ?? 0) - frac.length]
}

/** numeric(p,s) as PostgreSQL stores it: rounded half away from zero at s, printed with exactly s decimals. */
export function modelNumeric (v: unknown, p: number, s: number): string {
  const text = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : fail('invalid_value')) : typeof v === 'string' ? v : fail('invalid_type')
  const d = parseDecimal(text) ?? fail('invalid_value')
  let [mant, exp] = d
  // scaled = round(mant * 10^(exp + s))
  const shift = exp + s
  let scaled: bigint
  if (shift >= 0) scaled = mant * 10n ** BigInt(shift)
  else {
    const div = 10n ** BigInt(-shift)
    const neg = mant < 0n
    if (neg) mant = -mant
    let q = mant / div
    if ((mant % div) * 2n >= div) q += 1n
    scaled = neg ? -q : q
  }
  const neg = scaled < 0n
  const abs = (neg ? -scaled : scaled).toString().padStart(s + 1, '0')
  const intPart = abs.slice(0, abs.length - s)
  if (intPart.replace(/^0+/, '').length > p - s) fail('out_of_range')
  return (neg ? '-' : '') + intPart + (s > 0 ? '.' + abs.slice(abs.length - s) : '')
}

function modelInt (v: unknown, min: number, max: number): string {
  let n: number
  if (typeof v === 'number') n = v
  else if (typeof v === 'string' && /^\s*-?[0-9]{1,20}\s*$/.test(v)) n = Number(v)
  else return fail(typeof v === 'string' ? 'invalid_value' : 'invalid_type')
  if (!Number.isInteger(n)) fail('invalid_value')
  if (n < min || n > max) fail('out_of_range')
  return String(n)
}

function modelFloat (v: unknown): number {
  let n: number
  if (typeof v === 'number') n = v
  else if (typeof v === 'string' && v.trim() !== '' && /^[\s0-9eE.+-]+$/.test(v) && !Number.isNaN(Number(v))) n = Number(v)
  else return fail(typeof v === 'string' ? 'invalid_value' : 'invalid_type')
  if (!Number.isFinite(n)) fail('out_of_range')
  return n
}

// --- text, json, time ---------------------------------------------------------

function codePoints (s: string): number { return [...s].length }

function modelText (v: unknown, max?: number): string {
  let s: string
  if (typeof v === 'string') s = v
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v)
  else return fail('invalid_type')
  if (s.includes('\u0000')) fail('nul_byte')
  if (max !== undefined && codePoints(s) > max) fail('value_too_large')
  return s
}

/** PostgreSQL prints timestamptz (timezone UTC) as "YYYY-MM-DD HH:MM:SS[.ffffff]+00", trailing zeros of the fraction dropped. */
export function pgTimestampText (ms: number): string {
  const iso = new Date(ms).toISOString() // YYYY-MM-DDTHH:MM:SS.mmmZ
  const frac = iso.slice(20, 23).replace(/0+$/, '')
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac === '' ? '' : '.' + frac}+00`
}

function modelTimestamp (v: unknown, epoch?: 's' | 'ms'): string {
  if (epoch !== undefined && (typeof v === 'number' || (typeof v === 'string' && /^-?\d+$/.test(v)))) {
    return pgTimestampText(Number(v) * (epoch === 's' ? 1000 : 1))
  }
  if (typeof v !== 'string') return fail('invalid_type')
  // The generator writes toISOString() forms (UTC, milliseconds) and a few offsets; new Date() reads both.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:\d{2})$/.test(v)) fail('invalid_value')
  const ms = new Date(v).getTime()
  if (Number.isNaN(ms)) fail('invalid_value')
  return pgTimestampText(ms)
}

/** jsonb's text: keys sorted by length then bytes (as jsonb stores them), ", " and ": " separators. */
export function pgJsonbText (v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(pgJsonbText).join(', ') + ']'
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)))
    return '{' + keys.map(k => JSON.stringify(k) + ': ' + pgJsonbText((v as Record<string, unknown>)[k])).join(', ') + '}'
  }
  return JSON.stringify(v)
}

function coerce (c: ModelColumn, v: unknown, csv: boolean): string {
  const t = c.type
  let m: RegExpExecArray | null
  if (t === 'int4') return modelInt(v, -2147483648, 2147483647)
  if (t === 'int2') return modelInt(v, -32768, 32767)
  if (t === 'float8') return String(modelFloat(v))
  if ((m = /^numeric\((\d+),(\d+)\)$/.exec(t)) !== null) return modelNumeric(v, Number(m[1]), Number(m[2]))
  if (t === 'text') return modelText(v)
  if ((m = /^varchar\((\d+)\)$/.exec(t)) !== null) return modelText(v, Number(m[1]))
  if (t === 'bool') {
    if (v === true || v === 1 || v === 'true' || v === '1') return 'true'
    if (v === false || v === 0 || v === 'false' || v === '0') return 'false'
    return fail('invalid_value')
  }
  if (t === 'timestamptz') return modelTimestamp(v, c.epoch)
  if (t === 'jsonb') {
    let j = v
    if (csv) { try { j = JSON.parse(v as string) } catch { fail('invalid_value') } }
    if (JSON.stringify(j).includes('\\u0000')) fail('nul_byte')
    return pgJsonbText(j)
  }
  throw new Error(`the model does not know type ${t}`)
}

/** JSON: a dotted path into nested objects. CSV: the flat record keyed by header names. */
function sourceValue (rec: Record<string, unknown>, from: string, csv: boolean): unknown {
  if (csv) return rec[from]
  let o: unknown = rec
  for (const k of from.split('.')) {
    if (typeof o !== 'object' || o === null || Array.isArray(o) || !Object.prototype.hasOwnProperty.call(o, k)) return undefined
    o = (o as Record<string, unknown>)[k]
  }
  return o
}

/** One record -> a row (PostgreSQL text per column), or throws ModelReject. */
export function modelRow (spec: ModelSpec, rec: unknown, csv: boolean): ModelRow {
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) fail('not_an_object')
  const row: ModelRow = {}
  for (const c of spec.columns) {
    const v = sourceValue(rec as Record<string, unknown>, c.from ?? c.name, csv)
    if (v === undefined || v === null) {
      if (c.nullable === false || spec.key.includes(c.name)) fail('missing_field')
      row[c.name] = null
      continue
    }
    const text = coerce(c, v, csv)
    const n = Number(text)
    if ((c.min !== undefined && n < c.min) || (c.max !== undefined && n > c.max)) fail('out_of_range')
    if (c.enum !== undefined && !c.enum.map(String).includes(text)) fail('invalid_value')
    row[c.name] = text
  }
  return row
}

// --- a sync -------------------------------------------------------------------

export interface ModelCounts { read: number, valid: number, rejected: number, duplicates: number, written: number, inserted: number, updated: number, unchanged: number, deleted: number }

/**
 * Applies one input (records in order) to one scope's rows: last occurrence
 * of a key wins; mirror deletes the scope's keys absent from the input.
 */
export function modelSync (spec: ModelSpec, rows: Map<string, ModelRow>, records: readonly unknown[], mode: 'mirror' | 'upsert', csv: boolean): { counts: ModelCounts, rejects: Array<{ row: number, reason: string }> } {
  const rejects: Array<{ row: number, reason: string }> = []
  const latest = new Map<string, ModelRow>()
  let valid = 0
  records.forEach((rec, i) => {
    try {
      const r = modelRow(spec, rec, csv)
      valid++
      const k = spec.key.map(x => r[x]).join('\u0001')
      latest.delete(k)
      latest.set(k, r)
    } catch (err) {
      if (!(err instanceof ModelReject)) throw err
      rejects.push({ row: i + 1, reason: err.reason })
    }
  })
  const compare = spec.compare ?? spec.columns.map(c => c.name).filter(n => !spec.key.includes(n))
  let inserted = 0; let updated = 0; let unchanged = 0; let deleted = 0
  for (const [k, r] of latest) {
    const old = rows.get(k)
    if (old === undefined) inserted++
    else if (compare.every(c => old[c] === r[c])) { unchanged++; continue } else updated++
    rows.set(k, r)
  }
  if (mode === 'mirror') for (const k of [...rows.keys()]) if (!latest.has(k)) { rows.delete(k); deleted++ }
  return {
    counts: { read: records.length, valid, rejected: records.length - valid, duplicates: valid - latest.size, written: latest.size, inserted, updated, unchanged, deleted },
    rejects,
  }
}
