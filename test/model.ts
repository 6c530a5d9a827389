/**
 * The reference model of a CardTrader inventory sync: what the table must
 * hold and what the report must say after each export, computed the slow,
 * obvious way, in memory. It restates the normalization rules on its own (it
 * imports nothing from src/) so that it can disagree with the engine.
 *
 *   state:  Map<userId, Map<"blueprint_id|external_stock_id", Row>>
 *   applyExport(state, user, records, mode, opts) -> { counts, rejects, ... }
 *
 * Records are the parsed JSON values of the export's elements, in input order;
 * an element that is not valid JSON is passed as `new Malformed(rawText)`.
 */

export const INT32_MAX = 2147483647
export const MAX_TEXT = 1000000

/** An element of the export whose text is not valid JSON. */
export class Malformed {
  constructor (readonly raw: string) {}
}

/** One stored row, compared columns only. properties is canonical JSON text (sorted keys). */
export interface Row {
  blueprint_id: number
  external_stock_id: string
  print_id: number | null
  print_table: string | null
  name_en: string | null
  quantity: number
  price_cents: number
  price_currency: string | null
  properties: string
  description: string | null
  user_data_field: string | null
  graded: boolean | null
  tag: string | null
  game_id: number | null
  expansion_code: string | null
}

export const COMPARED: ReadonlyArray<keyof Row> = [
  'print_id', 'print_table', 'name_en', 'quantity', 'price_cents', 'price_currency', 'properties',
  'description', 'user_data_field', 'graded', 'tag', 'game_id', 'expansion_code',
]

export type State = Map<string, Map<string, Row>>

export interface Counts {
  read: number
  valid: number
  rejected: number
  duplicates: number
  unmapped: number
  excluded: number
  written: number
  inserted: number
  updated: number
  unchanged: number
  deleted: number
}

export interface ModelReject {
  /** 1-based position of the record in the input. */
  row: number
  reason: string
  /** The parsed record, or the raw text of a malformed one. */
  record: unknown
}

export interface ApplyOptions {
  maxDeleteRatio?: number
  allowMassDelete?: boolean
}

export interface ApplyResult {
  counts: Counts
  rejects: ModelReject[]
  rejectReasons: Record<string, number>
  /** Set when the sync must fail; the state is then left as it was. */
  error?: 'BRX_ERR_WIPE_GUARD'
}

/** JSON text with object keys sorted: two jsonb values are equal iff their canonical texts are. */
export function canonicalJson (v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']'
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).sort()
    return '{' + keys.map(k => JSON.stringify(k) + ':' + canonicalJson((v as Record<string, unknown>)[k])).join(',') + '}'
  }
  const s = JSON.stringify(v)
  return s === undefined ? 'null' : s
}

// ---------------------------------------------------------------------------
// Normalization: one product -> one row, or a reject reason.
// The checks run in this order and the first failing one names the reason:
//   the record itself, id, blueprint_id, quantity, price (cents, then currency),
//   properties_hash, expansion.code, name_en, description, user_data_field,
//   graded, tag, game_id.
// ---------------------------------------------------------------------------

export class Reject {
  constructor (readonly reason: string) {}
}

function fail (reason: string): never {
  throw new Reject(reason)
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function hasLoneSurrogate (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (d >= 0xdc00 && d <= 0xdfff) { i++; continue }
      return true
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true
  }
  return false
}

/** PostgreSQL text holds neither U+0000 nor (being UTF-8) a lone surrogate; we never store something other than what was sent. */
function checkString (s: string): void {
  if (s.length > MAX_TEXT) fail('value_too_large')
  if (s.includes('\u0000')) fail('nul_byte')
  if (hasLoneSurrogate(s)) fail('invalid_value')
}

/** An integer given as a JSON number or a string of at most 16 digits (optional '-', surrounding whitespace ignored). */
function readInt (v: unknown, min: number, max: number, required: boolean): number | null {
  if (v === undefined || v === null) {
    if (required) fail('missing_field')
    return null
  }
  let n: number
  if (typeof v === 'number') {
    n = v
  } else if (typeof v === 'string') {
    const t = v.trim()
    if (!/^-?[0-9]{1,16}$/.test(t)) fail('invalid_value')
    n = Number(t)
  } else {
    fail('invalid_type')
  }
  if (!Number.isInteger(n)) fail('invalid_value')
  if (n < min || n > max) fail('out_of_range')
  return n === 0 ? 0 : n // no -0
}

