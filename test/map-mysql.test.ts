import { after, before, test } from 'node:test'
import { rng } from './helpers'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import mysql from 'mysql2/promise'
import { createResolver, newMappingStats, seedCatalog } from '../src/map'
import type { BlueprintResolver } from '../src/map'
import type { CatalogTable } from '../src/options'

// Integration tests against the real MariaDB on this machine; every test uses its own tables.
const MYSQL_URL = process.env.BRX_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
const SFX = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`
const created: string[] = []
let admin: mysql.Connection

before(async () => { admin = await mysql.createConnection({ uri: MYSQL_URL }) })
after(async () => {
  for (const t of created) await admin.query(`DROP TABLE IF EXISTS \`${t}\``)
  await admin.end()
})

/** Four catalog tables named <prefix>_<kind>_<suffix>, kinds labelled as in production. */
async function catalog (prefix: string, data: Partial<Record<'cards' | 'op' | 'pk' | 'sealed', Array<[cardtraderId: number, id: number]>>> = {}): Promise<CatalogTable[]> {
  const tables: CatalogTable[] = []
  for (const [kind, label] of [['cards', 'cards_prints'], ['op', 'op_prints'], ['pk', 'pk_prints'], ['sealed', 'sealed_products']] as const) {
    const table = `${prefix}_${kind}_${SFX}`
    created.push(table)
    await admin.query(`CREATE TABLE \`${table}\` (id INT NOT NULL PRIMARY KEY, cardtrader_id INT NOT NULL, INDEX (cardtrader_id))`)
    const rows = data[kind] ?? []
    for (let s = 0; s < rows.length; s += 5000) await admin.query(`INSERT INTO \`${table}\` (cardtrader_id, id) VALUES ?`, [rows.slice(s, s + 5000)])
    tables.push({ table, kind: label })
  }
  return tables
}

async function lookup (r: BlueprintResolver, ids: number[], stats = newMappingStats()): Promise<Array<[number, string] | null>> {
  const res = await r.resolve(Int32Array.from(ids), stats)
  return ids.map((_, i) => res.kinds[i] === 0 ? null : [res.printIds[i], r.kinds[res.kinds[i] - 1]])
}


test('priority between tables: the first configured table that has the blueprint wins', async () => {
  const tables = await catalog('prio', {
    cards: [[1, 101], [5, 105]],
    op: [[1, 201], [2, 202]],
    pk: [[2, 302], [3, 303]],
    sealed: [[3, 403], [4, 404], [5, 99], [5, 98]],
  })
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables })
  try {
    await r.check()
    assert.deepEqual(await lookup(r, [1, 2, 3, 4, 5]), [[101, 'cards_prints'], [202, 'op_prints'], [303, 'pk_prints'], [404, 'sealed_products'], [105, 'cards_prints']])
    const reversed = createResolver({ mysqlUrl: MYSQL_URL, tables: [...tables].reverse() })
    // Within one table the smallest id wins (5 is in sealed twice).
    assert.deepEqual(await lookup(reversed, [1, 2, 3, 4, 5]), [[201, 'op_prints'], [302, 'pk_prints'], [403, 'sealed_products'], [404, 'sealed_products'], [98, 'sealed_products']])
    assert.deepEqual(reversed.kinds, ['sealed_products', 'pk_prints', 'op_prints', 'cards_prints'])
    await reversed.close()
  } finally {
    await r.close()
  }
})

test('excluded kinds are flagged, not dropped from the lookup', async () => {
  const tables = await catalog('excl', { cards: [[1, 11]], sealed: [[2, 22], [1, 33]] })
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables, exclude: ['sealed_products', 'pk_prints'] })
  try {
    assert.deepEqual([...r.excluded], [0, 0, 0, 1, 1])
    const res = await r.resolve(Int32Array.of(1, 2, 3), newMappingStats())
    assert.deepEqual([...res.kinds], [1, 4, 0])
    assert.deepEqual([...res.kinds].map(k => r.excluded[k]), [0, 1, 0])
    assert.deepEqual([...res.printIds], [11, 22, 0])
  } finally {
    await r.close()
  }
})

