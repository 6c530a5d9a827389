import { isUtf8 } from 'node:buffer'
import type { ColumnSpec, DatasetSpec } from '../dataset/types'
import { RowComparer, setMark, type DiffMarks } from '../diff/compare'
import type { ExistingRows } from '../diff/store'
import { BinaryWriter, TupleEncoder } from '../encode'
import type { Reject } from '../report/types'
import { keyHash } from './key-hash'
import { parseCsvRecord } from './csv'
import { findFieldPlan, findNormalizer, type Normalizer } from './normalizers'
import { readFields } from './json-fields'
import { compileRecordReader, type RecordFormat } from './rules'
import { Rejection } from './values'

/**
 * The worker's whole job for one partition, as a pure function:
 * parse -> normalize/validate -> map -> hash keys -> encode binary COPY tuples.
 * workers/transform.ts only wires it to Piscina and the mapping port.
 */
export interface TransformTask {
  data: Uint8Array
  offsets: Uint32Array
  firstRow: number
  byteOffset: number
  dataset: DatasetSpec
  /** Include the raw record in rejects (a rejects file is being written). */
  keepRaw: boolean
  /** Mapping on: what to do with blueprints that map nowhere. */
  unmapped: 'skip' | 'keep' | null
  /** Tuple layout: the target's (scope values first, no sequence) or staging's (columns + sequence). */
  layout: TupleLayout
  /** How records are written; default 'json' (a JSON array's elements or NDJSON lines). */
  format?: RecordFormat
  /** CSV: the header's field names, read once by the main thread. */
  header?: string[]
  /** Engine diff: the scope's existing rows (shared, not copied); each encoded row is marked against them. */
  existing?: ExistingRows
}

export interface TupleLayout {
  /** Values written before the columns in every tuple (the scope, when COPYing straight into the target). */
  prefix: Array<{ type: ColumnSpec['type'], value: unknown }>
  /** Append the input ordinal (staging's brx_seq). */
  seq: boolean
}

/** The mapping stage's answer for a partition's distinct ids (see src/map). */
export interface MappingAnswer {
  printIds: Int32Array
  /** 0 = unmapped, else 1 + index into kindNames. */
  kinds: Uint8Array
  kindNames: string[]
  /** excluded[kind] = 1 when that kind is excluded. */
  excluded: Uint8Array
}

export type ResolveFn = (ids: Int32Array) => Promise<MappingAnswer>

export interface TransformResult {
  tuples: Uint8Array
  /** End offset of each tuple in `tuples`, so the main thread can route single rows. */
  tupleEnds: Uint32Array
  hashes: Float64Array
  /** Rows encoded into tuples. */
  rows: number
  valid: number
  rejected: number
  mapped: number
  unmapped: number
  excluded: number
  /** Rejected, unmapped (skipped) and excluded records, in input order. */
  rejects: Reject[]
  reasons: Record<string, number>
  cpuMs: number
  /** Engine diff only: per encoded row, its existing slot and whether it is unchanged. */
  marks?: DiffMarks
}

const MAX_RAW = 64 * 1024

