import { malformedInput } from './scanner'

/**
 * Finds record boundaries in CSV (RFC 4180) without parsing fields, the
 * same contract as scanner.ts: a record ends at a newline outside double
 * quotes (quotes toggle the state; a doubled quote "" toggles it twice, so
 * escapes need no special case). The first non-blank record is the header,
 * reported once through `onHeader`; blank lines are skipped. A record's
 * range excludes its newline (a CR before it is the worker's to drop).
 * An input that ends inside quotes is truncated: a stream-level error.
 */
const QUOTE = 0x22; const LF = 0x0a; const CR = 0x0d
const BOM = [0xef, 0xbb, 0xbf]

export class CsvScanner {
  readonly format = 'csv' as const
  private inQuote = false
  /** A record (or the header) has started: its first byte was seen. */
  private inRecord = false
  private headerSeen = false
  private recStart = 0
  /** Absolute offset of the next byte to scan. */
  pos = 0
  records = 0

  constructor (private readonly onRecord: (start: number, end: number) => void,
    private readonly onHeader: (start: number, end: number) => void,
    private readonly maxRecordBytes = 256 << 20, private readonly name = 'input') {}

  private malformed (what: string): never {
    throw malformedInput(this.name, what, this.pos, this.records)
  }

  scan (chunk: Uint8Array): void {
    const base = this.pos
    const len = chunk.length
    let i = 0
    // A BOM at the very start (it may straddle chunks).
    while (base + i < 3 && i < len && !this.inRecord && chunk[i] === BOM[base + i]) i++
    let inQuote = this.inQuote
    while (i < len) {
      const c = chunk[i]
      if (!this.inRecord) {
        if (c === LF || c === CR) { i++; continue }
        this.inRecord = true
        this.recStart = base + i
      }
      if (c === QUOTE) inQuote = !inQuote
      else if (c === LF && !inQuote) {
        this.inQuote = false
        this.pos = base + i
        this.emit(base + i)
      }
      i++
    }
    this.inQuote = inQuote
    this.pos = base + len
    if (this.inRecord && this.pos - this.recStart > this.maxRecordBytes) {
      this.malformed(`has a record larger than ${this.maxRecordBytes} bytes starting at byte ${this.recStart}${inQuote ? ' (a quote left open?)' : ''}`)
    }
  }

  /** The earliest byte still needed: the start of a record being scanned, else the scan position. */
  get keepFrom (): number {
    return this.inRecord ? this.recStart : this.pos
  }

  private emit (end: number): void {
    this.inRecord = false
    if (!this.headerSeen) { this.headerSeen = true; this.onHeader(this.recStart, end); return }
    this.records++
    this.onRecord(this.recStart, end)
  }

  end (): void {
    if (this.inQuote) this.malformed(`ends inside a quoted field of record ${this.records + 1}, which starts at byte ${this.recStart}: the input is truncated`)
    if (this.inRecord) this.emit(this.pos)
    if (!this.headerSeen) this.malformed('is empty: a CSV input needs a header row')
  }
}