/** Text given as a string, number or boolean (numbers and booleans as JavaScript prints them). */
function readText (v: unknown): string | null {
  if (v === undefined || v === null) return null
  let s: string
  if (typeof v === 'string') s = v
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v)
  else fail('invalid_type')
  checkString(s)
  return s
}

function readBool (v: unknown): boolean | null {
  if (v === undefined || v === null) return null
  if (v === true || v === 1 || v === 'true' || v === '1') return true
  if (v === false || v === 0 || v === 'false' || v === '0') return false
  fail('invalid_value')
}

function readStockId (v: unknown): string {
  if (v === undefined || v === null) fail('missing_field')
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) fail('invalid_value')
    return String(v === 0 ? 0 : v)
  }
  if (typeof v === 'string') {
    // external_stock_id is varchar(64): 64 characters (code points), at least one.
    const chars = [...v].length
    if (chars === 0 || chars > 64) fail('invalid_value')
    checkString(v)
    return v
  }
  fail('invalid_type')
}

/** Every string inside a JSON value, keys included. */
function strings (v: unknown, out: string[]): string[] {
  if (typeof v === 'string') out.push(v)
  else if (Array.isArray(v)) for (const x of v) strings(x, out)
  else if (isObject(v)) for (const k of Object.keys(v)) { out.push(k); strings(v[k], out) }
  return out
}

function readProperties (v: unknown): string {
  if (v === undefined || v === null) return '{}'
  if (!isObject(v)) fail('invalid_type')
  if (JSON.stringify(v).length > MAX_TEXT) fail('value_too_large')
  const all = strings(v, [])
  if (all.some(s => s.includes('\u0000'))) fail('nul_byte')
  if (all.some(hasLoneSurrogate)) fail('invalid_value')
  return canonicalJson(v)
}

/** A product -> its row, or throws Reject. */
export function normalizeProduct (rec: unknown): Row {
  if (rec instanceof Malformed) fail('malformed_json')
  if (!isObject(rec)) fail('not_an_object')

  const stockId = readStockId(rec.id)
  const blueprintId = readInt(rec.blueprint_id, 1, INT32_MAX, true) as number
  const quantity = readInt(rec.quantity, 0, INT32_MAX, true) as number

  // Price: price_cents as a number/string, or price_cents as {cents, currency},
  // or (only when price_cents is absent/null) price as {cents, currency}.
  // price_currency, when given, beats the object's currency.
  let centsValue: unknown = rec.price_cents
  let currency: unknown = rec.price_currency
  let priceObject: Record<string, unknown> | undefined
  if (isObject(rec.price_cents)) priceObject = rec.price_cents
  else if ((rec.price_cents === undefined || rec.price_cents === null) && isObject(rec.price)) priceObject = rec.price
  if (priceObject !== undefined) {
    centsValue = priceObject.cents
    if (currency === undefined || currency === null) currency = priceObject.currency
  }
  const priceCents = readInt(centsValue, 0, INT32_MAX, true) as number
  if (currency === undefined) currency = null
  if (currency !== null && !(typeof currency === 'string' && /^[A-Z]{3}$/.test(currency))) fail('invalid_value')

  const properties = readProperties(rec.properties_hash)
  const expansionCode = isObject(rec.expansion) ? readText(rec.expansion.code) : null
  const nameEn = readText(rec.name_en)
  const description = readText(rec.description)
  const userDataField = readText(rec.user_data_field)
  const graded = readBool(rec.graded)
  const tag = readText(rec.tag)
  const gameId = readInt(rec.game_id, 0, INT32_MAX, false)

  return {
    blueprint_id: blueprintId,
    external_stock_id: stockId,
    print_id: null,
    print_table: null,
    name_en: nameEn,
    quantity,
    price_cents: priceCents,
    price_currency: currency as string | null,
    properties,
    description,
    user_data_field: userDataField,
    graded,
    tag,
    game_id: gameId,
    expansion_code: expansionCode,
  }
}

