/**
 * The fields of one CSV record (RFC 4180): commas separate fields, a field
 * in double quotes may hold commas, newlines and doubled quotes (""). An
 * unquoted empty field is null (SQL NULL); a quoted empty field ("") is the
 * empty string. A trailing CR (CRLF line ends) is dropped. The main thread
 * already cut the record at its end (read/csv-scanner.ts), so a quote left
 * open cannot happen here except at the very end of the input: it is
 * reported, as is a quote in the middle of an unquoted field.
 */
export class CsvSyntaxError extends Error {}

export function parseCsvRecord (s: string): Array<string | null> {
  let end = s.length
  if (end > 0 && s.charCodeAt(end - 1) === 13) end--
  if (s.indexOf('"') < 0) {
    const parts = (end === s.length ? s : s.slice(0, end)).split(',')
    const out = new Array<string | null>(parts.length)
    for (let i = 0; i < parts.length; i++) out[i] = parts[i] === '' ? null : parts[i]
    return out
  }
  return parseQuoted(s, end)
}

function parseQuoted (s: string, end: number): Array<string | null> {
  const out: Array<string | null> = []
  let i = 0
  for (;;) {
    if (s.charCodeAt(i) === 34) {
      let v = ''
      let from = ++i
      for (;;) {
        const q = s.indexOf('"', i)
        if (q < 0 || q >= end) throw new CsvSyntaxError('a quoted field is not closed')
        if (s.charCodeAt(q + 1) === 34) { v += s.slice(from, q + 1); i = from = q + 2; continue }
        v += s.slice(from, q)
        i = q + 1
        break
      }
      out.push(v)
      if (i >= end) return out
      if (s.charCodeAt(i) !== 44) throw new CsvSyntaxError(`unexpected ${JSON.stringify(s[i])} after a quoted field`)
      i++
      if (i === end) { out.push(null); return out }
      continue
    }
    let c = s.indexOf(',', i)
    if (c < 0 || c > end) c = end
    const v = s.slice(i, c)
    if (v.includes('"')) throw new CsvSyntaxError('a quote inside an unquoted field')
    out.push(v === '' ? null : v)
    if (c >= end) return out
    i = c + 1
    if (i === end) { out.push(null); return out }
  }
}