test('unmapped blueprints are cached too (one query per table the first time, none after)', async () => {
  const tables = await catalog('neg', { op: [[10, 1000]] })
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables })
  try {
    const s1 = newMappingStats()
    assert.deepEqual(await lookup(r, [10, 999], s1), [[1000, 'op_prints'], null])
    assert.deepEqual({ ...s1, lookupMs: 0 }, { cacheHits: 0, cacheMisses: 2, roundTrips: 4, rowsFetched: 1, lookupMs: 0 })
    await admin.query(`INSERT INTO \`${tables[0].table}\` (id, cardtrader_id) VALUES (5, 999)`)
    const s2 = newMappingStats()
    assert.deepEqual(await lookup(r, [999, 10], s2), [null, [1000, 'op_prints']])
    assert.deepEqual({ ...s2, lookupMs: 0 }, { cacheHits: 2, cacheMisses: 0, roundTrips: 0, rowsFetched: 0, lookupMs: 0 })
    // Regression guard for the other direction: the change shows once the cache is cleared.
    r.clearCache()
    assert.deepEqual(await lookup(r, [999]), [[5, 'cards_prints']])
  } finally {
    await r.close()
  }
})

test('catalog changes are visible after clearCache() or with a new resolver', async () => {
  const tables = await catalog('chg', { pk: [[7, 70]] })
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables })
  try {
    assert.deepEqual(await lookup(r, [7]), [[70, 'pk_prints']])
    await admin.query(`UPDATE \`${tables[2].table}\` SET id = 71 WHERE cardtrader_id = 7`)
    assert.deepEqual(await lookup(r, [7]), [[70, 'pk_prints']], 'served from the cache')
    const fresh = createResolver({ mysqlUrl: MYSQL_URL, tables })
    assert.deepEqual(await lookup(fresh, [7]), [[71, 'pk_prints']])
    await fresh.close()
    r.clearCache()
    assert.deepEqual(await lookup(r, [7]), [[71, 'pk_prints']])
  } finally {
    await r.close()
  }
})

test('misses are batched: one IN query per table per resolve, chunked at 5,000 ids', async () => {
  // 10,000 distinct ids: 3,000 in cards, 2,500 in op, 1,500 in pk, 1,000 in sealed, 2,000 nowhere.
  const ranges = { cards: [1, 3000], op: [3001, 5500], pk: [5501, 7000], sealed: [7001, 8000] } as const
  const data: Record<string, Array<[number, number]>> = {}
  for (const [k, [lo, hi]] of Object.entries(ranges)) {
    data[k] = []
    for (let id = lo; id <= hi; id++) data[k].push([id, id * 10])
  }
  const tables = await catalog('batch', data)
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables })
  try {
    const ids = Array.from({ length: 10_000 }, (_, i) => i + 1)
    const s1 = newMappingStats()
    const got = await lookup(r, ids, s1)
    assert.equal(got.filter(x => x !== null).length, 8000)
    assert.deepEqual(got[5600], [56010, 'pk_prints'])
    assert.equal(got[9999], null)
    // Remaining misses per table: 10,000 -> 7,000 -> 4,500 -> 3,000: chunks 2 + 2 + 1 + 1.
    assert.equal(s1.roundTrips, 6)
    assert.equal(s1.rowsFetched, 8000)
    assert.equal(s1.cacheMisses, 10_000)

    const small = Array.from({ length: 4000 }, (_, i) => 20_001 + i * 2)
    const s2 = newMappingStats()
    await lookup(r, small, s2)
    assert.equal(s2.roundTrips, 4, 'at most one query per table when nothing needs chunking')

    const s3 = newMappingStats()
    assert.deepEqual(await lookup(r, ids, s3), got)
    assert.deepEqual({ hits: s3.cacheHits, misses: s3.cacheMisses, trips: s3.roundTrips }, { hits: 10_000, misses: 0, trips: 0 })
  } finally {
    await r.close()
  }
})

test('concurrent resolves of the same blueprints share one fetch', async () => {
  const tables = await catalog('dedup', { cards: Array.from({ length: 3000 }, (_, i): [number, number] => [i, i + 1]) })
  const r = createResolver({ mysqlUrl: MYSQL_URL, tables })
  try {
    const ids = Array.from({ length: 4000 }, (_, i) => i)
    const stats = [newMappingStats(), newMappingStats(), newMappingStats()]
    const results = await Promise.all(stats.map(s => lookup(r, ids, s)))
    assert.deepEqual(results[1], results[0])
    assert.deepEqual(results[2], results[0])
    assert.equal(results[0][2999]?.[0], 3000)
    assert.equal(stats.reduce((n, s) => n + s.roundTrips, 0), 4)
  } finally {
    await r.close()
  }
})

