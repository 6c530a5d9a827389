import { SyncError } from '../errors'
import { CsvSyntaxError, parseCsvRecord } from '../transform/csv'
import { CsvScanner } from './csv-scanner'
import { RecordScanner, type InputFormat as JsonFormat } from './scanner'

export type InputFormat = JsonFormat | 'csv'

/** A run of whole records, copied into a buffer of its own so it can be transferred to a worker. */
export interface Partition {
  /** The bytes from the first record's start to the last record's end. */
  data: Uint8Array
  /** [start0, end0, start1, end1, ...] relative to data. */
  offsets: Uint32Array
  /** 1-based ordinal of the first record in the input. */
  firstRow: number
  /** Absolute byte offset of data[0] in the (decompressed) input. */
  byteOffset: number
  count: number
}

/**
 * Cuts the byte stream into partitions of about `targetBytes` at record
 * boundaries. Every input byte is copied exactly once (into its partition);
 * incoming chunks are released as soon as no pending record needs them.
 */
export class Partitioner {
  readonly scanner: RecordScanner | CsvScanner
  /** CSV: the header's field names, known once the first record boundary is (before any partition). */
  header: string[] | null = null
  private chunks: Buffer[] = []
  /** Absolute offset of chunks[0][0]. */
  private chunksBase = 0
  private offsets: number[] = []
  private partStart = -1
  private nextRow = 1
  private ready: Partition[] = []

  constructor (format: InputFormat | 'auto', private readonly targetBytes: number, name: string, private readonly maxRecords = 50_000) {
    this.scanner = format === 'csv'
      ? new CsvScanner((s, e) => this.onRecord(s, e), (s, e) => this.onHeader(s, e, name), 256 << 20, name)
      : new RecordScanner(format, (s, e) => this.onRecord(s, e), 256 << 20, name)
  }

  /** The header is parsed here, once, so that every worker gets the field names with its task. */
  private onHeader (start: number, end: number, name: string): void {
    const text = this.copyRange(start, end).toString('utf8')
    try {
      this.header = parseCsvRecord(text).map(f => f ?? '')
    } catch (err) {
      if (!(err instanceof CsvSyntaxError)) throw err
      throw new SyncError('BRX_ERR_INPUT_MALFORMED', `${name} has a CSV header that does not parse: ${err.message}.`, { file: name, row: 0 })
    }
  }

  push (chunk: Buffer): void {
    this.chunks.push(chunk)
    this.scanner.scan(chunk)
    this.release()
  }

  end (): void {
    this.scanner.end()
    this.cut()
    this.chunks = []
  }

  /** Partitions completed so far, oldest first. */
  take (): Partition | undefined {
    return this.ready.shift()
  }

  private onRecord (start: number, end: number): void {
    if (this.partStart < 0) this.partStart = start
    this.offsets.push(start - this.partStart, end - this.partStart)
    if (end - this.partStart >= this.targetBytes || this.offsets.length >= this.maxRecords * 2) this.cut()
  }

  private cut (): void {
    if (this.partStart < 0) return
    const n = this.offsets.length
    const data = this.copyRange(this.partStart, this.partStart + this.offsets[n - 1])
    this.ready.push({ data, offsets: Uint32Array.from(this.offsets), firstRow: this.nextRow, byteOffset: this.partStart, count: n / 2 })
    this.nextRow += n / 2
    this.offsets = []
    this.partStart = -1
  }

  /** The input's bytes [start, end) in a buffer of their own (transferable). */
  private copyRange (start: number, end: number): Buffer {
    const data = Buffer.allocUnsafeSlow(end - start)
    let written = 0
    let base = this.chunksBase
    for (const c of this.chunks) {
      const cEnd = base + c.length
      if (cEnd > start && base < end) {
        const from = Math.max(start, base) - base
        const to = Math.min(end, cEnd) - base
        c.copy(data, written, from, to)
        written += to - from
      }
      base = cEnd
    }
    return data
  }

  /** Drops chunks that lie entirely before anything still needed. */
  private release (): void {
    const keepFrom = this.partStart >= 0 ? this.partStart : this.scanner.keepFrom
    while (this.chunks.length > 1 && this.chunksBase + this.chunks[0].length <= keepFrom) {
      this.chunksBase += this.chunks[0].length
      this.chunks.shift()
    }
  }
}

/** 'csv' when told, or for a .csv / .csv.gz path with format 'auto'; JSON and NDJSON tell themselves apart by their first byte. */
export function inputFormat (format: InputFormat | 'auto', input: unknown): InputFormat | 'auto' {
  if (format === 'auto' && typeof input === 'string' && /\.csv(\.gz)?$/i.test(input)) return 'csv'
  return format
}
