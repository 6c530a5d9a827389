import { compareColumns } from '../dataset'
import type { DatasetSpec } from '../dataset/types'
/**
 * The scope's existing rows as the engine diff holds them: no JS object per
 * row, three SharedArrayBuffers the workers read without copying.
 *
 *   bytes   every row's fields as PostgreSQL's binary COPY sent them, the key
 *           columns first (key order), then the compared columns
 *           (per field: int32 length, -1 = NULL, then the value's bytes)
 *   starts  Uint32 offset of row i's first field; row i ends where row i+1's
 *           2-byte field count begins (starts[i + 1] - 2)
 *   table   Int32 open addressing by the hash of the key's bytes: slot + 1, 0 = empty.
 *           The hash only picks where to look: a match is decided by comparing
 *           the key's bytes, and "unchanged" by comparing every compared byte.
 */
export interface ExistingRows {
  bytes: SharedArrayBuffer
  starts: SharedArrayBuffer
  table: SharedArrayBuffer
  rows: number
  /** Fields of the key (they come first in every row). */
  keyFields: number
}

/** FNV-1a over a byte range: where to look, never a decision. */
export function hashBytes (b: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5
  for (let i = s; i < e; i++) h = Math.imul(h ^ b[i], 0x01000193)
  return h >>> 0
}

/** End of `n` binary COPY fields starting at `at`. */
export function skipFields (b: Uint8Array, at: number, n: number): number {
  let p = at
  for (let f = 0; f < n; f++) {
    const len = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]
    p += 4 + (len < 0 ? 0 : len)
  }
  return p
}

export function tableSize (rows: number): number {
  let n = 16
  while (n < rows * 2) n *= 2
  return n
}

/** Row `slot`'s byte range in the store. */
export function rowRange (starts: Uint32Array, slot: number): [number, number] {
  return [starts[slot], starts[slot + 1] - 2]
}

/** Fills the hash table for rows [from, to) (main thread, once per scope read, in slices between which the event loop runs). */
export function indexRows (bytes: Uint8Array, starts: Uint32Array, table: Int32Array, rows: number, keyFields: number, from = 0, to = rows): void {
  const mask = table.length - 1
  for (let i = from; i < to; i++) {
    const s = starts[i]
    let h = hashBytes(bytes, s, skipFields(bytes, s, keyFields)) & mask
    while (table[h] !== 0) h = (h + 1) & mask
    table[h] = i + 1
  }
}

/**
 * The slot whose key bytes equal `row[s, keyEnd)`, or -1. Every candidate
 * in the probe sequence is compared byte by byte: fields are length-prefixed,
 * so a stored row whose first bytes equal a whole encoded key has exactly
 * that key.
 */
export function findSlot (view: StoreView, row: Uint8Array, s: number, keyEnd: number): number {
  const { bytes, starts, table } = view
  const mask = table.length - 1
  const len = keyEnd - s
  for (let h = hashBytes(row, s, keyEnd) & mask; table[h] !== 0; h = (h + 1) & mask) {
    const slot = table[h] - 1
    if (equalBytes(bytes, starts[slot], row, s, len)) return slot
  }
  return -1
}

export interface StoreView { bytes: Uint8Array, starts: Uint32Array, table: Int32Array }

export function viewOf (e: ExistingRows): StoreView {
  return { bytes: new Uint8Array(e.bytes), starts: new Uint32Array(e.starts), table: new Int32Array(e.table) }
}

export function equalBytes (a: Uint8Array, as: number, b: Uint8Array, bs: number, len: number): boolean {
  if (as + len > a.length) return false
  for (let i = 0; i < len; i++) if (a[as + i] !== b[bs + i]) return false
  return true
}

/** Key columns first (key order), then the compared columns: the layout the workers encode too. */
export function diffColumns (d: DatasetSpec): string[] {
  return [...d.key, ...compareColumns(d).filter(c => !d.key.includes(c))]
}
