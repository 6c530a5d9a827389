import { setImmediate } from 'node:timers/promises'
import type pg from 'pg'
import { copyOutTo } from '../db/copy-out'
import { quoteIdent, quoteTable, sqlType } from '../dataset'
import type { DatasetSpec } from '../dataset/types'
import { COPY_HEADER, COPY_TRAILER } from '../encode'
import { diffColumns, indexRows, rowRange, skipFields, tableSize, type ExistingRows } from './store'

/**
 * The byte budget for a scope's existing rows (fields, offsets and hash
 * table together). Above it the sync takes the database diff: the bound on
 * the process's memory (400 MB) holds whatever the scope's size. Measured:
 * a 600k-row CardTrader scope (185 MB of store) peaked at 435 MB, the
 * database diff at 247 MB; 128 MiB (about 420k rows of that dataset) leaves
 * the rest of the process its ~250 MB.
 */
export const DIFF_MAX_BYTES = 128 * 1024 * 1024

/** COPY takes no parameters: the scope values are quoted literals, cast to their column's type. */
export function existingCopySql (d: DatasetSpec, scopeValues: ReadonlyArray<string | number>, client: pg.ClientBase, limit?: number): string {
  return `COPY (SELECT ${diffColumns(d).map(c => quoteIdent(c)).join(', ')} FROM ${quoteTable(d.table)} WHERE ${scopeWhere(d, scopeValues, client)}${limit === undefined ? '' : ` LIMIT ${limit}`}) TO STDOUT (FORMAT binary)`
}

function scopeWhere (d: DatasetSpec, scopeValues: ReadonlyArray<string | number>, client: pg.ClientBase): string {
  return d.scope.map((c, i) => `${quoteIdent(c.name)} = ${client.escapeLiteral(String(scopeValues[i]))}::${sqlType(c.type)}`).join(' AND ') || 'TRUE'
}

/** Rows sampled to estimate the bytes a scope's read would hold. */
const SAMPLE_ROWS = 2000

/**
 * What the scope's read would hold, estimated before reading it: its row
 * count (an index-only count under the scope lock) times the bytes per row
 * of a sample of its first rows, plus the offsets and the hash table. A
 * scope clearly over the budget then takes the database diff without being
 * read at all (at 1,000,000 rows the read alone took 2.6 s, only to be
 * dropped), and one within it is read into a buffer of about its size, not
 * grown by copies (a copy of 128 MiB into 192 MiB was the read's peak).
 */
export interface ScopeEstimate { rows: number, bytes: number }

