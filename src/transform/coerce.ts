/**
 * One coercion rule per column type: a source value (a JSON value, or a CSV
 * cell's text) in, the value the encoder takes out, or a Rejection naming the
 * column, the value and the rule. Factories run once per dataset (see
 * rules.ts); the closures they return run per value. Null and missing values
 * never reach a coercer: the record reader handles them (nullable).
 */
import type { ParsedType } from '../dataset/vocabulary'
import { Rejection, checkText, charLength, preview, typeName } from './values'

export interface CoerceContext {
  column: string
  type: ParsedType
  epoch?: 's' | 'ms'
  /** Values are CSV cell texts: jsonb parses them. */
  csv: boolean
}

export type Coercer = (v: unknown) => unknown
export type CoercerFactory = (c: CoerceContext) => Coercer

const INT_TEXT = /^\s*-?\d{1,20}\s*$/
const FLOAT_TEXT = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/
const INT8_MIN = -(2n ** 63n); const INT8_MAX = 2n ** 63n - 1n
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
/** See cardtrader.ts: a NUL or lone-surrogate escape in JSON.stringify's output. */
const BAD_ESCAPE = /(?<!\\)(?:\\\\)*\\u(0000|d[89a-f][0-9a-f]{2})/i

function mustBe (c: CoerceContext, rule: string, v: unknown, reason = 'invalid_value'): never {
  throw new Rejection(reason, `${c.column} must be ${rule}, got ${typeof v === 'string' ? 'the string ' + preview(v) : typeName(v)}.`)
}

function intCoercer (min: number, max: number) {
  return (c: CoerceContext): Coercer => (v: unknown): number => {
    let n: number
    if (typeof v === 'number') n = v
    else if (typeof v === 'string' && INT_TEXT.test(v)) n = Number(v)
    else return mustBe(c, 'an integer', v, typeof v === 'string' ? 'invalid_value' : 'invalid_type')
    if (!Number.isInteger(n)) mustBe(c, 'an integer', v)
    if (n < min || n > max) throw new Rejection('out_of_range', `${c.column} must be between ${min} and ${max} (${c.type.base}), got ${preview(v)}.`)
    return n
  }
}

function int8 (c: CoerceContext): Coercer {
  return (v: unknown): number | bigint => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) mustBe(c, 'an integer', v)
      if (!Number.isSafeInteger(v)) throw new Rejection('out_of_range', `${c.column} must be an integer a JSON number holds exactly (|n| < 2^53; send larger ones as strings), got ${v}.`)
      return v
    }
    if (typeof v !== 'string') return mustBe(c, 'an integer', v, 'invalid_type')
    if (!INT_TEXT.test(v)) mustBe(c, 'an integer', v)
    const b = BigInt(v.trim())
    if (b < INT8_MIN || b > INT8_MAX) throw new Rejection('out_of_range', `${c.column} must be between ${INT8_MIN} and ${INT8_MAX} (int8), got ${preview(v)}.`)
    return Number.isSafeInteger(Number(b)) ? Number(b) : b
  }
}

function float8 (c: CoerceContext): Coercer {
  return (v: unknown): number => {
    let n: number
    if (typeof v === 'number') n = v
    else if (typeof v === 'string' && FLOAT_TEXT.test(v)) n = Number(v)
    else return mustBe(c, 'a number', v, typeof v === 'string' ? 'invalid_value' : 'invalid_type')
    if (!Number.isFinite(n)) throw new Rejection('out_of_range', `${c.column} must be a finite float8, got ${preview(v)}.`)
    return n
  }
}

function bool (c: CoerceContext): Coercer {
  return (v: unknown): boolean => {
    switch (v) {
      case false: case 0: case 'false': case '0': return false
      case true: case 1: case 'true': case '1': return true
    }
    return mustBe(c, 'a boolean (true/false, "true"/"false", 1/0)', v)
  }
}

function text (c: CoerceContext): Coercer {
  const max = c.type.length
  return (v: unknown): string => {
    let s: string
    if (typeof v === 'string') s = v
    else if (typeof v === 'number' || typeof v === 'boolean') s = String(v)
    else return mustBe(c, 'a string', v, 'invalid_type')
    checkText(s, c.column)
    if (max !== undefined && s.length > max) {
      const n = charLength(s)
      if (n > max) throw new Rejection('value_too_large', `${c.column} must be at most ${max} characters (varchar(${max})), got ${n}.`)
    }
    return s
  }
}

