/**
 * CSV input without a thread or a database: the main thread's quote-aware
 * boundary scanner cut at random chunk boundaries finds exactly the records
 * that were written (quoted commas, quotes, CR/LF inside fields, blank lines,
 * a BOM), the header is read once, the worker's field parser gets every
 * field back, and a truncated quote fails the stream.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Partitioner, inputFormat } from '../src/read/partitioner'
import { parseCsvRecord, CsvSyntaxError } from '../src/transform/csv'
import { transformPartition } from '../src/transform/partition'
import type { DatasetSpec } from '../src/dataset'
import { Prng, seedFromEnv } from './helpers'

const seed = seedFromEnv()

/** RFC 4180 rendering, the obvious way: quote when needed (and sometimes when not). */
function render (fields: Array<string | null>, r: Prng): string {
  return fields.map(f => f === null ? '' : (f === '' || /[",\r\n]/.test(f) || r.chance(0.2)) ? '"' + f.replace(/"/g, '""') + '"' : f).join(',')
}

function randomField (r: Prng): string | null {
  return r.pick<string | null>([null, '', 'a', 'plain text', 'comma, inside', 'say "hi"', '""', 'line\nbreak', 'cr\r\nlf', '\n', ',', 'ünïcødé 🌧', String(r.int(0, 1e6)), '"', ' spaced '])
}

function feed (bytes: Buffer, r: Prng, targetBytes: number): { header: string[] | null, records: string[] } {
  const p = new Partitioner('csv', targetBytes, 'test.csv')
  const records: string[] = []
  const drain = (): void => {
    for (let part = p.take(); part !== undefined; part = p.take()) {
      const buf = Buffer.from(part.data)
      for (let i = 0; i < part.count; i++) records.push(buf.toString('utf8', part.offsets[2 * i], part.offsets[2 * i + 1]))
    }
  }
  for (let at = 0; at < bytes.length;) {
    const n = Math.min(bytes.length - at, r.int(1, 64))
    p.push(bytes.subarray(at, at + n))
    at += n
    drain()
  }
  p.end()
  drain()
  return { header: p.header, records }
}

test(`CSV cut at random chunk boundaries: every record and field comes back (seed ${seed})`, () => {
  const r = new Prng(seed)
  for (let round = 0; round < 200; round++) {
    const width = r.int(1, 6)
    const header = Array.from({ length: width }, (_, i) => r.chance(0.2) ? `col ${i}, "q"` : `c${i}`)
    const rows = Array.from({ length: r.int(0, 40) }, () => Array.from({ length: width }, () => randomField(r)))
    // A one-field row of null renders as an empty line, which CSV cannot tell from a blank line.
    const written = rows.filter(row => !(width === 1 && row[0] === null))
    const eol = r.pick(['\n', '\r\n'])
    let text = (r.chance(0.2) ? '\ufeff' : '') + render(header, r) + eol
    for (const row of written) {
      if (r.chance(0.1)) text += eol // blank lines are skipped
      text += render(row, r) + eol
    }
    if (r.chance(0.5)) text = text.slice(0, text.length - eol.length) // no final newline
    const got = feed(Buffer.from(text), r, r.int(1, 300))
    assert.deepEqual(got.header, header, `round ${round}: header`)
    assert.equal(got.records.length, written.length, `round ${round}: record count`)
    got.records.forEach((rec, i) => assert.deepEqual(parseCsvRecord(rec), written[i], `round ${round} record ${i + 1}: ${JSON.stringify(rec)}`))
  }
})

test('CSV stream-level errors: a quote left open, no header', () => {
  assert.throws(() => feed(Buffer.from('a,b\n1,"open\n2,3\n'), new Prng(1), 100), (e: any) => e.code === 'BRX_ERR_INPUT_MALFORMED' && /ends inside a quoted field of record 1/.test(e.message))
  assert.throws(() => feed(Buffer.from('\n\n'), new Prng(1), 100), (e: any) => e.code === 'BRX_ERR_INPUT_MALFORMED' && /needs a header row/.test(e.message))
})

test('CSV fields: empty unquoted is NULL, "" is the empty string, trailing CR dropped, stray quotes refused', () => {
  assert.deepEqual(parseCsvRecord('a,,"",b\r'), ['a', null, '', 'b'])
  assert.deepEqual(parseCsvRecord(','), [null, null])
  assert.deepEqual(parseCsvRecord('"x""y",'), ['x"y', null])
  assert.deepEqual(parseCsvRecord('"multi\nline","a,b"'), ['multi\nline', 'a,b'])
  assert.throws(() => parseCsvRecord('ab"c,d'), CsvSyntaxError)
  assert.throws(() => parseCsvRecord('"a"b'), CsvSyntaxError)
})

test('the format: csv by extension, told, or json/ndjson by first byte', () => {
  assert.equal(inputFormat('auto', '/x/readings.csv'), 'csv')
  assert.equal(inputFormat('auto', '/x/readings.CSV.gz'), 'csv')
  assert.equal(inputFormat('auto', '/x/readings.json'), 'auto')
  assert.equal(inputFormat('csv', '-'), 'csv')
})

test('a CSV partition through the worker\'s pure function: rules per header name, field-count and syntax rejects', async () => {
  const spec: DatasetSpec = {
    name: 't', table: 't', scope: [], key: ['id'],
    columns: [{ name: 'id', type: 'int4' }, { name: 'v', type: 'numeric(6,2)', from: 'value' }, { name: 'doc', type: 'jsonb' }, { name: 'absent', type: 'text' }],
  }
  const p = new Partitioner('csv', 1 << 20, 'x.csv')
  p.push(Buffer.from('value,id,doc\n1.005,1,"{""a"":1}"\n2,2\n9999.999,4,\n5,x"y"z,\n6,6,[1\n'))
  p.end()
  const part = p.take()
  assert.ok(part !== undefined)
  const res = await transformPartition({ data: part.data, offsets: part.offsets, firstRow: part.firstRow, byteOffset: part.byteOffset, dataset: spec, keepRaw: true, unmapped: null, layout: { prefix: [], seq: true }, format: 'csv', header: p.header ?? undefined })
  assert.equal(res.valid, 1)
  assert.deepEqual(res.rejects.map(x => [x.row, x.reason]), [[2, 'malformed_csv'], [3, 'out_of_range'], [4, 'malformed_csv'], [5, 'invalid_value']])
  assert.match(res.rejects[0].message, /the record has 2 fields; the header has 3/)
  assert.match(res.rejects[1].message, /^v must have at most 4 digits before the point \(numeric\(6,2\)\), got "9999.999"/)
  assert.deepEqual(JSON.parse(res.rejects[1].record as string), { value: '9999.999', id: '4', doc: null })
  assert.match(res.rejects[3].message, /^doc must be JSON text \(jsonb\), got the string "\[1"/)
  // the valid row: id 1, v 1.01 (rounded half away from zero), doc {"a":1}, absent NULL (nullable, not in the header)
  const notNull = { ...spec, columns: spec.columns.map(c => c.name === 'absent' ? { ...c, nullable: false } : c) }
  const res2 = await transformPartition({ data: part.data, offsets: part.offsets, firstRow: 1, byteOffset: 0, dataset: notNull, keepRaw: false, unmapped: null, layout: { prefix: [], seq: true }, format: 'csv', header: p.header ?? undefined })
  assert.equal(res2.valid, 0)
  assert.match(res2.rejects[0].message, /^absent is missing: the CSV header has no field "absent" \(it has "value", "id", "doc"\)/)
})