export async function transformPartition (task: TransformTask, resolve?: ResolveFn): Promise<TransformResult> {
  // Wall time in the worker (process.cpuUsage() would count every thread of the process).
  const t0 = performance.now()
  const { dataset } = task
  const { rows, rowNos, recs, rejects, reasons, reject } = readRecords(task)
  const count = task.offsets.length / 2
  const valid = rows.length

  // Mapping: one round trip to the main thread per partition with the distinct ids.
  let keep: Uint8Array | null = null
  let mapped = 0; let unmapped = 0; let excluded = 0
  const mapping = dataset.mapping
  if (mapping !== undefined && task.unmapped !== null && resolve !== undefined && valid > 0) {
    const cols = dataset.columns.map(c => c.name)
    const at = { from: cols.indexOf(mapping.from), toId: cols.indexOf(mapping.to[0]), toKind: cols.indexOf(mapping.to[1]) }
    const distinct = distinctIds(rows, at.from)
    const ans = await resolve(Int32Array.from(distinct.keys()))
    const m = applyMapping(task, mapping, at, { rows, rowNos, recs, reject }, distinct, ans)
    keep = m.keep; mapped = m.mapped; unmapped = m.unmapped; excluded = m.excluded
  }

  const { tuples, tupleEnds, hashes, marks, n } = encodeRows(task, rows, rowNos, keep)
  if (keep !== null) rejects.sort((a, b) => a.row - b.row)
  return {
    tuples,
    tupleEnds,
    hashes,
    rows: n,
    valid,
    rejected: count - valid,
    mapped,
    unmapped,
    excluded,
    rejects,
    reasons,
    cpuMs: performance.now() - t0,
    marks,
  }
}

/** What readRecords found: the normalized rows, their ordinals in the partition, and the rejections. */
interface ReadRecords {
  rows: unknown[][]
  rowNos: number[]
  recs: unknown[]
  rejects: Reject[]
  reasons: Record<string, number>
  reject: (i: number, reason: string, message: string, record: unknown, counted?: boolean) => void
}

/** Parses, normalizes and validates every record of the partition (see encodeRows on why it is a function of its own). */
function readRecords (task: TransformTask): ReadRecords {
  const { data, offsets, dataset } = task
  const csv = task.format === 'csv'
  const normalize = recordReader(task)
  // Only the fields the normalizer reads, straight from the bytes; JSON.parse when it declines.
  const plan = !csv && task.dataset.normalizer !== undefined ? findFieldPlan(task.dataset.normalizer) : undefined
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const count = offsets.length / 2
  const allUtf8 = isUtf8(buf)
  const rows: unknown[][] = []
  const rowNos: number[] = []
  /** Parsed records of valid rows, kept only to list unmapped/excluded ones in the rejects file. */
  const recs: unknown[] = []
  const rejects: Reject[] = []
  const reasons: Record<string, number> = {}
  /**
   * `counted`: a rejection proper; unmapped and excluded records are listed but counted apart.
   * With a rejects file, the record travels back already serialized: a string clones cheaply,
   * and a record nested too deeply for JSON.stringify travels as its raw text.
   */
  const reject = (i: number, reason: string, message: string, record: unknown, counted = true): void => {
    if (counted) reasons[reason] = (reasons[reason] ?? 0) + 1
    rejects.push({ row: task.firstRow + i, offset: task.byteOffset + offsets[2 * i], reason, message, record: task.keepRaw ? recordJson(record, buf, offsets[2 * i], offsets[2 * i + 1]) : undefined })
  }
  const width = dataset.columns.length

  for (let i = 0; i < count; i++) {
    const s = offsets[2 * i]; const e = offsets[2 * i + 1]
    if (!allUtf8 && !isUtf8(buf.subarray(s, e))) {
      reject(i, 'invalid_utf8', 'the record is not valid UTF-8.', RAW)
      continue
    }
    let rec: unknown
    /** Read field by field: the rejects file re-reads the whole record from its bytes. */
    let partial = false
    try {
      if (csv) rec = parseCsvRecord(buf.toString('utf8', s, e))
      else {
        rec = plan !== undefined ? readFields(plan, buf, s, e) : null
        partial = rec !== null
        if (!partial) rec = JSON.parse(buf.toString('utf8', s, e))
      }
    } catch (err) {
      if (csv) reject(i, 'malformed_csv', `the record is not valid CSV: ${(err as Error).message}.`, RAW)
      else reject(i, 'malformed_json', `the record is not valid JSON: ${(err as Error).message}.`, RAW)
      continue
    }
    const out = new Array<unknown>(width)
    try {
      normalize(rec, out)
    } catch (err) {
      // JSON.stringify of a value nested thousands deep overflows the stack: hostile input, not a bug.
      if (err instanceof RangeError) { reject(i, 'invalid_value', 'the record is nested too deeply to store.', RAW); continue }
      if (!(err instanceof Rejection)) throw err
      reject(i, err.reason, err.message, csv ? csvObject(task.header as string[], rec as unknown[]) : partial ? PARTIAL : rec)
      continue
    }
    rows.push(out)
    rowNos.push(i)
    if (task.keepRaw) recs.push(csv ? csvObject(task.header as string[], rec as unknown[]) : partial ? PARTIAL : rec)
  }
  return { rows, rowNos, recs, rejects, reasons, reject }
}

