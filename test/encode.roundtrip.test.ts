/**
 * The binary COPY writer against (1) a slow reference encoder that builds
 * every field from scratch, and (2) PostgreSQL itself: what we write must load
 * with COPY FROM, come back byte-identical through COPY TO, and read back as
 * the same values through SELECT.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { from as copyFrom, to as copyTo } from 'pg-copy-streams'
import { BinaryWriter, COPY_HEADER, COPY_TRAILER } from '../src/encode/binary-writer'
import { writeValue } from '../src/encode/tuple'
import type { BaseType } from '../src/dataset/vocabulary'

/** The types whose values this file generates; numeric has its own round trip (test/dataset.roundtrip.test.ts). */
type PgType = Exclude<BaseType, 'numeric' | 'varchar'>
import { makePool, Prng, seedFromEnv } from './helpers'

const seed = seedFromEnv()
const pool = makePool(2)
after(async () => { await pool.end() })

const TYPES: PgType[] = ['int2', 'int4', 'int8', 'float8', 'bool', 'text', 'jsonb', 'uuid', 'timestamptz', 'date']

// ---------------------------------------------------------------------------
// The reference encoder: every byte spelled out.
// ---------------------------------------------------------------------------

function beBytes (u: bigint, n: number): number[] {
  const out: number[] = []
  for (let i = n - 1; i >= 0; i--) out.push(Number((u >> BigInt(8 * i)) & 0xffn))
  return out
}

/** Two's complement, big-endian, n bytes. */
function signed (v: number | bigint, n: number): Buffer {
  const big = typeof v === 'bigint' ? v : BigInt(v)
  return Buffer.from(beBytes(BigInt.asUintN(8 * n, big), n))
}

function withLength (body: Buffer): Buffer {
  return Buffer.concat([signed(body.length, 4), body])
}

function refField (type: PgType, v: unknown): Buffer {
  if (v === null) return signed(-1, 4)
  switch (type) {
    case 'int2': return withLength(signed(v as number, 2))
    case 'int4': return withLength(signed(v as number, 4))
    case 'int8': return withLength(signed(v as number | bigint, 8))
    case 'float8': {
      const dv = new DataView(new ArrayBuffer(8))
      dv.setFloat64(0, v as number, false)
      return withLength(Buffer.from(dv.buffer))
    }
    case 'bool': return withLength(Buffer.from([v === true ? 1 : 0]))
    case 'text': return withLength(Buffer.from(new TextEncoder().encode(v as string)))
    case 'jsonb': return withLength(Buffer.concat([Buffer.from([1]), Buffer.from(new TextEncoder().encode(v as string))]))
    case 'uuid': {
      const hex = (v as string).replace(/-/g, '')
      const bytes: number[] = []
      for (let i = 0; i < 32; i += 2) bytes.push(parseInt(hex.slice(i, i + 2), 16))
      return withLength(Buffer.from(bytes))
    }
    // epoch milliseconds -> microseconds since 2000-01-01T00:00:00Z
    case 'timestamptz': return withLength(signed((BigInt(v as number) - BigInt(Date.UTC(2000, 0, 1))) * 1000n, 8))
    // epoch days -> days since 2000-01-01
    case 'date': return withLength(signed((v as number) - Date.UTC(2000, 0, 1) / 86400000, 4))
  }
}

const REF_HEADER = Buffer.concat([Buffer.from('PGCOPY\n', 'ascii'), Buffer.from([0xff, 0x0d, 0x0a, 0x00]), signed(0, 4), signed(0, 4)])
const REF_TRAILER = signed(-1, 2)

function refCopy (rows: unknown[][]): Buffer {
  const parts: Buffer[] = [REF_HEADER]
  for (const r of rows) {
    parts.push(signed(r.length + 1, 2))
    parts.push(refField('int4', ordinalOf(r)))
    r.forEach((v, c) => parts.push(refField(TYPES[c], v)))
  }
  parts.push(REF_TRAILER)
  return Buffer.concat(parts)
}

