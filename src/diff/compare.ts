import type { DatasetSpec } from '../dataset/types'
import { BinaryWriter } from '../encode'
import { diffColumns, equalBytes, findSlot, viewOf, type ExistingRows, type StoreView } from './store'
import { pgJsonbText, sameFlatJsonb } from './jsonb'

/** What the worker tells the main thread about each encoded row. */
export interface DiffMarks {
  /** The existing row with the same key, or -1 (a new key). */
  slots: Int32Array
  /** 1 = every compared byte equals the existing row's: the row need not be staged. */
  same: Uint8Array
}

/** Row `i`'s marks from RowComparer.classify's answer. */
export function setMark (marks: DiffMarks, i: number, c: number): void {
  marks.slots[i] = c < 0 ? -1 : c >>> 1
  marks.same[i] = c < 0 ? 0 : c & 1
}

/**
 * Canonical jsonb fields of values sameFlatJsonb does not read (nested ones),
 * by the text the normalizer wrote, kept across a worker's partitions (the
 * texts repeat across an export); past JSONB_MEMO distinct texts the memo
 * starts over.
 */
const JSONB_MEMO = 16384
const memo = new Map<string, Uint8Array | null>()

/**
 * Compares encoded rows with the scope's existing ones in the worker, on the
 * bytes the tuple encoder already wrote: PostgreSQL's binary COPY sends
 * every compared type in the same bytes the encoder writes for the same
 * value, so a row's key fields are looked up by their bytes and each compared
 * field is compared byte for byte with the stored one, nothing encoded twice.
 *
 * jsonb is the one type whose bytes depend on how the text was written:
 * PostgreSQL sends its canonical text (see jsonb.ts). A field equal as
 * written is equal; a flat object is compared in place with the stored text
 * in jsonb's key order (sameFlatJsonb); any other value by its canonical
 * text (pgJsonbText, memoized). A value with no exact canonical text makes
 * the row "changed" — staged, for PostgreSQL's IS DISTINCT FROM to decide.
 */
export class RowComparer {
  private readonly view: StoreView
  /** Per diff column (store order): its field index in the tuple, and whether it is jsonb. */
  private readonly fieldOf: Int32Array
  private readonly jsonbAt: Uint8Array
  private readonly keyFields: number
  /** The key's fields are one contiguous run of the tuple, in key order: looked up in place. */
  private readonly keyInPlace: boolean
  /** Field start offsets of the tuple being compared (one slot past the last field). */
  private readonly starts: Int32Array
  private readonly scratch = new BinaryWriter(256)

  /** `prefix`: fields the tuple layout writes before the dataset's columns. */
  constructor (existing: ExistingRows, dataset: DatasetSpec, prefix: number) {
    this.view = viewOf(existing)
    this.keyFields = existing.keyFields
    const names = diffColumns(dataset)
    const cols = names.map(name => {
      const index = dataset.columns.findIndex(c => c.name === name)
      if (index < 0) throw new Error(`engine diff: compared column ${name} is not encoded by the workers`)
      return index
    })
    this.fieldOf = Int32Array.from(cols, i => prefix + i)
    this.jsonbAt = Uint8Array.from(cols, i => dataset.columns[i].type === 'jsonb' ? 1 : 0)
    let inPlace = true
    for (let k = 1; k < this.keyFields; k++) if (this.fieldOf[k] !== this.fieldOf[k - 1] + 1) inPlace = false
    this.keyInPlace = inPlace
    this.starts = new Int32Array(prefix + dataset.columns.length + 2)
  }

  /**
   * -1 for a key the scope lacks; else the existing row's slot times two,
   * plus one when the row equals it exactly (a number: no array per row).
   * `b` holds the row's tuple from `at` (field count first).
   */
  classify (b: Uint8Array, at: number): number {
    const starts = this.starts
    const n = (b[at] << 8) | b[at + 1]
    let p = at + 2
    for (let f = 0; f < n; f++) {
      starts[f] = p
      const len = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]
      p += 4 + (len < 0 ? 0 : len)
    }
    starts[n] = p
    const fieldOf = this.fieldOf
    const k = this.keyFields
    let slot: number
    if (this.keyInPlace) {
      slot = findSlot(this.view, b, starts[fieldOf[0]], starts[fieldOf[k - 1] + 1])
    } else {
      const w = this.scratch
      w.pos = 0
      for (let i = 0; i < k; i++) w.raw(b.subarray(starts[fieldOf[i]], starts[fieldOf[i] + 1]))
      slot = findSlot(this.view, w.buf, 0, w.pos)
    }
    if (slot < 0) return -1
    const changed = slot << 1
    const stored = this.view.bytes
    // Row `slot` ends where the next row's 2-byte field count starts (store.ts, rowRange): no array per row.
    const s = this.view.starts[slot]; const e = this.view.starts[slot + 1] - 2
    // The stored row's key equals ours (findSlot compared it): its compared fields follow.
    let q = s
    for (let i = 0; i < k; i++) q += 4 + Math.max(0, (stored[q] << 24) | (stored[q + 1] << 16) | (stored[q + 2] << 8) | stored[q + 3])
    for (let i = k; i < fieldOf.length; i++) {
      if (q >= e) return changed
      const fs = starts[fieldOf[i]]; const fe = starts[fieldOf[i] + 1]
      const sl = (stored[q] << 24) | (stored[q + 1] << 16) | (stored[q + 2] << 8) | stored[q + 3]
      const storedEnd = q + 4 + (sl < 0 ? 0 : sl)
      if (!(storedEnd - q === fe - fs && equalBytes(stored, q, b, fs, fe - fs))) {
        if (this.jsonbAt[i] === 0 || sl < 1 || fe - fs < 5 || b[fs + 4] !== 1 || stored[q + 4] !== 1) return changed
        const flat = sameFlatJsonb(b, fs + 5, fe, stored, q + 5, storedEnd)
        if (flat === false) return changed
        if (flat === null) {
          const canonical = this.canonical(b, fs + 5, fe)
          if (canonical === null || canonical.length !== storedEnd - q || !equalBytes(stored, q, canonical, 0, canonical.length)) return changed
        }
      }
      q = storedEnd
    }
    return q === e ? changed | 1 : changed
  }

  /** The jsonb field PostgreSQL would send for the JSON text `b[s, e)` (length and version byte included), or null. */
  private canonical (b: Uint8Array, s: number, e: number): Uint8Array | null {
    const v = Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8')
    let c = memo.get(v)
    if (c !== undefined) return c
    const text = pgJsonbText(v)
    if (text === null) c = null
    else {
      const w = this.scratch
      w.pos = 0
      w.jsonb(text)
      c = Uint8Array.prototype.slice.call(w.buf, 0, w.pos)
    }
    if (memo.size >= JSONB_MEMO) memo.clear()
    memo.set(v, c)
    return c
  }
}
