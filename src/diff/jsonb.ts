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
