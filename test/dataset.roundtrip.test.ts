/**
 * Values coerced by the column rules, encoded in binary COPY and read back
 * by PostgreSQL itself: numeric exactly (never through a float; rounded to
 * the scale as PostgreSQL rounds, rejected when the integer digits do not
 * fit), timestamptz from ISO 8601 (offsets, microseconds) and from epoch
 * seconds and milliseconds, date, int8 beyond 2^53, varchar by code points.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { from as copyFrom } from 'pg-copy-streams'
import { BinaryWriter, COPY_HEADER, COPY_TRAILER } from '../src/encode/binary-writer'
import { writeValue } from '../src/encode/tuple'
import { compileRecordReader } from '../src/transform/rules'
import { Rejection } from '../src/transform/values'
import type { ColumnSpec, DatasetSpec } from '../src/dataset'
import { makePool, Prng, seedFromEnv } from './helpers'
import { modelNumeric } from './dataset-model'

const seed = seedFromEnv()
const pool = makePool(2)
after(async () => { await pool.end() })

/** Coerces each value through a one-column dataset, COPYs it in binary, returns PostgreSQL's text of it (or the reject reason). */
async function roundTrip (type: ColumnSpec['type'], values: unknown[], extra: Partial<ColumnSpec> = {}): Promise<string[]> {
  const spec: DatasetSpec = { name: 'rt', table: 'rt', scope: [], columns: [{ name: 'k', type: 'int4' }, { name: 'v', type, ...extra }], key: ['k'] }
  const read = compileRecordReader(spec, 'json')
  const w = new BinaryWriter(1024)
  const out: string[] = new Array(values.length)
  const rows: number[] = []
  values.forEach((v, i) => {
    const row: unknown[] = []
    try { read({ k: i, v }, row) } catch (err) {
      if (!(err instanceof Rejection)) throw err
      out[i] = `reject ${err.reason}`
      return
    }
    w.tuple(2)
    writeValue(w, 'int4', i)
    writeValue(w, type, row[1])
    rows.push(i)
  })
  const client = await pool.connect()
  try {
    await client.query("SET timezone = 'UTC'")
    await client.query(`CREATE TEMP TABLE rt (k int4, v ${type === 'numeric' || type.startsWith('numeric(') || type.startsWith('varchar(') ? type : { timestamptz: 'timestamptz', date: 'date', int8: 'bigint', uuid: 'uuid' }[type as string]})`)
    await pipeline(Readable.from([COPY_HEADER, w.finish(), COPY_TRAILER]), client.query(copyFrom('COPY rt FROM STDIN (FORMAT binary)')))
    for (const r of (await client.query<{ k: number, v: string }>('SELECT k, v::text AS v FROM rt ORDER BY k')).rows) out[r.k] = r.v
    await client.query('DROP TABLE rt')
  } finally {
    client.release()
  }
  assert.equal(rows.length, values.filter((_, i) => out[i] === undefined || !out[i].startsWith('reject')).length)
  return out
}

test('numeric(p,s): exact, rounded half away from zero, too many integer digits rejected', async () => {
  const got = await roundTrip('numeric(20,8)', [0.1, '0.1', 12345678.12345678, '12345678.12345678', '-12345678.12345678', '-0.000000005', '0.000000004', '99999999999.999999995', '999999999999.999999995', '999999999999.99999999', '9999999999999', '1e-8', '1.5E3', ' 42 ', '', 'abc', '1.2.3', {}, -0, '00012.50'])
  assert.deepEqual(got, ['0.10000000', '0.10000000', '12345678.12345678', '12345678.12345678', '-12345678.12345678', '-0.00000001', '0.00000000', '100000000000.00000000', 'reject out_of_range', '999999999999.99999999', 'reject out_of_range', '0.00000001', '1500.00000000', '42.00000000', 'reject invalid_value', 'reject invalid_value', 'reject invalid_value', 'reject invalid_type', '0.00000000', '12.50000000'])
})

test('numeric without precision keeps every digit given, many digits', async () => {
  const long = '-' + '9'.repeat(60) + '.' + '0123456789'.repeat(5)
  const got = await roundTrip('numeric', ['1.50', long, '0.0001', '10000', '100000000', '0.00000000000000000001', '123456789012345678901234567890', '-0', '1e20', '2.5e-3'])
  assert.deepEqual(got, ['1.50', long, '0.0001', '10000', '100000000', '0.00000000000000000001', '123456789012345678901234567890', '0', '100000000000000000000', '0.0025'])
})