/** Each distinct mapped-from id of the rows, with its index in the ids the main thread is asked for. */
function distinctIds (rows: unknown[][], from: number): Map<number, number> {
  const distinct = new Map<number, number>()
  for (const r of rows) { const id = r[from] as number; if (!distinct.has(id)) distinct.set(id, distinct.size) }
  return distinct
}

/** Fills each row's mapped columns from the answer; lists unmapped (unless kept) and excluded rows. */
function applyMapping (task: TransformTask, mapping: NonNullable<DatasetSpec['mapping']>, at: { from: number, toId: number, toKind: number },
  read: Pick<ReadRecords, 'rows' | 'rowNos' | 'recs' | 'reject'>, distinct: Map<number, number>, ans: MappingAnswer): { keep: Uint8Array, mapped: number, unmapped: number, excluded: number } {
  const { rows, rowNos, recs, reject } = read
  const keep = new Uint8Array(rows.length)
  let mapped = 0; let unmapped = 0; let excluded = 0
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j]
    const k = distinct.get(r[at.from] as number) as number
    const kind = ans.kinds[k]
    if (kind === 0) {
      unmapped++
      if (task.unmapped === 'keep') { keep[j] = 1; continue }
      reject(rowNos[j], mapping.unmappedReason ?? 'unmapped', `${mapping.from} ${String(r[at.from])} maps to no catalog entry.`, recs[j], false)
      continue
    }
    if (ans.excluded[kind] === 1) {
      excluded++
      reject(rowNos[j], 'excluded_kind', `${mapping.from} ${String(r[at.from])} belongs to the excluded kind ${ans.kindNames[kind - 1]}.`, recs[j], false)
      continue
    }
    mapped++
    r[at.toId] = ans.printIds[k]
    r[at.toKind] = ans.kindNames[kind - 1]
    keep[j] = 1
  }
  return { keep, mapped, unmapped, excluded }
}

/**
 * Encodes the kept rows (and marks them, with the engine diff). Each of the
 * task's loops is a function of its own: inside one transformPartition, V8
 * compiled the whole task on stack replacement during the first loop, with
 * no feedback yet for the rest, and threw that code away at the same point
 * of every task (118 deopts in a 250k sync, 58 now; the workers' CPU did not
 * measurably change).
 */
function encodeRows (task: TransformTask, rows: unknown[][], rowNos: number[], keep: Uint8Array | null): { tuples: Uint8Array, tupleEnds: Uint32Array, hashes: Float64Array, marks: DiffMarks | undefined, n: number } {
  const { dataset } = task
  const valid = rows.length
  const w = new BinaryWriter(Math.max(4096, Math.ceil(task.data.byteLength * 0.6)))
  const hashes = new Float64Array(valid)
  const tupleEnds = new Uint32Array(valid)
  const keyIdx = dataset.key.map(k => dataset.columns.findIndex(c => c.name === k))
  const { prefix, seq } = task.layout
  const encoder = new TupleEncoder(prefix, dataset.columns, seq)
  const comparer = task.existing !== undefined ? new RowComparer(task.existing, dataset, prefix.length) : null
  const marks: DiffMarks | undefined = comparer !== null ? { slots: new Int32Array(valid), same: new Uint8Array(valid) } : undefined
  let n = 0
  for (let j = 0; j < valid; j++) {
    if (keep !== null && keep[j] === 0) continue
    const r = rows[j]
    const at = w.pos
    encoder.write(w, r, task.firstRow + rowNos[j])
    if (comparer !== null && marks !== undefined) {
      setMark(marks, n, comparer.classify(w.buf, at))
    }
    tupleEnds[n] = w.pos
    hashes[n++] = keyHash(keyIdx.length === 2 ? `${String(r[keyIdx[0]])}\u0001${String(r[keyIdx[1]])}` : keyIdx.map(x => String(r[x])).join('\u0001'))
  }
  return {
    tuples: w.finish(),
    tupleEnds: tupleEnds.subarray(0, n),
    hashes: hashes.subarray(0, n),
    marks: marks !== undefined ? { slots: marks.slots.subarray(0, n), same: marks.same.subarray(0, n) } : undefined,
    n,
  }
}