function jsonb (c: CoerceContext): Coercer {
  return (v: unknown): string => {
    let value = v
    if (c.csv) {
      try { value = JSON.parse(v as string) } catch { mustBe(c, 'JSON text (jsonb)', v) }
    }
    let json: string
    try { json = JSON.stringify(value) } catch { throw new Rejection('invalid_value', `${c.column} is nested too deeply to store.`) }
    checkText(json, c.column)
    const bad = json.includes('\\u') ? BAD_ESCAPE.exec(json) : null
    if (bad !== null) {
      if (bad[1] === '0000') throw new Rejection('nul_byte', `${c.column} contains a NUL character, which PostgreSQL jsonb cannot store.`)
      throw new Rejection('invalid_value', `${c.column} contains a lone UTF-16 surrogate, which is not valid Unicode text.`)
    }
    return json
  }
}

function uuid (c: CoerceContext): Coercer {
  return (v: unknown): string => {
    if (typeof v !== 'string') return mustBe(c, 'a uuid', v, 'invalid_type')
    if (!UUID.test(v)) mustBe(c, 'a uuid', v)
    return v
  }
}

// ---------------------------------------------------------------------------
// numeric: exact decimal arithmetic on digit strings, never through a float.
// ---------------------------------------------------------------------------

const DECIMAL = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,6}))?\s*$/
/** Longest decimal accepted for an unconstrained numeric (PostgreSQL allows more; nobody sends it). */
const MAX_NUMERIC_DIGITS = 1000

/**
 * A decimal (JSON number or string) as PostgreSQL's numeric input would
 * store it: rounded half away from zero to the column's scale, rejected when
 * its integer digits exceed precision - scale. The result is canonical text
 * ("-12.3400"), which encode/binary-writer.ts sends in numeric's binary form.
 * A JSON number arrives as a double: it is read as its shortest round-trip
 * text (String(n)), exact for up to 15 significant digits; send longer
 * decimals as strings.
 */
export function toDecimal (v: unknown, column: string, precision?: number, scale?: number): string {
  let s: string
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Rejection('invalid_value', `${column} must be a finite decimal number, got ${v}.`)
    s = String(v)
  } else if (typeof v === 'string') s = v
  else throw new Rejection('invalid_type', `${column} must be a decimal number or a decimal string, got ${typeName(v)}.`)
  const m = s.length <= 2 * MAX_NUMERIC_DIGITS ? DECIMAL.exec(s) : null
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) throw new Rejection('invalid_value', `${column} must be a decimal number, got ${typeof v === 'string' ? 'the string ' + preview(v) : preview(v)}.`)
  const neg = m[1] === '-'
  let digits = m[2] + (m[3] ?? '')
  let point = m[2].length + Number(m[4] ?? 0)
  // Leading zeros carry nothing; keep the point where it was.
  let lead = 0
  while (lead < digits.length - 1 && lead < point && digits.charCodeAt(lead) === 48) lead++
  digits = digits.slice(lead); point -= lead
  if (point < 0) { digits = '0'.repeat(-point) + digits; point = 0 }
  if (point > digits.length) { digits += '0'.repeat(point - digits.length) }
  let frac = digits.length - point
  if (scale !== undefined && frac > scale) {
    // Round half away from zero at the scale, as PostgreSQL does.
    const keep = point + scale
    const up = digits.charCodeAt(keep) >= 53
    digits = digits.slice(0, keep)
    if (up) digits = incrementDigits(digits)
    if (digits.length > keep) point++
    frac = scale
  } else if (scale !== undefined) {
    digits += '0'.repeat(scale - frac); frac = scale
  }
  let intPart = digits.slice(0, digits.length - frac)
  const fracPart = digits.slice(digits.length - frac)
  intPart = intPart.replace(/^0+(?=\d)/, '')
  if (intPart === '') intPart = '0'
  const intDigits = intPart === '0' ? 0 : intPart.length
  if (precision !== undefined && intDigits > precision - (scale ?? 0)) {
    throw new Rejection('out_of_range', `${column} must have at most ${precision - (scale ?? 0)} digits before the point (numeric(${precision},${scale ?? 0})), got ${preview(s)}.`)
  }
  if (intDigits + frac > MAX_NUMERIC_DIGITS) throw new Rejection('value_too_large', `${column} has more than ${MAX_NUMERIC_DIGITS} digits.`)
  const zero = /^0*$/.test(intPart + fracPart)
  return (neg && !zero ? '-' : '') + intPart + (frac > 0 ? '.' + fracPart : '')
}