test(`numeric(p,s) on random decimals equals PostgreSQL's own cast and the model (seed ${seed})`, async () => {
  const r = new Prng(seed)
  const values: string[] = []
  for (let i = 0; i < 400; i++) {
    const int = String(r.int(0, 10 ** r.int(0, 9)))
    const frac = Array.from({ length: r.int(0, 12) }, () => String(r.int(0, 9))).join('')
    values.push((r.chance(0.4) ? '-' : '') + int + (frac === '' ? '' : '.' + frac))
  }
  const got = await roundTrip('numeric(14,5)', values)
  const { rows } = await pool.query<{ v: string | null }>("SELECT CASE WHEN abs(x::numeric) < 1e9 - 0.000005 THEN x::numeric(14,5)::text END AS v FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n", [values])
  values.forEach((v, i) => {
    let model: string
    try { model = modelNumeric(v, 14, 5) } catch { model = 'reject out_of_range' }
    assert.equal(got[i], model, `${v}: brx vs model`)
    if (rows[i].v !== null) assert.equal(got[i], rows[i].v, `${v}: brx vs PostgreSQL's cast`)
  })
})

test('timestamptz: ISO 8601 with offsets and microseconds, epoch ms and s; dates', async () => {
  const ts = await roundTrip('timestamptz', ['2026-03-01T12:34:56Z', '2026-03-01T12:34:56.123456Z', '2026-03-01T14:34:56.5+02:00', '2026-03-01 12:34:56-0130', '2026-03-01', '1999-12-31T23:59:59.999999Z', '1969-07-20T20:17:40Z', 1767225600123, '1767225600000', '2026-02-30T00:00:00Z', 'yesterday', 12.5, '2026-03-01T25:00:00Z'], { epoch: 'ms' })
  assert.deepEqual(ts, ['2026-03-01 12:34:56+00', '2026-03-01 12:34:56.123456+00', '2026-03-01 12:34:56.5+00', '2026-03-01 14:04:56+00', '2026-03-01 00:00:00+00', '1999-12-31 23:59:59.999999+00', '1969-07-20 20:17:40+00', '2026-01-01 00:00:00.123+00', '2026-01-01 00:00:00+00', 'reject invalid_value', 'reject invalid_value', '1970-01-01 00:00:00.0125+00', 'reject invalid_value'])
  const secs = await roundTrip('timestamptz', [1767225600, 1767225600.25, '1767225600', 253402300800000], { epoch: 's' })
  assert.deepEqual(secs, ['2026-01-01 00:00:00+00', '2026-01-01 00:00:00.25+00', '2026-01-01 00:00:00+00', 'reject out_of_range'])
  const iso = await roundTrip('timestamptz', [1767225600000])
  assert.deepEqual(iso, ['reject invalid_type'], 'without "epoch", a number is not a timestamp')
  const dates = await roundTrip('date', ['2026-03-01', '1900-01-01', '2026-02-29', '2026-03-01T00:00:00Z', 86400 * 3 + 5])
  assert.deepEqual(dates, ['2026-03-01', '1900-01-01', 'reject invalid_value', 'reject invalid_value', 'reject invalid_type'])
  const epochDates = await roundTrip('date', [86400 * 3 + 5, -1], { epoch: 's' })
  assert.deepEqual(epochDates, ['1970-01-04', '1969-12-31'])
})

test('int8 beyond 2^53 as strings, uuid, varchar counted in code points', async () => {
  assert.deepEqual(await roundTrip('int8', ['9223372036854775807', '-9223372036854775808', '9223372036854775808', 9007199254740993, 42, '12']),
    ['9223372036854775807', '-9223372036854775808', 'reject out_of_range', 'reject out_of_range', '42', '12'])
  assert.deepEqual(await roundTrip('uuid', ['6F1C2B9A-0000-4000-8000-00000000000A', '6f1c2b9a000040008000000000000000', 'nope']),
    ['6f1c2b9a-0000-4000-8000-00000000000a', '6f1c2b9a-0000-4000-8000-000000000000', 'reject invalid_value'])
  assert.deepEqual(await roundTrip('varchar(3)', ['🌧🌧🌧', 'abcd', 'a\u0000']), ['🌧🌧🌧', 'reject value_too_large', 'reject nul_byte'])
})