/**
 * Marks already-encoded tuples against the scope's existing rows: for
 * partitions transformed while the scope was still being read (the engine
 * diff overlaps its read with the load; see src/diff/pending.ts).
 */
export interface ClassifyTask {
  classify: true
  tuples: Uint8Array
  tupleEnds: Uint32Array
  existing: ExistingRows
  dataset: DatasetSpec
  /** Fields the tuples carry before the dataset's columns. */
  prefix: number
}

export interface ClassifyAnswer { marks: DiffMarks, tuples: Uint8Array }

export function classifyTuples (task: ClassifyTask): DiffMarks {
  const comparer = new RowComparer(task.existing, task.dataset, task.prefix)
  const n = task.tupleEnds.length
  const marks: DiffMarks = { slots: new Int32Array(n), same: new Uint8Array(n) }
  for (let i = 0; i < n; i++) setMark(marks, i, comparer.classify(task.tuples, i === 0 ? 0 : task.tupleEnds[i - 1]))
  return marks
}

/**
 * The record reader of a task's dataset: its named normalizer, else its
 * column rules compiled once per worker (a task carries a structured clone
 * of the spec, so the cache is keyed by the spec's text, a few hundred bytes).
 */
const compiled = new Map<string, Normalizer>()
function recordReader (task: TransformTask): Normalizer {
  const d = task.dataset
  if (d.normalizer !== undefined) {
    const named = findNormalizer(d.normalizer)
    if (named === undefined) throw new Error(`unknown normalizer "${d.normalizer}"`)
    if (task.format === 'csv') throw new Error(`normalizer "${d.normalizer}" reads JSON records, not CSV`)
    return named
  }
  const key = JSON.stringify([d, task.format ?? 'json', task.header ?? null])
  let r = compiled.get(key)
  if (r === undefined) {
    if (compiled.size >= 64) compiled.clear()
    r = compileRecordReader(d, task.format ?? 'json', task.header)
    compiled.set(key, r)
  }
  return r
}

/** A CSV record as an object named by the header, for the rejects file. */
function csvObject (header: readonly string[], fields: readonly unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (let i = 0; i < fields.length; i++) o[i < header.length ? header[i] : `_${i + 1}`] = fields[i]
  return o
}

/** Marks a record to be listed as its raw text (it did not parse, or cannot be serialized). */
const RAW = Symbol('raw text')
/** Marks a record read field by field (readFields): listed as its whole parse, read again from its bytes. */
const PARTIAL = Symbol('partial record')

/** The `record` of a rejects-file line, as JSON text: the parsed record, else the raw text as a string. */
function recordJson (record: unknown, buf: Buffer, s: number, e: number): string {
  if (record === PARTIAL) record = JSON.parse(buf.toString('utf8', s, e))
  if (record !== RAW) {
    try { return JSON.stringify(record) } catch { /* too deep: fall back to the raw text */ }
  }
  return JSON.stringify(buf.toString('utf8', s, Math.min(e, s + MAX_RAW)))
}
