import { test } from 'node:test'
import assert from 'node:assert/strict'
import mysql from 'mysql2/promise'
import { createResolver, newMappingStats } from '../src/map'

// poolSize is the bound on MySQL connections for the whole engine, however many resolves run at once.
const MYSQL_URL = process.env.BRX_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
const SFX = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`

test('20 concurrent resolves with poolSize 3 never hold more than 3 MySQL connections', async (t) => {
  // The resolver gets a database of its own so the server's process list tells its connections apart from anyone else's.
  const db = `brx_map_pool_${SFX}`
  const admin = await mysql.createConnection({ uri: MYSQL_URL })
  await admin.query(`CREATE DATABASE \`${db}\``)
  const url = new URL(MYSQL_URL)
  url.pathname = '/' + db
  const tables = ['cards', 'op', 'pk', 'sealed'].map(k => ({ table: `${k}_prints` }))
  try {
    for (const [i, { table }] of tables.entries()) {
      await admin.query(`CREATE TABLE \`${db}\`.\`${table}\` (id INT NOT NULL PRIMARY KEY, cardtrader_id INT NOT NULL, INDEX (cardtrader_id))`)
      const rows = Array.from({ length: 25_000 }, (_, k): [number, number] => [k, k * 4 + i])
      for (let s = 0; s < rows.length; s += 5000) await admin.query(`INSERT INTO \`${db}\`.\`${table}\` (id, cardtrader_id) VALUES ?`, [rows.slice(s, s + 5000)])
    }
    const r = createResolver({ mysqlUrl: url.toString(), tables, poolSize: 3 })
    let sampling = true
    let max = 0
    let samples = 0
    const seen = new Set<number>()
    const sampler = (async () => {
      while (sampling) {
        const [rows] = await admin.query('SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?', [db]) as any
        max = Math.max(max, rows.length)
        for (const x of rows) seen.add(Number(x.ID))
        samples++
      }
    })()
    const stats = Array.from({ length: 20 }, () => newMappingStats())
    // Disjoint id ranges: every resolve misses the cache and queries all 4 tables.
    const results = await Promise.all(stats.map((s, j) => r.resolve(Int32Array.from({ length: 5000 }, (_, k) => j * 5000 + k), s)))
    sampling = false
    await sampler
    for (const [j, res] of results.entries()) {
      for (let k = 0; k < 5000; k += 997) {
        const id = j * 5000 + k
        assert.equal(res.kinds[k], id % 4 + 1)
        assert.equal(res.printIds[k], id >> 2)
      }
    }
    assert.equal(stats.reduce((n, s) => n + s.roundTrips, 0), 80)
    await r.close()
    t.diagnostic(`${samples} samples, at most ${max} connections at once, ${seen.size} distinct`)
    assert.ok(samples >= 10, `only ${samples} samples`)
    assert.ok(max >= 1 && max <= 3, `saw ${max} connections at once`)
    assert.ok(seen.size <= 3, `saw ${seen.size} distinct connections`)
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS \`${db}\``)
    await admin.end()
  }
})
