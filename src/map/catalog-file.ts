import fs from 'node:fs'
import readline from 'node:readline'
import zlib from 'node:zlib'
import type { Readable } from 'node:stream'
import { SyncError } from '../errors'

/**
 * A catalog file lists one (cardtrader_id, print_id, table) per line, either
 * as CSV with a header naming those three columns (others, e.g. a name, are
 * ignored) or as NDJSON objects with those keys. '.gz' is gunzipped. The
 * format is sniffed from the first non-blank line: '{' means NDJSON.
 */
export interface CatalogRow {
  cardtraderId: number
  printId: number
  table: string
  /** 1-based line number, for messages. */
  line: number
}

function garbled (file: string, line: number, what: string): SyncError {
  return new SyncError('BRX_ERR_CATALOG_UNAVAILABLE', `Catalog file ${file} line ${line}: ${what}`, { file, row: line })
}

function int32 (v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN
  return Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 ? n : undefined
}

/** Splits one CSV line, honouring "quoted, fields" and "" escapes; undefined on an unterminated quote. */
export function splitCsvLine (line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(',')
  const out: string[] = []
  let i = 0
  for (;;) {
    if (line[i] === '"') {
      let v = ''
      i++
      for (;;) {
        const q = line.indexOf('"', i)
        if (q < 0) return undefined
        v += line.slice(i, q)
        if (line[q + 1] === '"') { v += '"'; i = q + 2; continue }
        i = q + 1
        break
      }
      out.push(v)
      if (i >= line.length) return out
      if (line[i] !== ',') return undefined
      i++
    } else {
      const c = line.indexOf(',', i)
      if (c < 0) { out.push(line.slice(i)); return out }
      out.push(line.slice(i, c))
      i = c + 1
    }
  }
}

function open (file: string): Readable {
  const s = fs.createReadStream(file)
  return file.endsWith('.gz') ? s.pipe(zlib.createGunzip()) : s
}

/** Streams the rows of a catalog file; every problem is a SyncError naming the file (and line). */
export async function * catalogRows (file: string): AsyncGenerator<CatalogRow> {
  const input = open(file)
  let failure: unknown
  // A gunzip error would otherwise escape the pipe() unhandled.
  input.on('error', (e) => { failure = e })
  const rl = readline.createInterface({ input, crlfDelay: Infinity })
  let line = 0
  let format: 'csv' | 'ndjson' | undefined
  let ci = -1; let pi = -1; let ti = -1; let width = 0
  try {
    for await (const raw of rl) {
      line++
      const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw
      if (text.trim() === '') continue
      if (format === undefined) {
        format = text.trimStart().startsWith('{') ? 'ndjson' : 'csv'
        if (format === 'csv') {
          const names = (splitCsvLine(text) ?? []).map(s => s.trim().toLowerCase())
          ci = names.indexOf('cardtrader_id'); pi = names.indexOf('print_id'); ti = names.indexOf('table')
          width = names.length
          if (ci < 0 || pi < 0 || ti < 0) throw garbled(file, line, `the header must name cardtrader_id, print_id and table (got "${text.slice(0, 200)}").`)
          continue
        }
      }
      let c: unknown, p: unknown, t: unknown
      if (format === 'csv') {
        const f = splitCsvLine(text)
        if (f === undefined || f.length !== width) throw garbled(file, line, `expected ${width} comma-separated fields${f === undefined ? ' (unterminated quote)' : `, got ${f.length}`}.`)
        c = f[ci]; p = f[pi]; t = f[ti]
      } else {
        let o: Record<string, unknown>
        try {
          o = JSON.parse(text)
        } catch (e) {
          throw garbled(file, line, `not valid JSON (${(e as Error).message}).`)
        }
        if (o === null || typeof o !== 'object' || Array.isArray(o)) throw garbled(file, line, 'expected a JSON object with cardtrader_id, print_id and table.')
        c = o.cardtrader_id; p = o.print_id; t = o.table
      }
      const cardtraderId = int32(c)
      const printId = int32(p)
      if (cardtraderId === undefined) throw garbled(file, line, `cardtrader_id ${JSON.stringify(c)} is not a 32-bit integer.`)
      if (printId === undefined) throw garbled(file, line, `print_id ${JSON.stringify(p)} is not a 32-bit integer.`)
      const table = typeof t === 'string' ? t.trim() : ''
      if (table === '') throw garbled(file, line, 'table is missing or empty.')
      yield { cardtraderId, printId, table, line }
    }
    if (failure !== undefined) throw failure
  } catch (e) {
    if (e instanceof SyncError) throw e
    const err = (failure ?? e) as NodeJS.ErrnoException
    const why = err.code === 'ENOENT' ? 'it does not exist' : err.code === 'EACCES' ? 'permission denied' : err.message
    throw new SyncError('BRX_ERR_CATALOG_UNAVAILABLE', `Catalog file ${file} cannot be read: ${why}.`, { file, cause: err })
  } finally {
    rl.close()
    input.destroy()
  }
  if (format === undefined) throw new SyncError('BRX_ERR_CATALOG_UNAVAILABLE', `Catalog file ${file} is empty (expected a CSV header cardtrader_id,print_id,table or NDJSON lines).`, { file })
}
