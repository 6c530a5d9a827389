/**
 * The presets' specs and the spec fields they brought (mode, derived,
 * sources): validation names the field at fault and refuses any identifier
 * that is not one; the DDL of the order book creates its source tables; the
 * sample generators are deterministic.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { presets, validateDataset, type DatasetSpec } from '../src/dataset'
import { buildDatasetDdl } from '../src/db/ddl'
import { buildMergeSql } from '../src/merge/sql'
import { candlesNdjson, catalogCsv, orderBookNdjson } from '../tools/generate/presets'

const base = (): DatasetSpec => structuredClone(presets['order-book'])

test('every preset validates', () => {
  for (const d of Object.values(presets)) validateDataset(d)
})

test('derived columns: each wrong field is named', () => {
  const cases: Array<[(d: DatasetSpec) => void, RegExp]> = [
    [d => { (d.derived as any)[0].aggregate.fn = 'avg' }, /dataset\.derived\[0\]\.aggregate\.fn: must be one of sum, count, min, max/],
    [d => { (d.derived as any)[0].aggregate.table = 'x; DROP TABLE y' }, /dataset\.derived\[0\]\.aggregate\.table: .* is not a valid table name/],
    [d => { (d.derived as any)[0].aggregate.column = 'qtd"--' }, /dataset\.derived\[0\]\.aggregate\.column/],
    [d => { (d.derived as any)[0].aggregate.on = { 'origem) OR (1=1': 'num_pedido' } }, /dataset\.derived\[0\]\.aggregate\.on: .* is not a valid column name/],
    [d => { (d.derived as any)[0].aggregate.on = { origem: 'nope' } }, /dataset\.derived\[0\]\.aggregate\.on\.origem: "nope" is not a scope or input column/],
    [d => { (d.derived as any)[0].aggregate.default = '0; SELECT 1' }, /dataset\.derived\[0\]\.aggregate\.default: must be a finite number/],
    [d => { (d.derived as any)[2].arithmetic.op = '/' }, /dataset\.derived\[2\]\.arithmetic\.op: must be one of \+ - \*/],
    [d => { (d.derived as any)[2].arithmetic.args = ['qtd_produto_pedido', 'pg_sleep(1)'] }, /dataset\.derived\[2\]\.arithmetic\.args\[1\]: "pg_sleep\(1\)" is not an input column/],
    [d => { (d.derived as any)[0].arithmetic = { op: '+', args: ['qtd_saldo', 1] }; delete (d.derived as any)[0].aggregate }, /dataset\.derived\[0\]\.arithmetic\.args\[0\]: "qtd_saldo" is not an input column nor a derived column declared before/],
    [d => { (d.derived as any)[1].name = 'cliente' }, /dataset\.derived\[1\]\.name: "cliente" appears twice/],
    [d => { (d.derived as any)[1].type = 'money' }, /dataset\.derived\[1\]\.type: 'money' is not a type/],
    [d => { (d.derived as any)[1].extra = 1 }, /dataset\.derived\[1\]\.extra: is not a derived column field/],
    [d => { d.mode = 'replace' as any }, /dataset\.mode: must be one of mirror, upsert, insert-new/],
    [d => { (d.sources as any)[0].columns[0].name = 'a b' }, /dataset\.sources\[0\]\.columns\[0\]\.name/],
    [d => { d.compare = ['qtd_nope'] }, /dataset\.compare\[0\]: "qtd_nope" is not in dataset\.columns nor dataset\.derived/],
  ]
  for (const [mutate, re] of cases) {
    const d = base()
    mutate(d)
    assert.throws(() => validateDataset(d), re)
  }
})

test('the order book DDL: derived columns in the table, source tables created if absent', () => {
  const ddl = buildDatasetDdl(presets['order-book']).join('\n')
  assert.match(ddl, /"qtd_saldo" numeric\(15,3\)/)
  assert.match(ddl, /CREATE TABLE IF NOT EXISTS "faturamento_produto" \(\s+"origem" text,\s+"cod_produto" text,\s+"qtd_faturada" numeric\(15,3\)\s+\)/)
  assert.match(ddl, /CREATE TABLE IF NOT EXISTS "separacao"/)
})

test('derived SQL: identifiers quoted, defaults as numbers, cast to the declared type', () => {
  const sql = buildMergeSql(presets['order-book'], 'brx_staging.s_0').derive as string
  assert.match(sql, /COALESCE\(brx_a0\.v0, \(0\)\)\)::numeric\(15,3\) AS "qtd_faturada"/)
  assert.match(sql, /s\."qtd_produto_pedido" - \(COALESCE\(brx_a0\.v0, \(0\)\)\) - \(COALESCE\(brx_a1\.v0, \(0\)\)\)/)
  assert.match(sql, /ON brx_a0\.k0 = s\."cod_produto" AND brx_a0\.k1 = s\."num_pedido"/)
})

test('generators are deterministic and honour their options', () => {
  const take = (g: Generator<string>): string => [...g].join('\n')
  assert.equal(take(catalogCsv({ rows: 500, seed: 3, dupRate: 0.1, badRate: 0.05 })), take(catalogCsv({ rows: 500, seed: 3, dupRate: 0.1, badRate: 0.05 })))
  assert.notEqual(take(catalogCsv({ rows: 500, seed: 3 })), take(catalogCsv({ rows: 500, seed: 3, change: 0.2 })))
  assert.equal([...catalogCsv({ rows: 100, seed: 1, dupRate: 0.5 })].length > 101, true)
  const c = [...candlesNdjson({ rows: 200, offset: 50 })].map(l => JSON.parse(l))
  assert.equal(new Set(c.map(x => `${x.symbol}|${x.timeframe}`)).size, 2)
  assert.ok(c.some(x => typeof x.ts === 'number') && c.some(x => typeof x.ts === 'string'), 'both timestamp forms')
  assert.equal(take(orderBookNdjson({ rows: 300, seed: 2 })), take(orderBookNdjson({ rows: 300, seed: 2 })))
})
