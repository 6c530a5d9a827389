/**
 * Dataset specs: validation names the field at fault as a path, spec files
 * load by path, presets by name, and the DDL built from a spec.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { checkSyncPlan, resolveDataset, validateDataset, parseType, sqlType, presets, type DatasetSpec } from '../src/dataset'
import { buildDatasetDdl } from '../src/db/ddl'
import { removeTmp, tmpPath } from './helpers'

after(removeTmp)

const station = (): DatasetSpec => ({
  name: 'station-readings',
  table: 'station_readings',
  scope: [{ name: 'station_id', type: 'text' }],
  columns: [
    { name: 'ts', type: 'timestamptz', from: 'time', nullable: false },
    { name: 'temp_c', type: 'float8', from: 'reading.temp' },
    { name: 'note', type: 'text' },
  ],
  key: ['ts'],
  compare: ['temp_c', 'note'],
})

function message (mutate: (d: any) => void): string {
  const d: any = station()
  mutate(d)
  try { validateDataset(d) } catch (err: any) { assert.equal(err.code, 'BRX_ERR_OPTIONS_INVALID'); return err.message }
  assert.fail('validation accepted a broken spec')
}

test('the issue\'s spec is valid', () => {
  assert.doesNotThrow(() => validateDataset(station()))
})

test('validation errors name the field path, the value and what is allowed', () => {
  const cases: Array<[(d: any) => void, RegExp]> = [
    [d => { d.columns[2].type = 'int' }, /^dataset\.columns\[2\]\.type: 'int' is not a type; known: int2, int4, int8, float8, numeric, bool, text, varchar, jsonb, uuid, timestamptz, date/],
    [d => { d.columns[1].type = 'varchar' }, /^dataset\.columns\[1\]\.type: 'varchar': varchar needs one length/],
    [d => { d.columns[1].type = 'numeric(3,5)' }, /^dataset\.columns\[1\]\.type: 'numeric\(3,5\)': numeric scale/],
    [d => { d.columns[1].type = 'int4(3)' }, /takes no parameters/],
    [d => { d.columns[0].nullabel = false }, /^dataset\.columns\[0\]\.nullabel: is not a column field/],
    [d => { d.columns[0].name = 'Bad Name' }, /^dataset\.columns\[0\]\.name: "Bad Name" is not a valid column name/],
    [d => { d.columns[2].name = 'ts' }, /^dataset\.columns\[2\]\.name: "ts" appears twice/],
    [d => { d.scope[0].type = 'string' }, /^dataset\.scope\[0\]\.type: 'string' is not a type/],
    [d => { d.key = ['missing'] }, /^dataset\.key\[0\]: "missing" is not in dataset\.columns/],
    [d => { d.key = [] }, /^dataset\.key: must name at least one column/],
    [d => { d.columns[0].nullable = true }, /^dataset\.key\[0\]: "ts" is declared nullable/],
    [d => { d.compare = ['nope'] }, /^dataset\.compare\[0\]: "nope" is not in dataset\.columns/],
    [d => { d.columns[2].min = 1 }, /^dataset\.columns\[2\]\.min: applies to numbers only/],
    [d => { d.columns[1].min = 5; d.columns[1].max = 1 }, /^dataset\.columns\[1\]\.min: 5 is greater than max 1/],
    [d => { d.columns[1].epoch = 'ms' }, /^dataset\.columns\[1\]\.epoch: applies to timestamptz and date/],
    [d => { d.columns[0].epoch = 'us' }, /^dataset\.columns\[0\]\.epoch: must be "s" or "ms"/],
    [d => { d.columns[1].enum = [1, 'warm'] }, /^dataset\.columns\[1\]\.enum\[1\]: temp_c must be a number, got the string "warm"/],
    [d => { d.columns[1].from = 'reading..temp' }, /^dataset\.columns\[1\]\.from: must be a field name or a dotted path/],
    [d => { d.table = 'a.b.c' }, /^dataset\.table: "a\.b\.c" is not a valid table name/],
    [d => { d.table = 'sync_runs' }, /^dataset\.table: "sync_runs" belongs to brx-sync/],
    [d => { d.mirror = 'all' }, /^dataset\.mirror: must be "scoped" or "whole-table"/],
    [d => { d.normalizer = 'nope' }, /^dataset\.normalizer: "nope" is not a registered normalizer \(known: cardtrader-product\)/],
    [d => { d.colums = [] }, /^dataset\.colums: is not a dataset field/],
    [d => { d.updatedAt = 'note' }, /^dataset\.updatedAt: "note" is also a column/],
    [d => { d.columns[2].name = 'brx_seq' }, /reserved/],
    [d => { d.columns = [] }, /^dataset\.columns: must be a non-empty array/],
    [d => { d.scopeAlias = { stationId: 'station' } }, /^dataset\.scopeAlias\.stationId: must name a scope column \(station_id\), got "station"/],
    [d => { d.scopeAlias = { 'station-id': 'station_id' } }, /^dataset\.scopeAlias\.station-id: is not an option name/],
    [d => { d.scopeAlias = ['station_id'] }, /^dataset\.scopeAlias: must be an object/],
  ]
  for (const [mutate, want] of cases) assert.match(message(mutate), want)
})

test('the presets pass the same validation as a spec (scopeAlias, mapping.unmappedReason)', () => {
  for (const p of Object.values(presets)) assert.doesNotThrow(() => validateDataset(p), p.name)
  assert.doesNotThrow(() => validateDataset({ ...station(), scopeAlias: { stationId: 'station_id' } }))
})

test('resolveDataset: preset by name, spec by path (errors name the file), object validated', () => {
  assert.equal(resolveDataset(undefined), presets['cardtrader-inventory'])
  assert.equal(resolveDataset('cardtrader-inventory'), presets['cardtrader-inventory'])
  const file = tmpPath('station.json')
  fs.writeFileSync(file, JSON.stringify(station()))
  assert.deepEqual(resolveDataset(file), station())
  assert.throws(() => resolveDataset('no-such-preset'), /not a known preset \(known: cardtrader-inventory, catalog-snapshots, market-candles, order-book\) nor a path/)
  assert.throws(() => resolveDataset(tmpPath('missing.json')), (e: any) => e.code === 'BRX_ERR_OPTIONS_INVALID' && /cannot be read/.test(e.message))
  fs.writeFileSync(file, '{ "name": ')
  assert.throws(() => resolveDataset(file), /is not valid JSON/)
  fs.writeFileSync(file, JSON.stringify({ ...station(), key: ['nope'] }))
  assert.throws(() => resolveDataset(file), (e: any) => e.message.startsWith(`${file}: dataset.key[0]:`))
  assert.throws(() => resolveDataset({ ...station(), columns: [{ name: 'x', type: 'int' }] } as any), /dataset\.columns\[0\]\.type: 'int' is not a type/)
})

test('one vocabulary: parsed types and their SQL spelling', () => {
  assert.deepEqual(parseType('numeric(12,4)'), { base: 'numeric', precision: 12, scale: 4 })
  assert.deepEqual(parseType('numeric(5)'), { base: 'numeric', precision: 5, scale: 0 })
  assert.deepEqual(parseType('varchar(64)'), { base: 'varchar', length: 64 })
  assert.equal(sqlType('float8'), 'double precision')
  assert.equal(sqlType('numeric(12,4)'), 'numeric(12,4)')
  assert.equal(sqlType('numeric'), 'numeric')
  assert.equal(sqlType('varchar(3)'), 'varchar(3)')
  assert.equal(typeof parseType('numeric(0,0)'), 'string')
  assert.equal(typeof parseType('text(1)'), 'string')
})

test('DDL: scope and columns typed, NOT NULL for scope, key and nullable: false, UNIQUE over scope + key, timestamps', () => {
  const d = { ...station(), createdAt: 'created_at', updatedAt: 'updated_at', columns: [...station().columns, { name: 'rain', type: 'numeric(8,2)' as const }, { name: 'code', type: 'varchar(5)' as const, nullable: false }] }
  const [sql] = buildDatasetDdl(d)
  assert.equal(sql, [
    'CREATE TABLE IF NOT EXISTS "station_readings" (',
    '  "station_id" text NOT NULL,',
    '  "ts" timestamptz NOT NULL,',
    '  "temp_c" double precision,',
    '  "note" text,',
    '  "rain" numeric(8,2),',
    '  "code" varchar(5) NOT NULL,',
    '  "created_at" timestamptz NOT NULL DEFAULT now(),',
    '  "updated_at" timestamptz NOT NULL DEFAULT now(),',
    '  CONSTRAINT "station_readings_key" UNIQUE ("station_id", "ts")',
    ')',
  ].join('\n'))
  const q = buildDatasetDdl({ ...station(), table: 'weather.readings' })
  assert.equal(q[0], 'CREATE SCHEMA IF NOT EXISTS "weather"')
  assert.match(q[1], /^CREATE TABLE IF NOT EXISTS "weather"\."readings"/)
})

test('checkSyncPlan: an unscoped mirror and CSV into a normalizer\'s dataset are refused, naming the option', () => {
  const unscoped: DatasetSpec = { ...station(), scope: [] }
  const refuse = (d: DatasetSpec, plan: Parameters<typeof checkSyncPlan>[1], option: string, want: RegExp): void => {
    assert.throws(() => checkSyncPlan(d, plan), (e: any) => e.code === 'BRX_ERR_OPTIONS_INVALID' && e.option === option && want.test(e.message))
  }
  refuse(unscoped, { mode: 'mirror', allowUnscopedMirror: false, format: 'auto' }, 'mode', /^options\.mode "mirror" would delete every row of station_readings .*no scope columns.*whole-table/)
  assert.doesNotThrow(() => checkSyncPlan(unscoped, { mode: 'mirror', allowUnscopedMirror: true, format: 'auto' }))
  assert.doesNotThrow(() => checkSyncPlan({ ...unscoped, mirror: 'whole-table' }, { mode: 'mirror', allowUnscopedMirror: false, format: 'auto' }))
  assert.doesNotThrow(() => checkSyncPlan(unscoped, { mode: 'upsert', allowUnscopedMirror: false, format: 'auto' }))
  refuse(presets['cardtrader-inventory'], { mode: 'mirror', allowUnscopedMirror: false, format: 'csv' }, 'format', /^options\.format "csv" cannot feed dataset cardtrader-inventory: its normalizer/)
  assert.doesNotThrow(() => checkSyncPlan(station(), { mode: 'mirror', allowUnscopedMirror: false, format: 'csv' }))
})
