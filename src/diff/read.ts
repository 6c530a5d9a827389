import type pg from 'pg'
import { copyOut } from '../db/connections'
import { quoteIdent, quoteTable, sqlType } from '../dataset'
import type { DatasetSpec } from '../dataset/types'
import { COPY_HEADER, COPY_TRAILER } from '../encode'
import { diffColumns, indexRows, rowRange, skipFields, tableSize, type ExistingRows } from './store'

/**
 * The byte budget for a scope's existing rows (fields, offsets and hash
 * table together). Above it the sync takes the database diff: the bound on
 * the process's memory holds whatever the scope's size.
 */
export const DIFF_MAX_BYTES = 192 * 1024 * 1024

/** COPY takes no parameters: the scope values are quoted literals, cast to their column's type. */
export function existingCopySql (d: DatasetSpec, scopeValues: ReadonlyArray<string | number>, client: pg.ClientBase): string {
  const where = d.scope.map((c, i) => `${quoteIdent(c.name)} = ${client.escapeLiteral(String(scopeValues[i]))}::${sqlType(c.type)}`).join(' AND ') || 'TRUE'
  return `COPY (SELECT ${diffColumns(d).map(c => quoteIdent(c)).join(', ')} FROM ${quoteTable(d.table)} WHERE ${where}) TO STDOUT (FORMAT binary)`
}

/** A growable byte area in a SharedArrayBuffer, grown by 1.5x up to a cap. */
class SharedBytes {
  buf = new SharedArrayBuffer(1 << 20)
  view = new Uint8Array(this.buf)
  length = 0
  constructor (private readonly cap: number) {}

  /** False when the cap would be passed: the caller stops keeping bytes. */
  append (chunk: Uint8Array): boolean {
    if (this.length + chunk.length > this.view.length) {
      let size = Math.ceil(this.view.length * 1.5)
      while (size < this.length + chunk.length) size = Math.ceil(size * 1.5)
      if (size > this.cap) size = this.length + chunk.length
      if (size > this.cap) return false
      const next = new SharedArrayBuffer(size)
      const v = new Uint8Array(next)
      v.set(this.view.subarray(0, this.length))
      this.buf = next; this.view = v
    }
    this.view.set(chunk, this.length)
    this.length += chunk.length
    return true
  }
}

/**
 * Reads the scope's key and compared columns with one binary COPY (the caller
 * holds the scope lock). Null when the scope passes the byte budget: the
 * COPY is drained to its end, so the connection stays usable.
 */
export async function readExisting (client: pg.ClientBase, d: DatasetSpec, scopeValues: ReadonlyArray<string | number>, maxBytes = DIFF_MAX_BYTES): Promise<ExistingRows | null> {
  const store = new SharedBytes(maxBytes)
  let over = false
  // Through copyOut: a raw COPY TO would leave pg's query_timeout timer armed (see copyOut).
  const stream = copyOut(client, existingCopySql(d, scopeValues, client))
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => { if (!over && !store.append(c)) over = true })
    stream.on('error', reject)
    stream.on('end', resolve)
  })
  if (over) return null
  const bytes = store.view.subarray(0, store.length)
  const keyFields = d.key.length
  const fields = diffColumns(d).length
  const offsets = rowStarts(bytes, fields)
  const rows = offsets.length - 1
  const indexBytes = 4 * (rows + 1) + 4 * tableSize(rows)
  if (store.length + indexBytes > maxBytes) return null
  const starts = new SharedArrayBuffer(4 * (rows + 1))
  new Uint32Array(starts).set(offsets)
  const table = new SharedArrayBuffer(4 * tableSize(rows))
  indexRows(store.view, new Uint32Array(starts), new Int32Array(table), rows, keyFields)
  return { bytes: store.buf, starts, table, rows, keyFields }
}

/** Offsets of every row's first field, plus the end (after the trailer). */
function rowStarts (b: Uint8Array, fields: number): Uint32Array {
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
