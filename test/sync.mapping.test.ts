/**
 * Blueprint mapping through the whole pipeline, on the real MariaDB: the
 * catalog the generator writes is loaded into a database of this test's own,
 * and every synced row's print must be what the generator's oracle
 * (catalogEntry: first table in priority order wins) says.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import mysql from 'mysql2/promise'
import { createEngine, migrate, sync } from '../src'
import { catalogEntry, generateProducts, writeCatalog, writeExport } from '../tools/generate'
import { seedCatalog } from '../src/map'
import { DATABASE_URL, makePool, randomUser, removeTmp, tmpPath } from './helpers'

const SEED = 7
const BLUEPRINTS = 3000
const PRODUCTS = 4000
const DB = `brx_maptest_${process.pid}`
const ROOT_URL = 'mysql://root@127.0.0.1:3306/test'
const MYSQL_URL = `mysql://root@127.0.0.1:3306/${DB}`
const pool = makePool()
let exportFile = ''
let root: mysql.Connection

interface Expected { printId: number | null, table: string | null, fate: 'mapped' | 'unmapped' | 'excluded' }

function expected (blueprintId: number, exclude: string[]): Expected {
  const hit = catalogEntry(blueprintId, SEED)[0]
  if (hit === undefined) return { printId: null, table: null, fate: 'unmapped' }
  if (exclude.includes(hit.table)) return { printId: null, table: null, fate: 'excluded' }
  return { printId: hit.printId, table: hit.table, fate: 'mapped' }
}

async function rowsOf (user: string): Promise<Map<string, { print_id: number | null, print_table: string | null }>> {
  const { rows } = await pool.query('SELECT blueprint_id, external_stock_id, print_id, print_table FROM user_inventory_items WHERE user_id = $1', [user])
  return new Map(rows.map(r => [`${String(r.blueprint_id)}|${String(r.external_stock_id)}`, r]))
}

before(async () => {
  await migrate({ databaseUrl: DATABASE_URL })
  root = await mysql.createConnection({ uri: ROOT_URL })
  await root.query(`DROP DATABASE IF EXISTS \`${DB}\``)
  await root.query(`CREATE DATABASE \`${DB}\``)
  const catalog = tmpPath('catalog.csv')
  await writeCatalog(catalog, { seed: SEED, blueprints: BLUEPRINTS })
  await seedCatalog(MYSQL_URL, catalog)
  exportFile = tmpPath('export.json')
  await writeExport(exportFile, { products: PRODUCTS, seed: SEED, blueprints: BLUEPRINTS })
})

after(async () => {
  await root.query(`DROP DATABASE IF EXISTS \`${DB}\``)
  await root.end()
  await pool.end()
  removeTmp()
})

test('every row carries the print of the first catalog table that has its blueprint; excluded and unmapped are counted, not written', async () => {
  const user = randomUser()
  const exclude = ['op_prints']
  const report = await sync({ input: exportFile, userId: user, databaseUrl: DATABASE_URL, mapping: { source: 'mysql', mysqlUrl: MYSQL_URL, exclude } })
  const products = [...generateProducts({ products: PRODUCTS, seed: SEED, blueprints: BLUEPRINTS })] as Array<{ id: number, blueprint_id: number }>
  const fates = { mapped: 0, unmapped: 0, excluded: 0 }
  const stored = await rowsOf(user)
  for (const p of products) {
    const e = expected(p.blueprint_id, exclude)
    fates[e.fate]++
    const row = stored.get(`${p.blueprint_id}|${p.id}`)
    if (e.fate !== 'mapped') { assert.equal(row, undefined, `blueprint ${p.blueprint_id} (${e.fate}) was written`); continue }
    assert.ok(row !== undefined, `product ${p.id} missing`)
    assert.deepEqual([row.print_id, row.print_table], [e.printId, e.table], `blueprint ${p.blueprint_id}`)
  }
  assert.ok(fates.unmapped > 0 && fates.excluded > 0 && fates.mapped > 0, `the sample must exercise every fate: ${JSON.stringify(fates)}`)
  assert.equal(report.rows.unmapped, fates.unmapped)
  assert.equal(report.rows.excluded, fates.excluded)
  assert.equal(report.rows.written, fates.mapped)
  assert.equal(stored.size, fates.mapped)
  assert.equal(report.mapping.source, 'mysql')
  // Batching: at most one IN query per catalog table per partition, never one per row.
  assert.ok(report.mapping.roundTrips <= report.partitions * 4, `round trips ${report.mapping.roundTrips} for ${report.partitions} partitions`)
  assert.ok(report.mapping.roundTrips > 0)
})

test('unmapped: keep writes the product with a NULL print', async () => {
  const user = randomUser()
  const report = await sync({ input: exportFile, userId: user, databaseUrl: DATABASE_URL, mapping: { source: 'mysql', mysqlUrl: MYSQL_URL, unmapped: 'keep' } })
  const stored = await rowsOf(user)
  let nulls = 0
  for (const r of stored.values()) if (r.print_id === null) { nulls++; assert.equal(r.print_table, null) }
  assert.ok(nulls > 0)
  assert.equal(report.rows.unmapped, 0, 'kept products are written, not counted as unmapped')
  assert.equal(report.mapping.unmapped, nulls)
  assert.equal(report.rows.written, PRODUCTS)
})

test('a catalog change between two syncs reaches the target as updates', async () => {
  const user = randomUser()
  const engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'mysql', mysqlUrl: MYSQL_URL } })
  try {
    await engine.sync({ input: exportFile, userId: user })
    const conn = await mysql.createConnection({ uri: MYSQL_URL })
    const [res] = await conn.query('UPDATE cards_prints SET id = id + 100000000 WHERE cardtrader_id % 10 = 0')
    await conn.end()
    const changedBlueprints = new Set<number>()
    for (const p of generateProducts({ products: PRODUCTS, seed: SEED, blueprints: BLUEPRINTS }) as Iterable<{ blueprint_id: number }>) {
      const e = catalogEntry(p.blueprint_id, SEED)[0]
      if (e?.table === 'cards_prints' && p.blueprint_id % 10 === 0) changedBlueprints.add(p.blueprint_id)
    }
    assert.ok((res as { affectedRows: number }).affectedRows > 0)
    engine.clearMappingCache()
    const second = await engine.sync({ input: exportFile, userId: user })
    const stored = await rowsOf(user)
    let moved = 0
    for (const [key, r] of stored) {
      const bp = Number(key.split('|')[0])
      if (changedBlueprints.has(bp)) { moved++; assert.ok((r.print_id as number) > 100000000, `blueprint ${bp} kept its old print`) }
    }
    assert.equal(second.rows.updated, moved)
    assert.equal(second.rows.inserted + second.rows.deleted, 0)
  } finally {
    await engine.close()
    const conn = await mysql.createConnection({ uri: MYSQL_URL })
    await conn.query('UPDATE cards_prints SET id = id - 100000000 WHERE id > 100000000')
    await conn.end()
  }
})

test('MySQL unreachable: a clear error before anything is written, the inventory untouched', async () => {
  const user = randomUser()
  await sync({ input: exportFile, userId: user, databaseUrl: DATABASE_URL, mapping: { source: 'none' } })
  const before = await pool.query('SELECT count(*)::int AS n, max(xmin::text) AS x FROM user_inventory_items WHERE user_id = $1', [user])
  await assert.rejects(
    sync({ input: exportFile, userId: user, databaseUrl: DATABASE_URL, mapping: { source: 'mysql', mysqlUrl: 'mysql://root:Hunter2pw@127.0.0.1:1/test' } }),
    (err: { code?: string, message: string }) => {
      assert.equal(err.code, 'BRX_ERR_CATALOG_UNAVAILABLE')
      assert.ok(!err.message.includes('Hunter2pw'))
      return true
    })
  const afterRows = await pool.query('SELECT count(*)::int AS n, max(xmin::text) AS x FROM user_inventory_items WHERE user_id = $1', [user])
  assert.deepEqual(afterRows.rows[0], before.rows[0])
  const run = await pool.query("SELECT status, error_code FROM sync_runs WHERE scope = jsonb_build_object('user_id', $1::text) ORDER BY started_at DESC LIMIT 1", [user])
  assert.deepEqual(run.rows[0], { status: 'failed', error_code: 'BRX_ERR_CATALOG_UNAVAILABLE' })
})

test('20 concurrent syncs through one engine never exceed the MySQL pool bound', async () => {
  const engine = createEngine({ databaseUrl: DATABASE_URL, pgPoolSize: 6, mapping: { source: 'mysql', mysqlUrl: MYSQL_URL, poolSize: 3 } })
  const sampler = await mysql.createConnection({ uri: ROOT_URL })
  let max = 0
  let sampling = true
  const sample = (async () => {
    while (sampling) {
      const [rows] = await sampler.query('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ?', [DB])
      max = Math.max(max, Number((rows as Array<{ n: number }>)[0].n))
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  })()
  try {
    const users = Array.from({ length: 20 }, () => randomUser())
    const reports = await Promise.all(users.map(async u => await engine.sync({ input: exportFile, userId: u })))
    for (const r of reports) assert.equal(r.rows.read, PRODUCTS)
  } finally {
    sampling = false
    await sample
    await sampler.end()
    await engine.close()
  }
  assert.ok(max >= 1, 'the sampler saw no catalog connection at all')
  assert.ok(max <= 3, `saw ${max} MySQL connections with poolSize 3`)
})
