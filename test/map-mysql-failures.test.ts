import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import mysql from 'mysql2/promise'
import { createResolver, newMappingStats } from '../src/map'
import type { CatalogTable } from '../src/options'

// A MySQL failure must surface as a catalog error, never as "everything unmapped".
const MYSQL_URL = process.env.BRX_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
const SFX = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`
const created: string[] = []
let admin: mysql.Connection

before(async () => { admin = await mysql.createConnection({ uri: MYSQL_URL }) })
after(async () => {
  for (const t of created) await admin.query(`DROP TABLE IF EXISTS \`${t}\``)
  await admin.end()
})

async function catalog (prefix: string): Promise<CatalogTable[]> {
  const tables: CatalogTable[] = []
  for (const kind of ['cards', 'op', 'pk', 'sealed']) {
    const table = `${prefix}_${kind}_${SFX}`
    created.push(table)
    await admin.query(`CREATE TABLE \`${table}\` (id INT NOT NULL PRIMARY KEY, cardtrader_id INT NOT NULL, INDEX (cardtrader_id))`)
    await admin.query(`INSERT INTO \`${table}\` (id, cardtrader_id) VALUES (1, 1), (2, 2)`)
    tables.push({ table })
  }
  return tables
}

test('unreachable MySQL: check() and resolve() fail fast with BRX_ERR_CATALOG_UNAVAILABLE, naming the host but not the password', async () => {
  const r = createResolver({ mysqlUrl: 'mysql://root:s3cret@127.0.0.1:1/test' })
  try {
    const t0 = Date.now()
    await assert.rejects(r.check(), (e: any) => {
      assert.equal(e.code, 'BRX_ERR_CATALOG_UNAVAILABLE')
      assert.match(e.message, /MySQL at 127\.0\.0\.1:1\/test cannot be reached: .*ECONNREFUSED/)
      assert.ok(!e.message.includes('s3cret'), e.message)
      assert.ok(!JSON.stringify(e.toJSON()).includes('s3cret'))
      return true
    })
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`)
    await assert.rejects(r.resolve(Int32Array.of(1, 2, 3), newMappingStats()), { code: 'BRX_ERR_CATALOG_UNAVAILABLE' })
  } finally {
    await r.close()
  }
})

test('wrong password: BRX_ERR_CATALOG_UNAVAILABLE without the password', async () => {
  const r = createResolver({ mysqlUrl: 'mysql://brx_nobody_here:s3cret@127.0.0.1:3306/test' })
  try {
    await assert.rejects(r.check(), (e: any) => e.code === 'BRX_ERR_CATALOG_UNAVAILABLE' && /Access denied/.test(e.message) && !e.message.includes('s3cret'))
  } finally {
    await r.close()
  }
})

test('missing table or column: check() names the table', async () => {
  const tables = await catalog('miss')
  const gone = `gone_${SFX}`
  const r1 = createResolver({ mysqlUrl: MYSQL_URL, tables: [...tables, { table: gone }] })
  const r2 = createResolver({ mysqlUrl: MYSQL_URL, tables: [{ ...tables[1], externalColumn: 'blueprint_id' }] })
  try {
    await assert.rejects(r1.check(), (e: any) => e.code === 'BRX_ERR_CATALOG_UNAVAILABLE' && e.table === gone && e.message.includes(`The catalog table ${gone} does not exist in MySQL at 127.0.0.1:3306/test`))
    await assert.rejects(r1.resolve(Int32Array.of(99), newMappingStats()), (e: any) => e.code === 'BRX_ERR_CATALOG_UNAVAILABLE' && e.table === gone)
    // The failed batch was not cached as "unmapped": the first tables still answer.
    const ok = createResolver({ mysqlUrl: MYSQL_URL, tables })
    assert.deepEqual([...(await ok.resolve(Int32Array.of(99, 1), newMappingStats())).kinds], [0, 1])
    await ok.close()
    await assert.rejects(r2.check(), (e: any) => e.code === 'BRX_ERR_CATALOG_UNAVAILABLE' && e.table === tables[1].table && /lacks a configured column: .*blueprint_id/.test(e.message))
  } finally {
    await r1.close()
    await r2.close()
  }
})

test('a lookup past lookupTimeoutMs fails with BRX_ERR_CATALOG_TIMEOUT and caches nothing', async () => {
  const tables = await catalog('tmo')
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables, lookupTimeoutMs: 300, poolSize: 2 })
  const locker = await mysql.createConnection({ uri: MYSQL_URL })
  try {
    await r.check()
    // A write lock held elsewhere makes the SELECT on the second table wait.
    await locker.query(`LOCK TABLES \`${tables[1].table}\` WRITE`)
    const t0 = Date.now()
    await assert.rejects(r.resolve(Int32Array.of(1, 2, 3), newMappingStats()), (e: any) => {
      assert.equal(e.code, 'BRX_ERR_CATALOG_TIMEOUT')
      assert.ok(e.message.includes(`The lookup of 3 blueprints at MySQL at 127.0.0.1:3306${new URL(MYSQL_URL).pathname} exceeded mapping.lookupTimeoutMs (300 ms)`), e.message)
      return true
    })
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`)
    // Cancellation while waiting on the same lock.
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    await assert.rejects(r.resolve(Int32Array.of(3), newMappingStats(), ac.signal), { code: 'BRX_ERR_CANCELLED' })
    await locker.query('UNLOCK TABLES')
    // The timed-out connection was destroyed; the pool serves the retry, and nothing was cached as unmapped.
    const s = newMappingStats()
    const res = await r.resolve(Int32Array.of(1, 2, 3), s)
    assert.deepEqual([...res.kinds], [1, 1, 0])
    assert.equal(s.cacheMisses, 3)
  } finally {
    await locker.query('UNLOCK TABLES').catch(() => {})
    await locker.end()
    await r.close()
  }
})

test('an already-aborted signal and a closed resolver fail at once', async () => {
  const tables = await catalog('closed')
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables })
  await assert.rejects(r.resolve(Int32Array.of(1), newMappingStats(), AbortSignal.abort()), { code: 'BRX_ERR_CANCELLED' })
  await assert.rejects(r.check(AbortSignal.abort()), { code: 'BRX_ERR_CANCELLED' })
  assert.deepEqual([...(await r.resolve(Int32Array.of(1), newMappingStats())).printIds], [1])
  await r.close()
  await assert.rejects(r.resolve(Int32Array.of(1), newMappingStats()), (e: any) => e.code === 'BRX_ERR_CATALOG_UNAVAILABLE' && /closed/.test(e.message))
})
