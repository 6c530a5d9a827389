/**
 * PostgreSQL's output text of a jsonb value (jsonb_out), from the JSON text
 * the normalizer produced with JSON.stringify — or null when it cannot be
 * produced exactly, and the row is then staged for PostgreSQL to compare.
 *
 * Why equal text proves an unchanged value: jsonb_out is injective (jsonb_in
 * of its text gives the value back), and the text built here denotes the
 * same jsonb as the input text — it only reorders keys as jsonb stores them
 * (shorter first, then bytewise), and respaces. Numbers are the input's own
 * digits: the input was written by JSON.stringify, whose digits round-trip
 * through JSON.parse, and only integers with at most 15 digits and plain
 * decimals (no exponent) are accepted — written the same by numeric_out.
 * Strings are accepted only when JSON.stringify's escaping equals
 * PostgreSQL's (no lone surrogate; control characters escape alike).
 */
export function pgJsonbText (json: string): string | null {
  let v: unknown
  try { v = JSON.parse(json) } catch { return null }
  const out: string[] = []
  return emit(v, out) ? out.join('') : null
}

const PLAIN_NUMBER = /^-?(0|[1-9]\d{0,14})(\.\d{1,15})?$/
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

function emit (v: unknown, out: string[]): boolean {
  if (v === null) { out.push('null'); return true }
  switch (typeof v) {
    case 'boolean': out.push(v ? 'true' : 'false'); return true
    case 'number': {
      const s = JSON.stringify(v)
      // -0 prints "0" in JS but numeric keeps no sign either; exponents and long digits differ: stage.
      if (!PLAIN_NUMBER.test(s)) return false
      out.push(s)
      return true
    }
    case 'string': return str(v, out)
    case 'object': {
      if (Array.isArray(v)) {
        out.push('[')
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out.push(', ')
          if (!emit(v[i], out)) return false
        }
        out.push(']')
        return true
      }
      const o = v as Record<string, unknown>
      const keys = Object.keys(o).sort(jsonbKeyOrder)
      out.push('{')
      for (let i = 0; i < keys.length; i++) {
        if (i > 0) out.push(', ')
        if (!str(keys[i], out)) return false
        out.push(': ')
        if (!emit(o[keys[i]], out)) return false
      }
      out.push('}')
      return true
    }
    default: return false
  }
}

function str (s: string, out: string[]): boolean {
  if (LONE_SURROGATE.test(s)) return false
  // JSON.stringify escapes " \ \b \f \n \r \t and other controls as \u00xx (lowercase), as PostgreSQL's escape_json does.
  out.push(JSON.stringify(s))
  return true
}

const ASCII = /^[\x00-\x7f]*$/

