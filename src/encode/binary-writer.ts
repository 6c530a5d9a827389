/**
 * A growable writer for PostgreSQL's binary COPY format
 * (https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4):
 * each tuple is an int16 field count followed by, per field, an int32 byte
 * length (-1 for NULL) and the value in the type's binary send format.
 *
 * One buffer per partition, grown by 1.5x, allocated outside Node's shared
 * pool (allocUnsafeSlow) so it owns its ArrayBuffer and can be transferred to
 * the main thread with Piscina.move() instead of copied.
 */
export const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')
/** Signature, flags (int32 0: no OIDs), header extension length (int32 0). */
export const COPY_HEADER = Buffer.concat([COPY_SIGNATURE, Buffer.alloc(8)])
/** A field count of -1 ends the data. */
export const COPY_TRAILER = Buffer.from([0xff, 0xff])

/** Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000
const PG_EPOCH_DAYS = 10_957
const PG_EPOCH_US = 946_684_800_000_000n

const HEX: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1)
  for (let i = 0; i < 10; i++) t[48 + i] = i
  for (let i = 0; i < 6; i++) { t[65 + i] = 10 + i; t[97 + i] = 10 + i }
  return t
})()

export class BinaryWriter {
  buf: Buffer
  pos = 0

  constructor (initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, initialBytes))
  }

  private ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = Math.ceil(this.buf.length * 1.5)
    while (size < this.pos + n) size = Math.ceil(size * 1.5)
    const next = Buffer.allocUnsafeSlow(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** Big-endian int32 by hand: Buffer#writeInt32BE's range checks cost more than the write. */
  private i32 (v: number, at: number): void {
    const b = this.buf
    b[at] = v >>> 24; b[at + 1] = v >>> 16; b[at + 2] = v >>> 8; b[at + 3] = v
  }

  tuple (fieldCount: number): void {
    this.ensure(2)
    this.buf[this.pos] = fieldCount >>> 8
    this.buf[this.pos + 1] = fieldCount
    this.pos += 2
  }

  /** Bytes already in the binary format (a pre-encoded run of fields), copied as they are. */
  raw (bytes: Uint8Array): void {
    const n = bytes.length
    this.ensure(n)
    const b = this.buf; const at = this.pos
    if (n <= 32) { for (let i = 0; i < n; i++) b[at + i] = bytes[i] } else b.set(bytes, at)
    this.pos = at + n
  }

  null (): void {
    this.ensure(4)
    this.i32(-1, this.pos)
    this.pos += 4
  }

  int2 (v: number): void {
    this.ensure(6)
    this.i32(2, this.pos)
    this.buf.writeInt16BE(v, this.pos + 4)
    this.pos += 6
  }

  int4 (v: number): void {
    this.ensure(8)
    this.i32(4, this.pos)
    this.i32(v, this.pos + 4)
    this.pos += 8
  }

  int8 (v: number | bigint): void {
    this.ensure(12)
    this.i32(8, this.pos)
    this.buf.writeBigInt64BE(typeof v === 'bigint' ? v : BigInt(v), this.pos + 4)
    this.pos += 12
  }

  float8 (v: number): void {
    this.ensure(12)
    this.i32(8, this.pos)
    this.buf.writeDoubleBE(v, this.pos + 4)
    this.pos += 12
  }

  bool (v: boolean): void {
    this.ensure(5)
    this.i32(1, this.pos)
    this.buf[this.pos + 4] = v ? 1 : 0
    this.pos += 5
  }

  /** UTF-8 text. The worst case (3 bytes per UTF-16 unit) is reserved, the real length written once. */
  text (s: string): void {
    this.ensure(4 + s.length * 3)
    const n = this.utf8(s, this.pos + 4)
    this.i32(n, this.pos)
    this.pos += 4 + n
  }

  /** jsonb's binary format is a version byte (1) followed by the JSON text. */
  jsonb (json: string): void {
    this.ensure(5 + json.length * 3)
    this.buf[this.pos + 4] = 1
    const n = this.utf8(json, this.pos + 5)
    this.i32(n + 1, this.pos)
    this.pos += 5 + n
  }

  /**
   * Short ASCII strings (most names, codes, ids) are copied by hand: cheaper
   * than a native call. Anything else goes to Buffer#write, which encodes
   * lone surrogates as U+FFFD like every UTF-8 path in Node.
   */
  private utf8 (s: string, at: number): number {
    const len = s.length
    if (len <= 64) {
      const b = this.buf
      let i = 0
      for (; i < len; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        b[at + i] = c
      }
      if (i === len) return len
    }
    return this.buf.write(s, at, 'utf8')
  }

  /** A canonical or hyphen-less uuid string; callers validate it first (see isUuid). */
  uuid (s: string): void {
    this.ensure(20)
    this.i32(16, this.pos)
    let p = this.pos + 4
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c === 45) continue
      this.buf[p++] = (HEX[s.charCodeAt(i)] << 4) | HEX[s.charCodeAt(++i)]
    }
    this.pos += 20
  }

  /** Milliseconds (a number) or microseconds (a bigint) since the Unix epoch, sent as microseconds since 2000-01-01. */
  timestamptz (t: number | bigint): void {
    this.int8(typeof t === 'bigint' ? t - PG_EPOCH_US : BigInt(Math.round((t - PG_EPOCH_MS))) * 1000n)
  }

  /**
   * numeric's binary form from canonical decimal text ("-12.3400", as
   * transform/coerce.ts's toDecimal returns it): ndigits, weight (of the first
   * base-10000 digit), sign (0x4000 negative), dscale (digits after the point),
   * then the base-10000 digits, leading and trailing zero groups dropped.
   * See PostgreSQL's numeric_send in src/backend/utils/adt/numeric.c.
   */
  numeric (s: string): void {
    let neg = s.charCodeAt(0) === 45
    const body = neg ? s.slice(1) : s
    const dot = body.indexOf('.')
    const ip = dot < 0 ? body : body.slice(0, dot)
    const fp = dot < 0 ? '' : body.slice(dot + 1)
    const ipad = ip.padStart(Math.ceil(ip.length / 4) * 4, '0')
    const fpad = fp.padEnd(Math.ceil(fp.length / 4) * 4, '0')
    const groups: number[] = []
    for (let i = 0; i < ipad.length; i += 4) groups.push(Number(ipad.slice(i, i + 4)))
    let weight = groups.length - 1
    for (let i = 0; i < fpad.length; i += 4) groups.push(Number(fpad.slice(i, i + 4)))
    let first = 0
    while (first < groups.length && groups[first] === 0) { first++; weight-- }
    let last = groups.length
    while (last > first && groups[last - 1] === 0) last--
    const n = last - first
    if (n === 0) { weight = 0; neg = false }
    this.ensure(12 + 2 * n)
    const b = this.buf
    this.i32(8 + 2 * n, this.pos)
    b.writeInt16BE(n, this.pos + 4)
    b.writeInt16BE(weight, this.pos + 6)
    b.writeUInt16BE(neg ? 0x4000 : 0, this.pos + 8)
    b.writeInt16BE(fp.length, this.pos + 10)
    let p = this.pos + 12
    for (let i = first; i < last; i++) { b.writeInt16BE(groups[i], p); p += 2 }
    this.pos = p
  }

  /** Days since the Unix epoch, sent as days since 2000-01-01. */
  date (days: number): void {
    this.int4(days - PG_EPOCH_DAYS)
  }

  /** The bytes written so far; the writer must not be used afterwards. */
  finish (): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
export function isUuid (s: unknown): s is string {
  return typeof s === 'string' && UUID.test(s)
}
