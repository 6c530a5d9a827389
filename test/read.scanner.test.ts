import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RecordScanner } from '../src/read/scanner'
import { SyncError } from '../src/errors'
import { rng } from './helpers'

/**
 * RecordScanner against inputs whose record boundaries are known by
 * construction: the test writes each record's bytes itself and notes where
 * each one starts and ends, so the reference is the construction, not a
 * second scanner. Inputs are cut at random chunk boundaries (1-byte chunks
 * included), so every cut lands somewhere inside a string, an escape, a
 * multi-byte character or the BOM.
 */

// Strings full of what a scanner can trip over: quotes, backslashes before quotes, brackets, multi-byte UTF-8.
const PIECES = ['"', '\\', '\\"', '\\\\', '\\\\\\"', '[', ']', '{', '}', ',', '\n', 'é', '日本語', '😀', '\u0001', ' ', 'a', 'bcdefghijklmnopqrstuvwxyz0123456789']

function randomString (r: () => number): string {
  let s = ''
  const n = Math.floor(r() * (r() < 0.1 ? 200 : 10))
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)]
  return s
}

function randomValue (r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 4 : 7))
  switch (k) {
    case 0: return r() < 0.5 ? Math.floor(r() * 1e6) - 5e5 : r() * 1e-3
    case 1: return randomString(r)
    case 2: return r() < 0.5
    case 3: return null
    case 4: case 5: {
      const o: Record<string, unknown> = {}
      const n = Math.floor(r() * 6)
      for (let i = 0; i < n; i++) o[randomString(r)] = randomValue(r, depth + 1)
      return o
    }
    default: return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1))
  }
}

const ws = (r: () => number): string => [' ', '\n', '\t', '\r\n', ''][Math.floor(r() * 5)].repeat(Math.floor(r() * 3))

interface Built { bytes: Buffer, bounds: number[] }

/** A JSON array (or NDJSON) of `values`, each record's [start, end) byte range noted as it is written. */
function build (r: () => number, values: unknown[], ndjson: boolean, bom: boolean): Built {
  const parts: string[] = []
  let at = 0
  const put = (s: string): void => { parts.push(s); at += Buffer.byteLength(s) }
  const bounds: number[] = []
  if (bom) put('\ufeff')
  put(ws(r))
  if (!ndjson) put('[' + ws(r))
  values.forEach((v, i) => {
    if (i > 0) put(ndjson ? ws(r) + '\n' + ws(r) : ws(r) + ',' + ws(r))
    const text = JSON.stringify(v)
    bounds.push(at, at + Buffer.byteLength(text))
    put(text)
  })
  if (!ndjson) put(ws(r) + ']')
  put(ws(r))
  return { bytes: Buffer.from(parts.join('')), bounds }
}

/** Scans `bytes` in random chunks; returns every [start, end) seen, or the error thrown. */
function scan (bytes: Buffer, r: () => number, format: 'auto' | 'json' | 'ndjson' = 'auto'): { bounds: number[], error?: SyncError } {
  const bounds: number[] = []
  const s = new RecordScanner(format, (a, b) => { bounds.push(a, b) }, 256 << 20, 'test input')
  const tiny = r() < 0.3
  try {
    let i = 0
    while (i < bytes.length) {
      const n = 1 + Math.floor(r() * (tiny ? 3 : r() < 0.5 ? 40 : 4000))
      s.scan(bytes.subarray(i, i + n))
      i += n
    }
    s.end()
  } catch (err) {
    if (!(err instanceof SyncError)) throw err
    return { bounds, error: err }
  }
  return { bounds }
}

const expected = (what: string, pos: number, records: number): string => `test input ${what} (byte ${pos}, after ${records} records).`

test('record boundaries are exactly where the records were written, however the input is chunked', () => {
  for (let seed = 1; seed <= 400; seed++) {
    const r = rng(seed)
    const ndjson = r() < 0.3
    // NDJSON records are objects (the format's first byte tells it apart); arrays hold any value.
    const values = Array.from({ length: Math.floor(r() * 30) + (ndjson ? 1 : 0) }, () => ndjson ? { v: randomValue(r, 1) } : randomValue(r, 0))
    const built = build(r, values, ndjson, r() < 0.2)
    for (let pass = 0; pass < 3; pass++) {
      const got = scan(built.bytes, r)
      assert.equal(got.error, undefined, `seed ${seed}: ${String(got.error)}`)
      assert.deepEqual(got.bounds, built.bounds, `seed ${seed} pass ${pass}`)
    }
  }
})

test('malformed inputs fail with the same message and byte position, however the input is chunked', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed)
    // Objects only: a truncated object is always "inside a record" (a truncated number would just end early).
    const values = Array.from({ length: 2 + Math.floor(r() * 10) }, () => ({ v: randomValue(r, 1) }))
    const built = build(r, values, false, r() < 0.2)
    const text = built.bytes
    const { bounds } = built
    const n = values.length
    const k = Math.floor(r() * n) // the record the damage is at
    const cases: Array<[Buffer, string, number, number]> = []
    // Truncated strictly inside record k: everything before it was emitted.
    const cut = bounds[2 * k] + 1 + Math.floor(r() * (bounds[2 * k + 1] - bounds[2 * k] - 1))
    cases.push([text.subarray(0, cut), `ends inside record ${k + 1}, which starts at byte ${bounds[2 * k]}: the input is truncated`, cut, k])
    // Truncated right after record k: the array never closes.
    cases.push([text.subarray(0, bounds[2 * k + 1]), 'ends before the closing "]": the input is truncated', bounds[2 * k + 1], k + 1])
    // The comma before record k (k > 0) replaced by a space.
    if (k > 0) {
      const b = Buffer.from(text)
      const comma = b.indexOf(0x2c, bounds[2 * k - 1])
      b[comma] = 0x20
      cases.push([b, 'has two records without a comma between them', bounds[2 * k], k])
    }
    // A comma after the last record: a trailing comma before "]".
    const last = bounds[2 * n - 1]
    const close = text.indexOf(0x5d, last)
    cases.push([Buffer.concat([text.subarray(0, last), Buffer.from(','), text.subarray(last)]), 'has a trailing comma before "]"', close + 1, n])
    // Data after the closing bracket.
    cases.push([Buffer.concat([text, Buffer.from(' {"x":1}')]), 'has data after the closing "]"', text.length + 1, n])
    for (const [bytes, what, pos, records] of cases) {
      for (let pass = 0; pass < 3; pass++) {
        const got = scan(bytes, r)
        assert.ok(got.error !== undefined, `seed ${seed} ${what}: no error`)
        assert.equal(got.error.code, 'BRX_ERR_INPUT_MALFORMED')
        assert.equal(got.error.message, expected(what, pos, records), `seed ${seed} pass ${pass}`)
        assert.deepEqual(got.bounds, bounds.slice(0, 2 * records), `seed ${seed} ${what}: the records before the damage`)
      }
    }
  }
})
