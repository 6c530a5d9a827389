/**
 * The record reader compiled from a spec's column rules (no thread, no
 * database): dotted paths, own properties only, unknown fields ignored,
 * nulls, and reject messages that name the column, the value and the rule.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compileRecordReader } from '../src/transform/rules'
import { Rejection } from '../src/transform/values'
import type { DatasetSpec } from '../src/dataset'

const spec: DatasetSpec = {
  name: 'r', table: 'r', scope: [], key: ['id'],
  columns: [
    { name: 'id', type: 'int4' },
    { name: 'temp', type: 'float8', from: 'reading.temp', min: -90, max: 60 },
    { name: 'deep', type: 'text', from: 'a.b.c' },
    { name: 'ctor', type: 'text', from: 'constructor' },
    { name: 'kind', type: 'text', enum: ['x', 'y'] },
    { name: 'flag', type: 'bool', nullable: false },
    { name: 'print_id', type: 'int4' },
  ],
  mapping: { from: 'id', to: ['print_id', 'kind'] },
}
const read = compileRecordReader({ ...spec, mapping: undefined, columns: spec.columns.slice(0, 6) }, 'json')

function reject (rec: unknown): [string, string] {
  try { read(rec, []) } catch (err) { if (err instanceof Rejection) return [err.reason, err.message]; throw err }
  return assert.fail(`accepted ${JSON.stringify(rec)}`)
}

test('paths, own properties, unknown fields ignored, absent means NULL', () => {
  const out: unknown[] = []
  read({ id: '7', reading: { temp: '-3.5' }, a: { b: { c: 5 } }, kind: 'x', flag: 1, unknown: { anything: true } }, out)
  assert.deepEqual(out, [7, -3.5, '5', null, 'x', true])
  read({ id: 8, reading: 'not an object', a: { b: [1] }, flag: 'false', constructor: 'mine' }, out)
  assert.deepEqual(out, [8, null, null, 'mine', null, false])
})

test('reject messages name the column, the value and the rule', () => {
  assert.deepEqual(reject(5), ['not_an_object', 'a record must be a JSON object, got number 5.'])
  assert.deepEqual(reject({ id: 1 }), ['missing_field', 'flag is missing (the column is not nullable).'])
  assert.deepEqual(reject({ flag: true }), ['missing_field', 'id is missing (the column is not nullable).'])
  assert.deepEqual(reject({ id: 1, flag: true, reading: { temp: 61 } }), ['out_of_range', 'temp must be between -90 and 60, got 61.'])
  assert.deepEqual(reject({ id: 1, flag: true, kind: 'z' }), ['invalid_value', 'kind must be one of "x", "y", got "z".'])
  assert.deepEqual(reject({ id: 1.5, flag: true }), ['invalid_value', 'id must be an integer, got number 1.5.'])
  assert.deepEqual(reject({ id: 'x1', flag: true }), ['invalid_value', 'id must be an integer, got the string "x1".'])
  assert.deepEqual(reject({ id: 2 ** 31, flag: true }), ['out_of_range', 'id must be between -2147483648 and 2147483647 (int4), got 2147483648.'])
  assert.deepEqual(reject({ id: 1, flag: 'yes' }), ['invalid_value', 'flag must be a boolean (true/false, "true"/"false", 1/0), got the string "yes".'])
  assert.deepEqual(reject({ id: 1, flag: true, kind: { x: 1 } }), ['invalid_type', 'kind must be a string, got an object.'])
  assert.deepEqual(reject({ id: 1, flag: true, kind: 'x\u0000' }), ['nul_byte', 'kind contains a NUL character, which PostgreSQL text cannot store.'])
})

test('mapped columns are left for the mapping stage', () => {
  const r = compileRecordReader(spec, 'json')
  const out: unknown[] = []
  r({ id: 3, flag: true, kind: 'not-checked', print_id: 99 }, out)
  assert.equal(out[4], null)
  assert.equal(out[6], null)
})
