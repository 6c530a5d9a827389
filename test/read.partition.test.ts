import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Partitioner, type Partition } from '../src/read/partitioner'
import { SyncError } from '../src/errors'
import { rng } from './helpers'

const NASTY = ['"', '\\', '\\"', '\\\\', '[', ']', '{', '}', ',', '\n', 'é', '日本語', '😀', '\u0001', ' ', 'a']

function randomValue (r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 7))
  switch (k) {
    case 0: return Math.floor(r() * 1e6) - 5e5
    case 1: { let s = ''; const n = Math.floor(r() * 12); for (let i = 0; i < n; i++) s += NASTY[Math.floor(r() * NASTY.length)]; return s }
    case 2: return r() < 0.5
    case 3: return null
    case 4: case 5: { const o: Record<string, unknown> = {}; const n = Math.floor(r() * 5); for (let i = 0; i < n; i++) o[String(randomValue(r, 3))] = randomValue(r, depth + 1); return o }
    default: { const a: unknown[] = []; const n = Math.floor(r() * 4); for (let i = 0; i < n; i++) a.push(randomValue(r, depth + 1)); return a }
  }
}

function ws (r: () => number): string {
  return [' ', '\n', '\t', '\r\n', ''][Math.floor(r() * 5)].repeat(Math.floor(r() * 3))
}

/** Feeds `text` in random chunks and collects every partition. */
function run (bytes: Buffer, r: () => number, target: number, format: 'auto' | 'json' | 'ndjson' = 'auto'): Partition[] {
  const p = new Partitioner(format, target, 'test input')
  const out: Partition[] = []
  let i = 0
  while (i < bytes.length) {
    const n = 1 + Math.floor(r() * (r() < 0.2 ? 3 : 200))
    p.push(bytes.subarray(i, i + n))
    i += n
    for (let x = p.take(); x !== undefined; x = p.take()) out.push(x)
  }
  p.end()
  for (let x = p.take(); x !== undefined; x = p.take()) out.push(x)
  return out
}

function records (parts: Partition[]): unknown[] {
  const recs: unknown[] = []
  let row = 1
  for (const p of parts) {
    assert.equal(p.firstRow, row)
    const b = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)
    for (let i = 0; i < p.offsets.length; i += 2) recs.push(JSON.parse(b.toString('utf8', p.offsets[i], p.offsets[i + 1])))
    row += p.count
  }
  return recs
}

test('JSON arrays: every record found exactly, whatever the chunking and the nesting', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed)
    const values = Array.from({ length: Math.floor(r() * 40) }, () => randomValue(r))
    const text = (r() < 0.1 ? '\ufeff' : '') + ws(r) + '[' + ws(r) + values.map(v => JSON.stringify(v)).join(ws(r) + ',' + ws(r)) + ws(r) + ']' + ws(r)
    const parts = run(Buffer.from(text), r, 1 + Math.floor(r() * 300))
    assert.deepEqual(records(parts), values, `seed ${seed}`)
  }
})

test('NDJSON: one record per value, blank lines ignored', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed)
    const values = Array.from({ length: 1 + Math.floor(r() * 30) }, () => ({ id: seed, v: randomValue(r) }))
    const text = values.map(v => JSON.stringify(v)).join('\n' + (r() < 0.3 ? '\n' : '')) + (r() < 0.5 ? '\n' : '')
    assert.deepEqual(records(run(Buffer.from(text), r, 64)), values, `seed ${seed}`)
  }
})

test('byte offsets point at each record in the input', () => {
  const text = '[ {"a":1},\n  {"b":"]"} , 3 ]'
  const parts = run(Buffer.from(text), rng(1), 1)
  const starts = parts.flatMap(p => Array.from({ length: p.count }, (_, i) => p.byteOffset + p.offsets[2 * i]))
  assert.deepEqual(starts, [text.indexOf('{"a"'), text.indexOf('{"b"'), text.indexOf('3 ]')])
})

const malformed: Array<[string, RegExp]> = [
  ['', /is empty/],
  ['   \n', /is empty/],
  ['[{"id":1},{"id":2', /truncated/],
  ['[{"id":1},{"id":"2', /truncated/],
  ['[{"id":1}', /truncated/],
  ['[{"id":1},]', /trailing comma/],
  ['[{"id":1}] {"x":2}', /after the closing/],
  ['[{"id":1} {"id":2}]', /without a comma/],
  ['[,{"id":1}]', /comma where a record/],
  ['"just a string"', /neither a JSON array nor NDJSON/],
  ['42', /neither a JSON array nor NDJSON/],
]

test('stream-level problems are BRX_ERR_INPUT_MALFORMED, naming the input and where', () => {
  for (const [text, message] of malformed) {
    assert.throws(() => run(Buffer.from(text), rng(7), 16), (err: unknown) => {
      assert.ok(err instanceof SyncError, `${JSON.stringify(text)} threw ${String(err)}`)
      assert.equal(err.code, 'BRX_ERR_INPUT_MALFORMED')
      assert.match(err.message, message, JSON.stringify(text))
      assert.match(err.message, /test input/)
      return true
    })
  }
})

test('format json refuses NDJSON input; format ndjson reads objects', () => {
  assert.throws(() => run(Buffer.from('{"a":1}\n{"a":2}\n'), rng(1), 16, 'json'), /not a JSON array/)
  assert.deepEqual(records(run(Buffer.from('{"a":1}\n{"a":2}\n'), rng(1), 16, 'ndjson')), [{ a: 1 }, { a: 2 }])
})

test('an escape split across chunks does not end the string early', () => {
  const text = '[{"s":"a\\\\"},{"t":"\\"]"}]'
  for (let cut = 1; cut < text.length; cut++) {
    const p = new Partitioner('json', 1 << 20, 'x')
    p.push(Buffer.from(text.slice(0, cut)))
    p.push(Buffer.from(text.slice(cut)))
    p.end()
    const part = p.take()
    assert.ok(part !== undefined)
    assert.deepEqual(records([part]), [{ s: 'a\\' }, { t: '"]' }], `cut at ${cut}`)
  }
})