const ordinals = new WeakMap<unknown[], number>()
function ordinalOf (r: unknown[]): number { return ordinals.get(r) as number }

function writerCopy (rows: unknown[][], initialBytes?: number): Buffer {
  const w = new BinaryWriter(initialBytes)
  for (const r of rows) {
    w.tuple(r.length + 1)
    w.int4(ordinalOf(r))
    r.forEach((v, c) => writeValue(w, TYPES[c], v))
  }
  return Buffer.concat([COPY_HEADER, w.finish(), COPY_TRAILER])
}

// ---------------------------------------------------------------------------
// Values: extremes first, then random ones.
// ---------------------------------------------------------------------------

/** PostgreSQL's own jsonb output text: keys sorted by byte length then bytes, ", " and ": " separators. */
function pgJsonText (v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(pgJsonText).join(', ') + ']'
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).sort((a, b) => {
      const ba = Buffer.from(a, 'utf8'); const bb = Buffer.from(b, 'utf8')
      return ba.length - bb.length || Buffer.compare(ba, bb)
    })
    return '{' + keys.map(k => JSON.stringify(k) + ': ' + pgJsonText((v as Record<string, unknown>)[k])).join(', ') + '}'
  }
  return JSON.stringify(v)
}

const UNICODE = ['', 'a', 'ピカチュウ', '🐉🔥', 'é', 'e\u0301', 'Ω≈ç√', 'שלום', '\t\n\r', 'quote"back\\slash', '\u007f', '\u0001', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '\ufeffbom', '\u2028\u2029']

function randomString (rng: Prng, max = 40): string {
  const n = rng.int(0, max)
  let s = ''
  for (let i = 0; i < n; i++) {
    const k = rng.int(0, 9)
    if (k < 5) s += String.fromCharCode(rng.int(0x20, 0x7e))
    else if (k < 7) s += String.fromCharCode(rng.int(0x80, 0xd7ff))
    else if (k < 8) s += String.fromCharCode(rng.int(0xe000, 0xfffd))
    else if (k < 9) s += String.fromCodePoint(rng.int(0x10000, 0x10ffff))
    else s += String.fromCharCode(rng.int(1, 0x1f))
  }
  return s
}

