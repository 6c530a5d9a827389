import type { TransformResult } from '../transform/partition'
import type { Sink } from '../write/sinks'
import type { ExistingRows } from './store'

const UNSEEN = 0
const STAGED = 1
const SKIPPED = 2

/**
 * Engine diff in front of the staging sink: rows arrive in input order with
 * the worker's marks; only new and changed rows go on to staging. `seen`
 * (one byte per existing row) tells which existing rows the input had, so
 * mirror's deletes are the unseen ones.
 *
 * A key seen again after its first occurrence was skipped as unchanged is
 * staged whatever its marks: the last occurrence wins, as in the database
 * diff, and the merge decides it. The skipped one then counts as a duplicate.
 */
export class DiffSink implements Sink {
  readonly seen: Uint8Array
  /** Rows not staged because they equal their existing row. */
  skipped = 0
  /** Skipped rows whose key came again later (duplicates, not unchanged rows). */
  repeatedSkipped = 0
  /** Rows sent on to staging. */
  staged = 0

  constructor (private readonly inner: Sink, readonly existing: ExistingRows) {
    this.seen = new Uint8Array(existing.rows)
  }

  get maybeDuplicates (): boolean { return this.inner.maybeDuplicates }

  async write (res: TransformResult): Promise<void> {
    const marks = res.marks
    if (marks === undefined) throw new Error('DiffSink: a partition without diff marks')
    const keep: number[] = []
    for (let i = 0; i < res.rows; i++) {
      if (this.stage(marks.slots[i], marks.same[i] === 1)) keep.push(i)
    }
    this.staged += keep.length
    await this.inner.write(keep.length === res.rows ? res : subset(res, keep))
  }

  private stage (slot: number, same: boolean): boolean {
    if (slot < 0) return true
    const state = this.seen[slot]
    if (state === UNSEEN) {
      this.seen[slot] = same ? SKIPPED : STAGED
      if (same) this.skipped++
      return !same
    }
    if (state === SKIPPED) { this.repeatedSkipped++; this.seen[slot] = STAGED }
    return true
  }

  async finish (): Promise<void> { await this.inner.finish() }
  abort (err: Error): void { this.inner.abort(err) }
}

/** The partition's result with only rows `keep` (ascending), tuples copied once. */
function subset (res: TransformResult, keep: number[]): TransformResult {
  const ends = new Uint32Array(keep.length)
  const hashes = new Float64Array(keep.length)
  let bytes = 0
  for (const i of keep) bytes += res.tupleEnds[i] - (i === 0 ? 0 : res.tupleEnds[i - 1])
  const tuples = Buffer.allocUnsafe(bytes)
  let at = 0
  keep.forEach((i, j) => {
    const s = i === 0 ? 0 : res.tupleEnds[i - 1]
    tuples.set(res.tuples.subarray(s, res.tupleEnds[i]), at)
    at += res.tupleEnds[i] - s
    ends[j] = at
    hashes[j] = res.hashes[i]
  })
  return { ...res, tuples, tupleEnds: ends, hashes, rows: keep.length }
}
