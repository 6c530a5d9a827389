/**
 * A dataset that is not CardTrader (station readings, from a spec) synced
 * end to end through the real PostgreSQL against the generic reference model
 * (test/dataset-model.ts) on randomized inputs: JSON arrays, NDJSON and CSV
 * (quoted commas, quotes and newlines; shuffled header; small partitions so
 * records straddle boundaries), mirror and upsert, duplicates, one fault per
 * bad record across every rule. After every sync: the scope's rows, the
 * report's counts and the rejects file (row + reason) equal the model's, and
 * the other stations' rows are untouched. BRX_SEED=<seed> replays a run.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import pg from 'pg'
import { createEngine, migrate, type Engine, type DatasetSpec } from '../src'
import { modelSync, type ModelRow, type ModelSpec } from './dataset-model'
import { DATABASE_URL, Prng, readNdjson, removeTmp, seedFromEnv, tmpPath } from './helpers'

const seed = seedFromEnv()
const STATION: DatasetSpec = {
  name: 'station-readings-model',
  table: 'station_readings_model',
  scope: [{ name: 'station_id', type: 'text' }],
  columns: [
    { name: 'ts', type: 'timestamptz', from: 'time', nullable: false, epoch: 'ms' },
    { name: 'temp_c', type: 'float8', from: 'reading.temp', min: -90, max: 60 },
    { name: 'rain_mm', type: 'numeric(8,2)', from: 'reading.rain' },
    { name: 'note', type: 'varchar(20)' },
    { name: 'status', type: 'text', enum: ['ok', 'maintenance'] },
    { name: 'count', type: 'int4', min: 0 },
    { name: 'flag', type: 'bool' },
    { name: 'meta', type: 'jsonb' },
  ],
  key: ['ts'],
  updatedAt: 'updated_at',
}
const HEADER = ['time', 'reading.temp', 'reading.rain', 'note', 'status', 'count', 'flag', 'meta', 'extra']

let engine: Engine
let db: pg.Client
before(async () => {
  await migrate({ databaseUrl: DATABASE_URL, dataset: STATION })
  engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' }, partitionBytes: [300, 2048, 1 << 20][seed % 3], workers: 2 })
  db = new pg.Client({ connectionString: DATABASE_URL, options: '-c timezone=UTC' })
  await db.connect()
})
after(async () => {
  await engine.close()
  await db.end()
  removeTmp()
})

// --- generating inputs ----------------------------------------------------------

type Wire = Record<string, unknown>
const BASE = Date.UTC(2026, 0, 1)

function timeValue (r: Prng, ms: number): unknown {
  const iso = new Date(ms).toISOString()
  switch (r.int(0, 3)) {
    case 0: return ms
    case 1: { // the same instant at +02:00
      const local = new Date(ms + 2 * 3600_000).toISOString()
      return local.slice(0, 23) + '+02:00'
    }
    default: return iso
  }
}

function noteValue (r: Prng): unknown {
  return r.pick<unknown>([undefined, null, '', 'plain', 'a, "quoted" one', 'two\nlines', 'crlf\r\ninside', '🌧️ rain', '🌧'.repeat(20), 'x'.repeat(20), 42, true])
}

function goodRecord (r: Prng, ms: number): Wire {
  const rec: Wire = { time: timeValue(r, ms) }
  if (r.chance(0.9)) {
    const reading: Wire = {}
    if (r.chance(0.9)) reading.temp = r.chance(0.8) ? Math.round((r.next() * 100 - 50) * 10) / 10 : String(r.int(-89, 59))
    if (r.chance(0.8)) reading.rain = r.pick<unknown>([r.int(0, 999999), String(r.int(0, 9999)) + '.' + String(r.int(0, 9999)), 0.1, 0.005, -0.015, '12345.675', '999999.994', '1e2', null])
    rec.reading = reading
  }
  const note = noteValue(r)
  if (note !== undefined) rec.note = note
  if (r.chance(0.8)) rec.status = r.pick(['ok', 'maintenance'])
  if (r.chance(0.8)) rec.count = r.chance(0.7) ? r.int(0, 100000) : String(r.int(0, 99))
  if (r.chance(0.8)) rec.flag = r.pick<unknown>([true, false, 'true', 'false', 0, 1, '0', '1'])
  if (r.chance(0.7)) rec.meta = r.pick<unknown>([{ b: 1, a: 'x' }, [1, 2, 3], 7, 'str', { nested: { k: [true, null] } }, true])
  if (r.chance(0.3)) rec.extra = 'ignored'
  return rec
}

/** One fault, of a rule picked at random. */
const FAULTS: Array<(rec: Wire, r: Prng) => unknown> = [
  rec => ({ ...rec, reading: { temp: 99 } }),
  rec => ({ ...rec, reading: { rain: '1234567.1' } }),
  rec => ({ ...rec, reading: { rain: 999999.995 } }),
  rec => ({ ...rec, reading: { rain: 'lots' } }),
  rec => ({ ...rec, note: 'y'.repeat(21) }),
  rec => ({ ...rec, status: 'broken' }),
  rec => ({ ...rec, count: -1 }),
  rec => ({ ...rec, count: 'many' }),
  rec => ({ ...rec, count: 1.5 }),
  rec => ({ ...rec, count: { n: 1 } }),
  rec => ({ ...rec, flag: 'yes' }),
  rec => { const { time: _, ...rest } = rec; return rest },
  rec => ({ ...rec, time: 'yesterday' }),
  rec => ({ ...rec, time: '2026-13-01T00:00:00Z' }),
  rec => ({ ...rec, time: [1] }),
  rec => ({ ...rec, meta: { a: 'nul\u0000' } }),
  () => 42,
]