test('random catalogs: MySQL and file sources both match a plain-loop reference', async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1e9)
  const rnd = rng(seed)
  const kinds = ['cards', 'op', 'pk', 'sealed'] as const
  const data: Record<string, Array<[number, number]>> = { cards: [], op: [], pk: [], sealed: [] }
  let nextId = 1
  for (let i = 0; i < 20_000; i++) {
    // cardtrader ids in a space of 12,000: overlaps across tables, duplicates inside one.
    data[kinds[Math.floor(rnd() * 4)]].push([1 + Math.floor(rnd() * 12_000), nextId++ * 7 % 1_000_003])
  }
  const tables = await catalog('rnd', data)
  const reference = (id: number): [number, string] | null => {
    for (const [i, k] of kinds.entries()) {
      let best: number | undefined
      for (const [c, p] of data[k]) if (c === id && (best === undefined || p < best)) best = p
      if (best !== undefined) return [best, tables[i].kind as string]
    }
    return null
  }
  const file = path.join(os.tmpdir(), `brx-map-rnd-${SFX}.csv`)
  fs.writeFileSync(file, 'cardtrader_id,print_id,table\n' + kinds.flatMap((k, i) => data[k].map(([c, p]) => `${c},${p},${tables[i].table}`)).join('\n'))
  // A small cache forces evictions between the rounds.
  const my = createResolver({ mysqlUrl: MYSQL_URL, tables, cacheSize: 3000 })
  const fr = createResolver({ catalogFile: file, tables })
  try {
    for (let round = 0; round < 4; round++) {
      const ids = [...new Set(Array.from({ length: 4000 }, () => Math.floor(rnd() * 14_000)))]
      const expected = ids.map(reference)
      assert.deepEqual(await lookup(my, ids), expected, `seed ${seed} round ${round} (mysql)`)
      assert.deepEqual(await lookup(fr, ids), expected, `seed ${seed} round ${round} (file)`)
    }
  } finally {
    await my.close()
    await fr.close()
    fs.rmSync(file, { force: true })
  }
})

test('seedCatalog loads a file that the MySQL resolver then reads back exactly', async () => {
  const names = ['cards', 'op', 'pk', 'sealed'].map(k => `seed_${k}_${SFX}`)
  created.push(...names)
  const tables = names.map(table => ({ table }))
  const lines = ['cardtrader_id,print_id,table']
  for (let i = 0; i < 12_345; i++) lines.push(`${i % 9000},${i},${names[i % 4]}`)
  lines.push('1,999999,some_other_table')
  const file = path.join(os.tmpdir(), `brx-map-seed-${SFX}.csv`)
  fs.writeFileSync(file, lines.join('\n'))
  try {
    const r = await seedCatalog(MYSQL_URL, file, { tables })
    assert.equal(r.rows, 12_345)
    assert.deepEqual(r.tables, { [names[0]]: 3087, [names[1]]: 3086, [names[2]]: 3086, [names[3]]: 3086 })
    // Seeding again replaces, not appends.
    assert.equal((await seedCatalog(MYSQL_URL, file, { tables })).rows, 12_345)
    const [[{ n }]] = await admin.query(`SELECT COUNT(*) AS n FROM \`${names[2]}\``) as any
    assert.equal(Number(n), 3086)
    const my = createResolver({ mysqlUrl: MYSQL_URL, tables })
    const fr = createResolver({ catalogFile: file, tables })
    const ids = Array.from({ length: 9100 }, (_, i) => i)
    assert.deepEqual(await lookup(my, ids), await lookup(fr, ids))
    await my.close()
    await fr.close()
    fs.writeFileSync(file, `cardtrader_id,print_id,table\n1,5,${names[0]}\n2,5,${names[0]}\n`)
    await assert.rejects(seedCatalog(MYSQL_URL, file, { tables }), (e: any) => e.code === 'BRX_ERR_CATALOG_UNAVAILABLE' && e.message.includes(names[0]) && /appears twice/.test(e.message))
  } finally {
    fs.rmSync(file, { force: true })
  }
})
