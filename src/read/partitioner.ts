import { RecordScanner, type InputFormat } from './scanner'

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
  readonly scanner: RecordScanner
  private chunks: Buffer[] = []
  /** Absolute offset of chunks[0][0]. */
  private chunksBase = 0
  private offsets: number[] = []
  private partStart = -1
  private nextRow = 1
  private ready: Partition[] = []

  constructor (format: InputFormat | 'auto', private readonly targetBytes: number, name: string, private readonly maxRecords = 50_000) {
    this.scanner = new RecordScanner(format, (s, e) => this.onRecord(s, e), 256 << 20, name)
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
    const end = this.partStart + this.offsets[n - 1]
    const data = Buffer.allocUnsafeSlow(end - this.partStart)
    let written = 0
    let base = this.chunksBase
    for (const c of this.chunks) {
      const cEnd = base + c.length
      if (cEnd > this.partStart && base < end) {
        const from = Math.max(this.partStart, base) - base
        const to = Math.min(end, cEnd) - base
        c.copy(data, written, from, to)
        written += to - from
      }
      base = cEnd
    }
    this.ready.push({ data, offsets: Uint32Array.from(this.offsets), firstRow: this.nextRow, byteOffset: this.partStart, count: n / 2 })
    this.nextRow += n / 2
    this.offsets = []
    this.partStart = -1
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