/** "0999" -> "1000", "99" -> "100": decimal +1 on a digit string. */
function incrementDigits (d: string): string {
  const a = d.split('')
  let i = a.length - 1
  for (; i >= 0; i--) {
    if (a[i] === '9') { a[i] = '0'; continue }
    a[i] = String.fromCharCode(a[i].charCodeAt(0) + 1)
    return a.join('')
  }
  return '1' + a.join('')
}

function numeric (c: CoerceContext): Coercer {
  const { precision, scale } = c.type
  return (v: unknown): string => toDecimal(v, c.column, precision, scale)
}

// ---------------------------------------------------------------------------
// timestamptz and date: ISO 8601, or epoch seconds/milliseconds when the column says so.
// ---------------------------------------------------------------------------

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const EPOCH_TEXT = /^\s*-?\d+(?:\.\d+)?\s*$/
/** PostgreSQL's timestamptz ends in 294276 AD; epoch values beyond year 9999 are refused as likely unit mistakes. */
const MAX_US = 253_402_300_800_000_000n

/** Microseconds since the Unix epoch, or null when `s` is not ISO 8601 or names an impossible date. */
export function isoToMicros (s: string): bigint | null {
  const m = ISO.exec(s.trim())
  if (m === null) return null
  const [y, mo, d, h = 0, mi = 0, sec = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(x => x === undefined ? undefined : Number(x)) as number[]
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return null
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec)
  const back = new Date(ms)
  if (back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1) return null // 2026-02-30
  let us = BigInt(ms) * 1000n + BigInt(Math.round(Number('0.' + (m[7] ?? '0')) * 1e6))
  const z = m[8]
  if (z !== undefined && z !== 'Z' && z !== 'z') {
    const sign = z[0] === '-' ? -1n : 1n
    const oh = BigInt(z.slice(1, 3)); const om = BigInt(z.length > 3 ? z.slice(-2) : '0')
    if (oh > 15n || om > 59n) return null
    us -= sign * (oh * 3600n + om * 60n) * 1_000_000n
  }
  return us
}

function epochMicros (c: CoerceContext, v: unknown): bigint {
  const n = typeof v === 'number' ? v : Number(v)
  const us = BigInt(Math.round(c.epoch === 's' ? n * 1e6 : n * 1e3))
  if (us > MAX_US || us < -MAX_US) throw new Rejection('out_of_range', `${c.column} must be epoch ${c.epoch === 's' ? 'seconds' : 'milliseconds'} before year 10000, got ${preview(v)}.`)
  return us
}

function timestamptz (c: CoerceContext): Coercer {
  const rule = c.epoch === undefined ? 'an ISO 8601 timestamp' : `an ISO 8601 timestamp or epoch ${c.epoch === 's' ? 'seconds' : 'milliseconds'}`
  return (v: unknown): bigint => {
    if (c.epoch !== undefined && (typeof v === 'number' ? Number.isFinite(v) : typeof v === 'string' && EPOCH_TEXT.test(v))) return epochMicros(c, v)
    if (typeof v !== 'string') return mustBe(c, rule, v, 'invalid_type')
    return isoToMicros(v) ?? mustBe(c, rule, v)
  }
}

function date (c: CoerceContext): Coercer {
  const rule = c.epoch === undefined ? 'an ISO 8601 date (YYYY-MM-DD)' : `an ISO 8601 date or epoch ${c.epoch === 's' ? 'seconds' : 'milliseconds'}`
  return (v: unknown): number => {
    if (c.epoch !== undefined && (typeof v === 'number' ? Number.isFinite(v) : typeof v === 'string' && EPOCH_TEXT.test(v))) {
      return Number(epochMicros(c, v) / 1000n / 86_400_000n) - (epochMicros(c, v) < 0n && epochMicros(c, v) % 86_400_000_000n !== 0n ? 1 : 0)
    }
    if (typeof v !== 'string' || !ISO_DATE.test(v.trim())) return mustBe(c, rule, v, typeof v === 'string' ? 'invalid_value' : 'invalid_type')
    const us = isoToMicros(v.trim())
    if (us === null) return mustBe(c, rule, v)
    return Number(us / 86_400_000_000n)
  }
}

export const coercers = {
  int2: intCoercer(-32768, 32767),
  int4: intCoercer(-2147483648, 2147483647),
  int8,
  float8,
  numeric,
  bool,
  text,
  jsonb,
  uuid,
  timestamptz,
  date,
} satisfies Record<string, CoercerFactory>