/** jsonb's key order: by UTF-8 length, then bytewise (for ASCII, UTF-16 order is byte order). */
function jsonbKeyOrder (a: string, b: string): number {
  if (ASCII.test(a) && ASCII.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
  const ab = Buffer.from(a, 'utf8'); const bb = Buffer.from(b, 'utf8')
  return ab.length - bb.length || Buffer.compare(ab, bb)
}

const QUOTE = 0x22; const BACKSLASH = 0x5c; const COLON = 0x3a; const COMMA = 0x2c; const SPACE = 0x20
const OPEN = 0x7b; const CLOSE = 0x7d; const MINUS = 0x2d; const DOT = 0x2e
const MAX_MEMBERS = 64
/** Member spans of the object being compared: key start/end (quotes included), value start/end. */
const spans = new Int32Array(4 * MAX_MEMBERS)
const order = new Int32Array(MAX_MEMBERS)

/**
 * Whether the compact JSON object text `raw[rs, re)` (no whitespace, as
 * JSON.stringify writes it) is the jsonb value whose PostgreSQL text is
 * `pg[ps, pe)`, without building that text: the members are found in place,
 * put in jsonb's key order (byte length, then bytes) and compared piece by
 * piece with PostgreSQL's `{"k": v, ...}`.
 *
 * true: equal. false: the texts differ — PostgreSQL's text is canonical, so
 * the values may still be equal (a `\/` escape, say); the row is then staged
 * and PostgreSQL decides. null: not a flat object this reads (nesting, an
 * escaped key, a duplicate key, an exponent, -0, whitespace, a lone
 * surrogate): the caller takes pgJsonbText.
 *
 * Why "true" is proof: strings and keys are compared as their escaped bytes
 * (the same bytes denote the same string), numbers as their digits (plain
 * decimals only, which numeric_out writes back digit for digit, scale kept),
 * and keys without escapes sort by their UTF-8 bytes, which is jsonb's order.
 */
export function sameFlatJsonb (raw: Uint8Array, rs: number, re: number, pg: Uint8Array, ps: number, pe: number): boolean | null {
  if (re - rs < 2 || raw[rs] !== OPEN || raw[re - 1] !== CLOSE) return null
  let n = 0
  let p = rs + 1
  if (p < re - 1) {
    for (;;) {
      if (n === MAX_MEMBERS || raw[p] !== QUOTE) return null
      const ks = p
      for (p++; p < re && raw[p] !== QUOTE; p++) if (raw[p] === BACKSLASH) return null
      if (p >= re) return null
      p++
      const ke = p
      if (raw[p++] !== COLON) return null
      const vs = p
      p = scalarEnd(raw, p, re)
      if (p < 0) return null
      spans[4 * n] = ks; spans[4 * n + 1] = ke; spans[4 * n + 2] = vs; spans[4 * n + 3] = p
      n++
      if (raw[p] === COMMA) { p++; continue }
      if (p === re - 1) break
      return null
    }
  }
  // Insertion sort into jsonb's key order (a handful of members).
  for (let i = 0; i < n; i++) {
    let j = i
    while (j > 0 && keyOrder(raw, order[j - 1], i) > 0) { order[j] = order[j - 1]; j-- }
    order[j] = i
  }
  for (let i = 1; i < n; i++) if (keyOrder(raw, order[i - 1], order[i]) === 0) return null
  let q = ps
  if (pg[q++] !== OPEN) return false
  for (let i = 0; i < n; i++) {
    const m = 4 * order[i]
    if (i > 0) { if (pg[q] !== COMMA || pg[q + 1] !== SPACE) return false; q += 2 }
    if (!same(raw, spans[m], spans[m + 1], pg, q, pe)) return false
    q += spans[m + 1] - spans[m]
    if (pg[q] !== COLON || pg[q + 1] !== SPACE) return false
    q += 2
    if (!same(raw, spans[m + 2], spans[m + 3], pg, q, pe)) return false
    q += spans[m + 3] - spans[m + 2]
  }
  return pg[q] === CLOSE && q + 1 === pe
}

/** Byte-length then bytewise order of two members' keys (quotes included on both sides: same order). */
function keyOrder (raw: Uint8Array, a: number, b: number): number {
  const as = spans[4 * a]; const al = spans[4 * a + 1] - as
  const bs = spans[4 * b]; const bl = spans[4 * b + 1] - bs
  if (al !== bl) return al - bl
  for (let i = 0; i < al; i++) { const d = raw[as + i] - raw[bs + i]; if (d !== 0) return d }
  return 0
}

function same (a: Uint8Array, s: number, e: number, b: Uint8Array, at: number, end: number): boolean {
  if (at + (e - s) > end) return false
  for (let i = s; i < e; i++) if (a[i] !== b[at + i - s]) return false
  return true
}

/** End of the scalar at `p` (a string, a plain decimal, true, false, null), or -1. */
function scalarEnd (b: Uint8Array, p: number, e: number): number {
  const c = b[p]
  if (c === QUOTE) {
    for (p++; p < e; p++) {
      const x = b[p]
      if (x === QUOTE) return p + 1
      if (x === BACKSLASH) {
        // \uD800-\uDFFF: maybe a lone surrogate, which PostgreSQL refuses or writes otherwise.
        if (b[p + 1] === 0x75 && (b[p + 2] | 0x20) === 0x64 && b[p + 3] >= 0x38) return -1
        p++
      } else if (x < 0x20) return -1
    }
    return -1
  }
  if (c === 0x74) return word(b, p, e, 'true')
  if (c === 0x66) return word(b, p, e, 'false')
  if (c === 0x6e) return word(b, p, e, 'null')
  // -?(0|[1-9][0-9]*)(\.[0-9]+)? and not -0...: numeric keeps these digits and scale, and writes no "-0".
  const s = p
  if (b[p] === MINUS) { p++; if (b[p] === 0x30) return -1 }
  if (b[p] === 0x30) p++
  else if (b[p] >= 0x31 && b[p] <= 0x39) { while (p < e && b[p] >= 0x30 && b[p] <= 0x39) p++ } else return -1
  if (b[p] === DOT) {
    p++
    const d = p
    while (p < e && b[p] >= 0x30 && b[p] <= 0x39) p++
    if (p === d) return -1
  }
  return p > s && p < e ? p : -1
}

function word (b: Uint8Array, p: number, e: number, w: string): number {
  if (p + w.length > e) return -1
  for (let i = 0; i < w.length; i++) if (b[p + i] !== w.charCodeAt(i)) return -1
  return p + w.length
}
