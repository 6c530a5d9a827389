import type { DatasetSpec } from '../dataset/types'
import { BinaryWriter, writeValue } from '../encode'
import { diffColumns } from './store'
import { equalBytes, findSlot, rowRange, skipFields, viewOf, type ExistingRows, type StoreView } from './store'
import { pgJsonbText } from './jsonb'

/** What the worker tells the main thread about each encoded row. */
export interface DiffMarks {
  /** The existing row with the same key, or -1 (a new key). */
  slots: Int32Array
  /** 1 = every compared byte equals the existing row's: the row need not be staged. */
  same: Uint8Array
}

/**
 * Compares rows with the scope's existing ones in the worker. Each row's key
 * and compared columns are encoded as PostgreSQL sends them (jsonb as its
 * canonical text, when that text can be produced exactly; otherwise the row
 * is not "same" and is staged), then looked up by key bytes and compared
 * byte for byte.
 */
export class RowComparer {
  private readonly view: StoreView
  private readonly cols: Array<{ index: number, type: DatasetSpec['columns'][number]['type'] }>
  private readonly keyFields: number
  private readonly w = new BinaryWriter(4096)

  constructor (existing: ExistingRows, dataset: DatasetSpec) {
    this.view = viewOf(existing)
    this.keyFields = existing.keyFields
    this.cols = diffColumns(dataset).map(name => {
      const index = dataset.columns.findIndex(c => c.name === name)
      return { index, type: dataset.columns[index].type }
    })
  }

  /** Slot of the row's key (or -1) and whether the row equals it exactly. */
  classify (row: readonly unknown[]): [number, boolean] {
    const w = this.w
    w.pos = 0
    let exact = true
    for (const c of this.cols) {
      const v = row[c.index]
      if (c.type === 'jsonb' && v !== null && v !== undefined) {
        const canonical = pgJsonbText(v as string)
        if (canonical === null) { exact = false; w.jsonb(v as string) } else w.jsonb(canonical)
      } else writeValue(w, c.type, v)
    }
    const b = w.buf
    const keyEnd = skipFields(b, 0, this.keyFields)
    const slot = findSlot(this.view, b, 0, keyEnd)
    if (slot < 0 || !exact) return [slot, false]
    const [s, e] = rowRange(this.view.starts, slot)
    return [slot, e - s === w.pos && equalBytes(this.view.bytes, s, b, 0, w.pos)]
  }
}