/** { row } or { reason }. */
export function tryNormalize (rec: unknown): { row: Row, reason?: undefined } | { row?: undefined, reason: string } {
  try {
    return { row: normalizeProduct(rec) }
  } catch (e) {
    if (e instanceof Reject) return { reason: e.reason }
    throw e
  }
}

/** The rejects file keeps at most the first 64 KiB (UTF-8 bytes) of a record that is not JSON. */
export const MAX_RAW_BYTES = 64 * 1024
export function truncateRaw (raw: string): string {
  const b = Buffer.from(raw, 'utf8')
  return b.length <= MAX_RAW_BYTES ? raw : b.subarray(0, MAX_RAW_BYTES).toString('utf8')
}

export function keyOf (row: Row): string {
  return `${row.blueprint_id}|${row.external_stock_id}`
}

export function sameValues (a: Row, b: Row): boolean {
  return COMPARED.every(c => a[c] === b[c])
}

// ---------------------------------------------------------------------------
// The sync itself.
// ---------------------------------------------------------------------------

export function applyExport (state: State, userId: string, records: readonly unknown[], mode: 'mirror' | 'upsert', opts: ApplyOptions = {}): ApplyResult {
  const rejects: ModelReject[] = []
  const rejectReasons: Record<string, number> = {}
  const incoming = new Map<string, Row>()
  let valid = 0

  records.forEach((rec, i) => {
    const r = tryNormalize(rec)
    if (r.reason !== undefined) {
      rejects.push({ row: i + 1, reason: r.reason, record: rec instanceof Malformed ? truncateRaw(rec.raw) : rec })
      rejectReasons[r.reason] = (rejectReasons[r.reason] ?? 0) + 1
      return
    }
    valid++
    const k = keyOf(r.row)
    incoming.delete(k) // the last occurrence wins
    incoming.set(k, r.row)
  })

  const before = state.get(userId) ?? new Map<string, Row>()
  let inserted = 0
  let updated = 0
  let unchanged = 0
  for (const [k, row] of incoming) {
    const old = before.get(k)
    if (old === undefined) inserted++
    else if (sameValues(old, row)) unchanged++
    else updated++
  }
  let deleted = 0
  if (mode === 'mirror') for (const k of before.keys()) if (!incoming.has(k)) deleted++

  const counts: Counts = {
    read: records.length,
    valid,
    rejected: rejects.length,
    duplicates: valid - incoming.size,
    unmapped: 0,
    excluded: 0,
    written: incoming.size,
    inserted,
    updated,
    unchanged,
    deleted,
  }

  const ratio = opts.maxDeleteRatio ?? 0.5
  if (mode === 'mirror' && opts.allowMassDelete !== true && deleted > ratio * before.size) {
    return { counts, rejects, rejectReasons, error: 'BRX_ERR_WIPE_GUARD' }
  }

  let after: Map<string, Row>
  if (mode === 'mirror') {
    after = new Map(incoming)
  } else {
    after = new Map(before)
    for (const [k, row] of incoming) after.set(k, row)
  }
  state.set(userId, after)
  return { counts, rejects, rejectReasons }
}

/** The accounting identities every report must satisfy; returns the violated ones. */
export function identityViolations (c: Counts): string[] {
  const bad: string[] = []
  if (c.read !== c.valid + c.rejected) bad.push(`read ${c.read} != valid ${c.valid} + rejected ${c.rejected}`)
  if (c.valid !== c.written + c.duplicates + c.unmapped + c.excluded) bad.push(`valid ${c.valid} != written ${c.written} + duplicates ${c.duplicates} + unmapped ${c.unmapped} + excluded ${c.excluded}`)
  if (c.written !== c.inserted + c.updated + c.unchanged) bad.push(`written ${c.written} != inserted ${c.inserted} + updated ${c.updated} + unchanged ${c.unchanged}`)
  return bad
}

/** Parses element texts the way the model expects its records. */
export function parseElements (texts: readonly string[]): unknown[] {
  return texts.map(t => {
    try {
      return JSON.parse(t)
    } catch {
      return new Malformed(t)
    }
  })
}