interface Input { records: unknown[], format: 'json' | 'ndjson' | 'csv' }

function makeInput (r: Prng, times: number[], format: Input['format']): Input {
  const records: unknown[] = []
  const n = r.int(5, 60)
  for (let i = 0; i < n; i++) {
    const ms = r.chance(0.15) && times.length > 0 ? r.pick(times) : BASE + r.int(0, 400) * 60_000 + r.int(0, 999)
    times.push(ms)
    let rec: unknown = goodRecord(r, ms)
    if (r.chance(0.2)) rec = r.pick(FAULTS)(rec as Wire, r)
    if (format === 'csv' && typeof rec !== 'object') rec = goodRecord(r, ms)
    records.push(rec)
  }
  return { records, format }
}

// --- writing them ---------------------------------------------------------------

/** A JSON record as the CSV row's cells (null = empty, unquoted), keyed by header name. */
function csvCells (rec: Wire): Record<string, string | null> {
  const reading = (typeof rec.reading === 'object' && rec.reading !== null ? rec.reading : {}) as Wire
  const cell = (v: unknown, json = false): string | null => v === undefined || v === null ? null : json || typeof v === 'object' ? JSON.stringify(v) : String(v)
  return { time: cell(rec.time), 'reading.temp': cell(reading.temp), 'reading.rain': cell(reading.rain), note: cell(rec.note), status: cell(rec.status), count: cell(rec.count), flag: cell(rec.flag), meta: cell(rec.meta, true), extra: cell(rec.extra) }
}

