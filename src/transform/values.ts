/**
 * Liberal in what we accept, strict in what we store: the CardTrader API's
 * own docs disagree about some types (price_cents as an object, graded as a
 * string), so each reader accepts the forms seen in the wild and returns the
 * one form the table stores, or throws a Rejection naming the field.
 */
export class Rejection {
  constructor (readonly reason: string, readonly message: string) {}
}

export const INT32_MAX = 2_147_483_647
/** Longest text value stored; anything larger is hostile or broken input. */
export const MAX_TEXT = 1_000_000

const DIGITS = /^-?\d{1,16}$/

export function int (v: unknown, field: string, min: number, max: number, required: true): number
export function int (v: unknown, field: string, min: number, max: number, required: false): number | null
export function int (v: unknown, field: string, min: number, max: number, required: boolean): number | null {
  if (v === undefined || v === null) {
    if (required) throw new Rejection('missing_field', `${field} is missing.`)
    return null
  }
  let n: number
  if (typeof v === 'number') n = v
  else if (typeof v === 'string' && DIGITS.test(v.trim())) n = Number(v.trim())
  else if (typeof v === 'string') throw new Rejection('invalid_value', `${field} must be an integer, got the string ${preview(v)}.`)
  else throw new Rejection('invalid_type', `${field} must be an integer, got ${typeName(v)}.`)
  if (!Number.isInteger(n)) throw new Rejection('invalid_value', `${field} must be an integer, got ${n}.`)
  if (n < min || n > max) throw new Rejection('out_of_range', `${field} must be between ${min} and ${max}, got ${n}.`)
  return n
}

export function text (v: unknown, field: string): string | null {
  if (v === undefined || v === null) return null
  let s: string
  if (typeof v === 'string') s = v
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v)
  else throw new Rejection('invalid_type', `${field} must be a string, got ${typeName(v)}.`)
  checkText(s, field)
  return s
}

export function checkText (s: string, field: string): void {
  if (s.length > MAX_TEXT) throw new Rejection('value_too_large', `${field} is ${s.length} characters long; the limit is ${MAX_TEXT}.`)
  // PostgreSQL text and jsonb cannot hold U+0000.
  if (s.indexOf('\u0000') !== -1) throw new Rejection('nul_byte', `${field} contains a NUL character, which PostgreSQL text cannot store.`)
  // A lone UTF-16 surrogate has no UTF-8 form: encoding would silently store U+FFFD instead.
  if (!(s as unknown as { isWellFormed: () => boolean }).isWellFormed()) throw new Rejection('invalid_value', `${field} contains a lone UTF-16 surrogate, which is not valid Unicode text.`)
}

/** Characters as PostgreSQL counts them for varchar(n): code points, not UTF-16 units. */
export function charLength (s: string): number {
  if (s.length <= 1) return s.length
  let n = 0
  for (const _ of s) n++
  return n
}

export function bool (v: unknown, field: string): boolean | null {
  switch (v) {
    case undefined: case null: return null
    case false: case 0: case 'false': case '0': return false
    case true: case 1: case 'true': case '1': return true
  }
  throw new Rejection('invalid_value', `${field} must be a boolean (true/false, "true"/"false", 1/0), got ${preview(v)}.`)
}

export function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function typeName (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${preview(v)}`
}

export function preview (v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v)
  return s.length > 40 ? s.slice(0, 37) + '...' : s
}
