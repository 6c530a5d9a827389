import { SyncError } from '../errors'

/**
 * Finds record boundaries in a JSON array or an NDJSON stream without
 * parsing records: it tracks only strings (with escapes) and bracket depth,
 * so the main thread touches each byte once and leaves parsing to workers.
 *
 * Records are the elements of the top-level array (or the top-level values
 * of NDJSON). A record that is an object or array ends at its matching
 * bracket; a scalar element ends at the next separator (workers reject it as
 * not_an_object). Structure problems that make the rest of the input
 * unreadable — no array, trailing garbage, truncation — are stream-level
 * errors (BRX_ERR_INPUT_MALFORMED): they fail the run before anything merges.
 */
/** The stream-level error both record scanners raise: the input as a whole is unreadable from here on. */
export function malformedInput (name: string, what: string, pos: number, records: number): SyncError {
  return new SyncError('BRX_ERR_INPUT_MALFORMED', `${name} ${what} (byte ${pos}, after ${records} records).`, { file: name, row: records + 1 })
}

export type InputFormat = 'json' | 'ndjson'

const enum S { Start, Between, Record, Scalar, Done }

const QUOTE = 0x22; const BSLASH = 0x5c
const LBRACE = 0x7b; const RBRACE = 0x7d; const LBRACK = 0x5b; const RBRACK = 0x5d
const COMMA = 0x2c

/** A UTF-8 byte order mark at the very start is skipped (byte by byte: it may straddle chunks). */
const BOM = [0xef, 0xbb, 0xbf]

function isWs (c: number): boolean { return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 }

export class RecordScanner {
  format: InputFormat | null
  private state = S.Start
  private depth = 0
  private inString = false
  private escape = false
  /** In an array: a comma was seen and a value must follow (no trailing comma). */
  private needValue = false
  private sawValue = false
  private recStart = 0
  /** Absolute offset of the next byte to scan. */
  pos = 0
  records = 0

  constructor (format: InputFormat | 'auto', private readonly onRecord: (start: number, end: number) => void,
    private readonly maxRecordBytes = 256 << 20, private readonly name = 'input') {
    this.format = format === 'auto' ? null : format
  }

  private malformed (what: string): never {
    throw malformedInput(this.name, what, this.pos, this.records)
  }

  /** Scans the next chunk, which follows the previous one in the input. */
  scan (chunk: Uint8Array): void {
    const base = this.pos
    const len = chunk.length
    let i = 0
    while (i < len) {
      if (this.inString) {
        i = this.skipString(chunk, i, len)
        if (i < 0) break
        if (this.depth === 0) { this.pos = base + i; this.emit(base + i) }
        continue
      }
      if (this.state === S.Record) {
        // The hot loop: inside a record only quotes and brackets matter. Locals, not fields.
        let depth = this.depth
        while (i < len) {
          const c = chunk[i++]
          if (c === QUOTE) {
            this.inString = true
            i = this.skipString(chunk, i, len)
            if (i < 0) break
          } else if (c === LBRACE || c === LBRACK) depth++
          else if ((c === RBRACE || c === RBRACK) && --depth === 0) break
        }
        this.depth = depth
        if (i < 0) { i = len; break }
        if (depth === 0) { this.pos = base + i; this.emit(base + i) }
        continue
      }
      const c = chunk[i]
      switch (this.state) {
        case S.Between:
          if (isWs(c)) { i++; continue }
          this.pos = base + i
          if (this.format === 'json') {
            if (c === COMMA) {
              if (!this.sawValue || this.needValue) this.malformed('has a comma where a record was expected')
              this.needValue = true; i++; continue
            }
            if (c === RBRACK) {
              if (this.needValue) this.malformed('has a trailing comma before "]"')
              this.state = S.Done; i++; continue
            }
            if (this.sawValue && !this.needValue) this.malformed('has two records without a comma between them')
          }
          this.startRecord(base + i, c)
          i++
          continue
        case S.Scalar:
          if (isWs(c) || c === COMMA || c === RBRACK) {
            this.pos = base + i
            this.emit(base + i)
            continue // re-examine the separator in state Between
          }
          i++
          continue
        case S.Start:
          if (isWs(c) || (base + i < 3 && c === BOM[base + i])) { i++; continue }
          this.pos = base + i
          if (this.format === null) this.format = c === LBRACK ? 'json' : c === LBRACE ? 'ndjson' : this.malformed('is neither a JSON array nor NDJSON: it starts with ' + JSON.stringify(String.fromCharCode(c)))
          if (this.format === 'json') {
            if (c !== LBRACK) this.malformed('is not a JSON array: it starts with ' + JSON.stringify(String.fromCharCode(c)))
            this.state = S.Between; i++; continue
          }
          this.state = S.Between
          continue
        case S.Done:
          if (!isWs(c)) { this.pos = base + i; this.malformed('has data after the closing "]"') }
          i++
          continue
      }
    }
    this.pos = base + len
    if ((this.state === S.Record || this.state === S.Scalar) && this.pos - this.recStart > this.maxRecordBytes) {
      this.malformed(`has a record larger than ${this.maxRecordBytes} bytes starting at byte ${this.recStart}`)
    }
  }

  /**
   * Inside a string: returns the index after the closing quote, or -1 when
   * the chunk ends first (an escape may straddle chunks: `escape` carries it).
   * A plain loop beats indexOf here: most JSON strings are a few bytes long
   * and the native call costs more than scanning them.
   */
  private skipString (chunk: Uint8Array, i: number, len: number): number {
    if (this.escape) { this.escape = false; i++ }
    while (i < len) {
      const c = chunk[i++]
      if (c === QUOTE) { this.inString = false; return i }
      if (c === BSLASH) {
        if (i === len) { this.escape = true; return -1 }
        i++
      }
    }
    return -1
  }

  /** The earliest byte still needed: the start of a record being scanned, else the scan position. */
  get keepFrom (): number {
    return this.state === S.Record || this.state === S.Scalar ? this.recStart : this.pos
  }

  private startRecord (at: number, c: number): void {
    this.recStart = at
    this.needValue = false
    this.sawValue = true
    if (c === LBRACE || c === LBRACK) { this.state = S.Record; this.depth = 1 } else if (c === QUOTE) {
      this.state = S.Record; this.depth = 0; this.inString = true
    } else this.state = S.Scalar
  }

  private emit (end: number): void {
    this.state = S.Between
    this.records++
    this.onRecord(this.recStart, end)
  }

  /** Call at end of input: throws if the input stopped inside the structure. */
  end (): void {
    if (this.state === S.Scalar) this.emit(this.pos)
    if (this.state === S.Start) this.malformed('is empty')
    if (this.state === S.Record || this.inString) this.malformed(`ends inside record ${this.records + 1}, which starts at byte ${this.recStart}: the input is truncated`)
    if (this.format === 'json' && this.state !== S.Done) this.malformed('ends before the closing "]": the input is truncated')
  }
}