function quoteCell (v: string | null, r: Prng): string {
  if (v === null) return ''
  if (v === '' || /[",\r\n]/.test(v) || r.chance(0.2)) return '"' + v.replace(/"/g, '""') + '"'
  return v
}

function writeInput (r: Prng, input: Input): { file: string, modelRecords: unknown[] } {
  if (input.format === 'csv') {
    const header = r.shuffle([...HEADER])
    const eol = r.chance(0.5) ? '\n' : '\r\n'
    const cells = input.records.map(rec => csvCells(rec as Wire))
    const lines = [header.map(h => quoteCell(h, r)).join(','), ...cells.map(c => header.map(h => quoteCell(c[h], r)).join(','))]
    const file = tmpPath('readings.csv')
    fs.writeFileSync(file, lines.join(eol) + (r.chance(0.5) ? eol : ''))
    return { file, modelRecords: cells }
  }
  const texts = input.records.map(rec => JSON.stringify(rec))
  const file = tmpPath(input.format === 'json' ? 'readings.json' : 'readings.ndjson')
  fs.writeFileSync(file, input.format === 'json' ? '[\n' + texts.join(',\n') + '\n]\n' : texts.join('\n') + '\n')
  return { file, modelRecords: input.records }
}

async function readRows (station: string): Promise<Map<string, ModelRow>> {
  const { rows } = await db.query<Record<string, string | number | null>>(
    'SELECT ts::text AS ts, temp_c, rain_mm::text AS rain_mm, note, status, count::text AS count, flag::text AS flag, meta::text AS meta FROM station_readings_model WHERE station_id = $1', [station])
  return new Map(rows.map(x => [x.ts as string, { ...x, temp_c: x.temp_c === null ? null : String(x.temp_c) } as ModelRow]))
}

const sorted = (m: Map<string, ModelRow>): Array<[string, ModelRow]> => [...m.entries()].sort((a, b) => a[0] < b[0] ? -1 : 1)

test(`station readings through the real PostgreSQL equal the reference model (seed ${seed})`, async () => {
  const r = new Prng(seed)
  const stations = ['north', 'south', `st-${seed}`]
  await db.query('DELETE FROM station_readings_model WHERE station_id = ANY($1)', [stations])
  const model = new Map(stations.map(s => [s, new Map<string, ModelRow>()]))
  const times = new Map(stations.map(s => [s, [] as number[]]))
  const reasons = new Set<string>()
  const formats = new Set<string>()
  const specFile = tmpPath('station.json')
  fs.writeFileSync(specFile, JSON.stringify(STATION))
  for (let step = 0; step < 24; step++) {
    const station = r.pick(stations)
    const format = (['json', 'ndjson', 'csv'] as const)[step % 3]
    const mode = r.chance(0.6) ? 'mirror' : 'upsert'
    const input = makeInput(r, times.get(station) as number[], format)
    const { file, modelRecords } = writeInput(r, input)
    const rejectsFile = tmpPath('rejects.ndjson')
    const others = await Promise.all(stations.filter(s => s !== station).map(async s => [s, sorted(await readRows(s))] as const))
    const next = new Map(model.get(station))
    const expected = modelSync(STATION as ModelSpec, next, modelRecords, mode, format === 'csv')
    const ctx = `seed ${seed} step ${step} (${format}, ${mode}, ${station}, input kept at ${file})`
    const all = expected.counts.valid === 0 && mode === 'mirror'
    const told = r.chance(0.3) ? format : undefined
    // Format auto tells NDJSON by a first byte of "{" (read.partition's malformed cases): NDJSON whose
    // first record is not an object (the fault "42") is refused as a whole, the scope untouched.
    const refusedAuto = told === undefined && format === 'ndjson' && !JSON.stringify(input.records[0]).startsWith('{')
    try {
      const report = await engine.sync({ input: file, dataset: step % 2 === 0 ? STATION : specFile, scope: { station_id: station }, mode, rejectsFile, allowMassDelete: true, format: told })
      assert.ok(!all, `${ctx}: a mirror input with no valid record must be refused`)
      assert.ok(!refusedAuto, `${ctx}: NDJSON starting with a non-object, format auto, must be refused`)
      const got = report.rows
      for (const k of Object.keys(expected.counts) as Array<keyof typeof expected.counts>) assert.equal(got[k], expected.counts[k], `${ctx}: report.rows.${k}`)
      const rejects = readNdjson(rejectsFile) as Array<{ row: number, reason: string }>
      assert.deepEqual(rejects.map(x => [x.row, x.reason]), expected.rejects.map(x => [x.row, x.reason]), `${ctx}: rejects file`)
    } catch (err) {
      if (!all && !refusedAuto) throw err
      assert.equal((err as { code?: string }).code, 'BRX_ERR_INPUT_MALFORMED', ctx)
      assert.deepEqual(sorted(await readRows(station)), sorted(model.get(station) as Map<string, ModelRow>), `${ctx}: a refused input changes nothing`)
      continue
    }
    model.set(station, next)
    for (const x of expected.rejects) reasons.add(x.reason)
    formats.add(format)
    assert.deepEqual(sorted(await readRows(station)), sorted(model.get(station) as Map<string, ModelRow>), `${ctx}: table contents`)
    for (const [s, before] of others) assert.deepEqual(sorted(await readRows(s)), before, `${ctx}: station ${s} must be untouched`)
    fs.rmSync(file)
  }
  assert.deepEqual([...formats].sort(), ['csv', 'json', 'ndjson'])
  for (const reason of ['missing_field', 'invalid_value', 'invalid_type', 'out_of_range', 'value_too_large']) assert.ok(reasons.has(reason), `seed ${seed}: no reject of reason ${reason} was exercised`)
})

test('mirror with an empty scope is refused unless the spec or the caller allows it', async () => {
  const spec: DatasetSpec = { name: 'event-log', table: 'event_log_unscoped', scope: [], columns: [{ name: 'id', type: 'int8' }, { name: 'what', type: 'text' }], key: ['id'] }
  await migrate({ databaseUrl: DATABASE_URL, dataset: spec })
  await db.query('TRUNCATE event_log_unscoped')
  const file = tmpPath('events.ndjson')
  fs.writeFileSync(file, '{"id":1,"what":"a"}\n{"id":"9007199254740993","what":"big"}\n')
  await assert.rejects(engine.sync({ input: file, dataset: spec, mode: 'mirror' }), (e: any) => e.code === 'BRX_ERR_OPTIONS_INVALID' && /no scope columns/.test(e.message) && /whole-table/.test(e.message))
  assert.equal((await db.query('SELECT count(*)::int AS n FROM event_log_unscoped')).rows[0].n, 0, 'nothing written by a refused sync')
  assert.equal((await engine.sync({ input: file, dataset: spec, mode: 'upsert' })).rows.inserted, 2)
  fs.writeFileSync(file, '{"id":1,"what":"a"}\n')
  assert.equal((await engine.sync({ input: file, dataset: spec, mode: 'mirror', allowUnscopedMirror: true, allowMassDelete: true })).rows.deleted, 1)
  fs.writeFileSync(file, '{"id":2,"what":"b"}\n')
  assert.equal((await engine.sync({ input: file, dataset: { ...spec, mirror: 'whole-table' }, mode: 'mirror', allowMassDelete: true })).rows.deleted, 1)
  assert.deepEqual((await db.query('SELECT id::text, what FROM event_log_unscoped')).rows, [{ id: '2', what: 'b' }])
})