export async function estimateScope (client: pg.ClientBase, d: DatasetSpec, scopeValues: ReadonlyArray<string | number>): Promise<ScopeEstimate> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteTable(d.table)} WHERE ${scopeWhere(d, scopeValues, client)}`)
  const n = Number(rows[0].n)
  if (n === 0) return { rows: 0, bytes: 0 }
  let sampled = 0
  await copyOutTo(client, existingCopySql(d, scopeValues, client, SAMPLE_ROWS), (_b, s, e) => { sampled += e - s })
  const perRow = Math.max(1, sampled - COPY_HEADER.length - COPY_TRAILER.length) / Math.min(n, SAMPLE_ROWS)
  return { rows: n, bytes: Math.ceil(n * perRow) + 4 * (n + 1) + 4 * tableSize(n) }
}

/** A growable byte area in a SharedArrayBuffer, grown by 1.5x up to a cap. */
class SharedBytes {
  buf: SharedArrayBuffer
  /** A Buffer over `buf`: Buffer#copy fills it from a socket chunk without a view per row. */
  view: Buffer
  length = 0
  constructor (private readonly cap: number, initial = 1 << 20) {
    this.buf = new SharedArrayBuffer(Math.min(cap, Math.max(1 << 16, initial)))
    this.view = Buffer.from(this.buf)
  }

  /** Appends `src[s, e)`; false when the cap would be passed: the caller stops keeping bytes. */
  append (src: Buffer, s: number, e: number): boolean {
    const n = e - s
    if (this.length + n > this.view.length) {
      let size = Math.ceil(this.view.length * 1.5)
      while (size < this.length + n) size = Math.ceil(size * 1.5)
      // Near the cap, grow to the cap once: growing by one chunk at a time copied the whole store on every chunk.
      if (size > this.cap) size = this.cap
      if (size < this.length + n) return false
      const next = new SharedArrayBuffer(size)
      const v = Buffer.from(next)
      this.view.copy(v, 0, 0, this.length)
      this.buf = next; this.view = v
    }
    src.copy(this.view, this.length, s, e)
    this.length += n
    return true
  }
}

/**
 * Reads the scope's key and compared columns with one binary COPY (the caller
 * holds the scope lock). Null when the scope passes the byte budget: known
 * from the estimate before reading, or found while reading (the COPY is then
 * drained to its end, so the connection stays usable).
 */
export async function readExisting (client: pg.ClientBase, d: DatasetSpec, scopeValues: ReadonlyArray<string | number>, maxBytes = DIFF_MAX_BYTES, known?: ScopeEstimate): Promise<ExistingRows | null> {
  const estimate = known ?? await estimateScope(client, d, scopeValues)
  if (estimate.rows === 0) return emptyRows(d)
  // 5% over: the sample's rows may be shorter than the rest. Within it, the exact count below decides.
  if (estimate.bytes > maxBytes * 1.05) return null
  const store = new SharedBytes(maxBytes, Math.ceil((estimate.bytes - 4 * (estimate.rows + 1) - 4 * tableSize(estimate.rows)) * 1.1) + COPY_HEADER.length + COPY_TRAILER.length)
  let over = false
  // Over the budget, the COPY is still read to its end (the connection stays usable), nothing kept.
  await copyOutTo(client, existingCopySql(d, scopeValues, client), (b, s, e) => { if (!over && !store.append(b, s, e)) over = true }, YIELD_BYTES)
  if (over) return null
  const bytes = store.view.subarray(0, store.length)
  const keyFields = d.key.length
  const fields = diffColumns(d).length
  const offsets = await rowStarts(bytes, fields)
  const rows = offsets.length - 1
  const indexBytes = 4 * (rows + 1) + 4 * tableSize(rows)
  if (store.length + indexBytes > maxBytes) return null
  const starts = new SharedArrayBuffer(4 * (rows + 1))
  new Uint32Array(starts).set(offsets)
  const table = new SharedArrayBuffer(4 * tableSize(rows))
  const startsView = new Uint32Array(starts); const tableView = new Int32Array(table)
  for (let from = 0; from < rows; from += SLICE_ROWS) {
    indexRows(store.view, startsView, tableView, rows, keyFields, from, Math.min(rows, from + SLICE_ROWS))
    await setImmediate()
  }
  return { bytes: store.buf, starts, table, rows, keyFields }
}

/** An empty scope's store (the caller takes the database diff, as for a first sync). */
function emptyRows (d: DatasetSpec): ExistingRows {
  return { bytes: new SharedArrayBuffer(0), starts: new SharedArrayBuffer(4), table: new SharedArrayBuffer(4 * tableSize(0)), rows: 0, keyFields: d.key.length }
}

/**
 * Rows walked or indexed between two turns of the event loop: at 250k rows
 * the walk and the index took ~70 ms in one piece, during a load that runs
 * alongside (the host's event loop p99 went to 31 ms); a slice of 32k rows
 * still took 25 ms while the workers held the CPU, one of 8k a few ms.
 */
const SLICE_ROWS = 8192

/** Bytes of the scope's COPY taken in between two turns of the event loop (see db/copy-out.ts). */
const YIELD_BYTES = 1 << 20

/** Offsets of every row's first field, plus the end (after the trailer). */
async function rowStarts (b: Uint8Array, fields: number): Promise<Uint32Array> {
  if (b.length < COPY_HEADER.length) throw new Error('existing rows: short binary COPY header')
  const ext = (b[15] << 24) | (b[16] << 16) | (b[17] << 8) | b[18]
  let p = 19 + ext
  const out: number[] = []
  for (;;) {
    const n = (b[p] << 8) | b[p + 1]
    if (n === 0xffff) { out.push(p + 2); break }
    if (n !== fields) throw new Error(`existing rows: a tuple of ${n} fields, expected ${fields}`)
    out.push(p + 2)
    p = skipFields(b, p + 2, n)
    if (out.length % SLICE_ROWS === 0) await setImmediate()
  }
  return Uint32Array.from(out)
}

/**
 * The binary COPY of the keys of rows no input row matched (mirror's
 * deletes), from the store's own bytes: the first `keyFields` fields of each.
 */
export function goneKeys (e: ExistingRows, seen: Uint8Array): { copy: Buffer, rows: number } {
  const bytes = new Uint8Array(e.bytes)
  const starts = new Uint32Array(e.starts)
  const parts: Uint8Array[] = [COPY_HEADER]
  const count = Buffer.from([e.keyFields >>> 8, e.keyFields & 0xff])
  let rows = 0
  for (let i = 0; i < e.rows; i++) {
    if (seen[i] !== 0) continue
    const s = rowRange(starts, i)[0]
    parts.push(count, bytes.subarray(s, skipFields(bytes, s, e.keyFields)))
    rows++
  }
  parts.push(COPY_TRAILER)
  return { copy: Buffer.concat(parts), rows }
}