function randomJson (rng: Prng, depth = 0): unknown {
  const k = rng.int(0, depth > 2 ? 4 : 6)
  switch (k) {
    case 0: return null
    case 1: return rng.chance(0.5)
    case 2: return rng.int(-1e9, 1e9)
    case 3: return rng.pick(UNICODE) + randomString(rng, 8)
    case 4: return rng.pick([0, -1, 1.5, 2147483647, -2147483648, 9007199254740991])
    case 5: return Array.from({ length: rng.int(0, 4) }, () => randomJson(rng, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (let i = rng.int(0, 5); i > 0; i--) o[rng.pick(['condition', 'mtg_foil', 'a', 'bb', 'ключ', '🔑', 'x y', ''])+ randomString(rng, 3)] = randomJson(rng, depth + 1)
      return o
    }
  }
}

function randomUuid (rng: Prng): string {
  let hex = ''
  for (let i = 0; i < 32; i++) hex += rng.int(0, 15).toString(16)
  const canon = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  const form = rng.int(0, 3)
  return form === 0 ? canon.toUpperCase() : form === 1 ? hex : canon
}

const DAY = 86400000
const EXTREMES: Record<PgType, unknown[]> = {
  int2: [-32768, 32767, 0, -1, 1],
  int4: [-2147483648, 2147483647, 0, -1, 1],
  int8: [-(2n ** 63n), 2n ** 63n - 1n, 0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2n ** 32n],
  float8: [0, -0, 1.5, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, Infinity, -Infinity, NaN, Math.PI, 0.1 + 0.2],
  bool: [true, false],
  text: [...UNICODE, 'x'.repeat(5 * 1024 * 1024 + 3)],
  jsonb: [{}, [], null, 0, '', 'ピカチュウ🐉', { condition: 'Near Mint', mtg_foil: true, signed: false, collector_number: '12a' }, { b: 1, a: 2, aa: [1, 'x', null, { z: {} }] }, { '🔑': 'é\t"\\' }],
  uuid: ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '0123456789abcdef0123456789ABCDEF'],
  timestamptz: [0, Date.UTC(2000, 0, 1), Date.UTC(2000, 0, 1) - 1, Date.UTC(1, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(-4000, 0, 1), 1_700_000_000_123, -1],
  date: [0, -1, 10957, 10956, 10958, -2440000, 2_000_000_000, Date.UTC(1, 0, 1) / DAY],
}

function randomValue (rng: Prng, type: PgType): unknown {
  switch (type) {
    case 'int2': return rng.int(-32768, 32767)
    case 'int4': return rng.int(-2147483648, 2147483647)
    case 'int8': return rng.chance(0.5) ? rng.int(-1e15, 1e15) : BigInt.asIntN(64, BigInt(rng.int(0, 2 ** 32 - 1)) << 32n | BigInt(rng.int(0, 2 ** 32 - 1)))
    case 'float8': return rng.chance(0.5) ? (rng.next() - 0.5) * 10 ** rng.int(-300, 300) : rng.int(-1e6, 1e6) / 8
    case 'bool': return rng.chance(0.5)
    case 'text': return randomString(rng, 200)
    case 'jsonb': return randomJson(rng)
    case 'uuid': return randomUuid(rng)
    case 'timestamptz': return rng.int(Date.UTC(-4000, 0, 1), Date.UTC(9999, 0, 1))
    case 'date': return rng.int(-2_400_000, 3_000_000)
  }
}

/** The value to hand the writer (jsonb takes JSON text). */
function wire (type: PgType, v: unknown): unknown {
  return type === 'jsonb' ? pgJsonText(v) : v // a JSON null is the text 'null', not SQL NULL
}

function buildRows (rng: Prng): unknown[][] {
  const rows: unknown[][] = []
  const push = (r: unknown[]): void => { ordinals.set(r, rows.length); rows.push(r) }
  // every extreme of every type, in its own row, with the other columns random or NULL
  for (let c = 0; c < TYPES.length; c++) {
    for (const x of EXTREMES[TYPES[c]]) {
      push(TYPES.map((t, j) => j === c ? wire(t, x) : rng.chance(0.3) ? null : wire(t, randomValue(rng, t))))
    }
  }
  push(TYPES.map(() => null))
  for (let i = 0; i < 2000; i++) push(TYPES.map(t => rng.chance(0.15) ? null : wire(t, randomValue(rng, t))))
  return rows
}

// ---------------------------------------------------------------------------
// PostgreSQL side.
// ---------------------------------------------------------------------------

const COLS = TYPES.map(t => `c_${t}`)
const DDL = `CREATE TEMP TABLE enc_rt (i int4, ${TYPES.map((t, i) => `${COLS[i]} ${t}`).join(', ')})`

async function collect (readable: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  await pipeline(readable, new Writable({ write (chunk, _enc, cb) { chunks.push(chunk); cb() } }))
  return Buffer.concat(chunks)
}

function expectedSelect (type: PgType, v: unknown): unknown {
  if (v === null) return null
  switch (type) {
    case 'int8': return String(v)
    case 'uuid': {
      const h = (v as string).replace(/-/g, '').toLowerCase()
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
    }
    case 'timestamptz': return String(v)
    case 'date': return String(v)
    default: return v
  }
}

const SELECT_LIST = TYPES.map((t, i) => {
  const c = COLS[i]
  switch (t) {
    case 'int8': return `${c}::text AS ${c}`
    case 'jsonb': return `${c}::text AS ${c}`
    case 'uuid': return `${c}::text AS ${c}`
    case 'timestamptz': return `round(extract(epoch FROM ${c}) * 1000)::int8::text AS ${c}`
    case 'date': return `(${c} - date '1970-01-01')::text AS ${c}`
    default: return c
  }
}).join(', ')

test(`binary COPY writer round-trips every PgType through PostgreSQL (seed ${seed})`, async (t) => {
  const rng = new Prng(seed)
  const rows = buildRows(rng)

  await t.test('the writer matches the reference encoder byte for byte, whatever its initial size', () => {
    const ref = refCopy(rows)
    const a = writerCopy(rows)
    const b = writerCopy(rows, 1) // forces many 1.5x growths
    assert.equal(a.length, ref.length, `length differs (seed ${seed})`)
    const firstDiff = a.findIndex((x, i) => x !== ref[i])
    assert.equal(firstDiff, -1, `first differing byte at ${firstDiff} (seed ${seed})`)
    assert.ok(b.equals(ref), `writer with a tiny initial buffer differs from the reference (seed ${seed})`)
    assert.ok(COPY_HEADER.equals(REF_HEADER), 'COPY_HEADER is not the binary COPY signature + flags + extension length')
    assert.ok(COPY_TRAILER.equals(REF_TRAILER), 'COPY_TRAILER is not int16 -1')
  })

  await t.test('PostgreSQL loads it, COPY TO returns the same bytes, and SELECT the same values', async () => {
    const client = await pool.connect()
    try {
      await client.query(DDL)
      const data = writerCopy(rows)
      // feed in uneven chunks: COPY framing must not depend on chunk boundaries
      const chunks: Buffer[] = []
      for (let p = 0; p < data.length;) { const n = rng.int(1, 1 << 16); chunks.push(data.subarray(p, p + n)); p += n }
      const ingest = client.query(copyFrom(`COPY enc_rt (i, ${COLS.join(', ')}) FROM STDIN (FORMAT binary)`))
      await pipeline(Readable.from(chunks), ingest)
      assert.equal(ingest.rowCount, rows.length)

      const back = await collect(client.query(copyTo(`COPY (SELECT i, ${COLS.join(', ')} FROM enc_rt ORDER BY i) TO STDOUT (FORMAT binary)`)))
      assert.equal(back.length, data.length, `COPY TO returned ${back.length} bytes, we wrote ${data.length} (seed ${seed})`)
      const firstDiff = back.findIndex((x, i) => x !== data[i])
      assert.equal(firstDiff, -1, `COPY TO differs from what we wrote at byte ${firstDiff} (seed ${seed})`)

      const { rows: got } = await client.query(`SELECT i, ${SELECT_LIST} FROM enc_rt ORDER BY i`)
      assert.equal(got.length, rows.length)
      for (let i = 0; i < rows.length; i++) {
        TYPES.forEach((type, c) => {
          const want = expectedSelect(type, rows[i][c])
          const have = got[i][COLS[c]]
          if (type === 'float8' && want !== null) {
            assert.ok(Object.is(have, want), `row ${i} float8: got ${String(have)}, wrote ${String(want)} (seed ${seed})`)
          } else {
            assert.deepEqual(have, want, `row ${i} ${type}: got ${String(have).slice(0, 80)}, wrote ${String(want).slice(0, 80)} (seed ${seed})`)
          }
        })
      }
    } finally {
      await client.query('DROP TABLE IF EXISTS enc_rt').catch(() => {})
      client.release()
    }
  })
})

test('BinaryWriter.text reserves enough room for any UTF-16 string', () => {
  // 3 bytes per UTF-16 unit is the worst case (BMP chars above U+07FF); astral chars are 4 bytes per 2 units.
  for (const s of ['\uffff'.repeat(1000), '🐉'.repeat(1000), 'é'.repeat(1000), '']) {
    const w = new BinaryWriter(1)
    w.text(s)
    w.jsonb(JSON.stringify(s))
    const out = w.finish()
    const ref = Buffer.concat([refField('text', s), refField('jsonb', JSON.stringify(s))])
    assert.ok(out.equals(ref))
  }
})
