/**
 * A sync that changes nothing writes nothing: a second identical sync (or the
 * same inventory in another JSON form) reports every row unchanged and leaves
 * every row's xmin and updated_at as they were. A changed row moves its
 * updated_at; created_at never moves.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  DATABASE_URL, makePool, randomUser, removeTmp, Prng, seedFromEnv, writeExport, timestamps, api,
  randomProduct, freshId, toWire, renderJson, changeProduct, type Product, type TimestampRow,
} from './helpers'

const seed = seedFromEnv()
const pool = makePool(2)

before(async () => { await api.migrate({ databaseUrl: DATABASE_URL }) })
after(async () => { await pool.end(); removeTmp() })

async function syncTexts (userId: string, texts: string[], mode: 'mirror' | 'upsert' = 'mirror', format: 'json' | 'ndjson' = 'json'): Promise<any> {
  const file = writeExport(texts, { format })
  return await api.sync({ input: file.path, userId, mode, databaseUrl: DATABASE_URL, mapping: { source: 'none' } })
}

function counts (report: any): Record<string, number> {
  const { inserted, updated, unchanged, deleted } = report.rows
  return { inserted, updated, unchanged, deleted }
}

/** Keys whose row was rewritten (xmin or updated_at moved) or whose created_at / id moved. */
function moved (a: Map<string, TimestampRow>, b: Map<string, TimestampRow>): { rewritten: string[], createdMoved: string[] } {
  const rewritten: string[] = []
  const createdMoved: string[] = []
  for (const [k, x] of a) {
    const y = b.get(k)
    if (y === undefined) continue
    if (x.xmin !== y.xmin || x.updatedAt !== y.updatedAt) rewritten.push(k)
    if (x.createdAt !== y.createdAt || x.id !== y.id) createdMoved.push(k)
  }
  return { rewritten, createdMoved }
}

test(`a repeated sync reports everything unchanged and rewrites no row (seed ${seed})`, async () => {
  const rng = new Prng(seed)
  const user = randomUser()
  const products: Product[] = Array.from({ length: 400 }, () => randomProduct(rng, freshId(rng)))
  const texts = products.map(p => JSON.stringify(toWire(rng, p)))

  const r1 = await syncTexts(user, texts)
  assert.deepEqual(counts(r1), { inserted: 400, updated: 0, unchanged: 0, deleted: 0 })
  const t1 = await timestamps(pool, user)
  assert.equal(t1.size, 400)

  // the very same file
  const r2 = await syncTexts(user, texts)
  assert.deepEqual(counts(r2), { inserted: 0, updated: 0, unchanged: 400, deleted: 0 }, `seed ${seed}`)
  const t2 = await timestamps(pool, user)
  assert.deepEqual(moved(t1, t2), { rewritten: [], createdMoved: [] }, `seed ${seed}`)

  // the same inventory in other forms: NDJSON, other key order, escapes, price as an object or string, graded as "0"...
  const style = { escape: 0.5, dupKeys: 0.1, ws: 0.3, oneLine: true }
  const r3 = await syncTexts(user, rng.shuffle(products.map(p => renderJson(rng, toWire(rng, p), style))), 'mirror', 'ndjson')
  assert.deepEqual(counts(r3), { inserted: 0, updated: 0, unchanged: 400, deleted: 0 }, `seed ${seed}`)
  const r4 = await syncTexts(user, products.map(p => JSON.stringify(toWire(rng, p))), 'upsert')
  assert.deepEqual(counts(r4), { inserted: 0, updated: 0, unchanged: 400, deleted: 0 }, `seed ${seed}`)
  const t4 = await timestamps(pool, user)
  assert.deepEqual(moved(t1, t4), { rewritten: [], createdMoved: [] }, `seed ${seed}`)
})

test(`a changed row moves its updated_at, the others keep theirs, created_at never moves (seed ${seed})`, async () => {
  const rng = new Prng(seed ^ 0xbeef)
  const user = randomUser()
  const products: Product[] = Array.from({ length: 300 }, () => randomProduct(rng, freshId(rng)))
  const render = (ps: Product[]): string[] => ps.map(p => JSON.stringify(toWire(rng, p)))
  await syncTexts(user, render(products))
  const t1 = await timestamps(pool, user)

  // change a few rows, one column each at least
  const changedIdx = [0, 17, 123, 299]
  const next = products.map((p, i) => changedIdx.includes(i) ? changeProduct(rng, p) : p)
  const changedKeys = changedIdx.map(i => `${products[i].blueprint_id}|${String(products[i].id)}`)
  const r2 = await syncTexts(user, render(next))
  assert.deepEqual(counts(r2), { inserted: 0, updated: changedIdx.length, unchanged: 300 - changedIdx.length, deleted: 0 }, `seed ${seed}`)
  const t2 = await timestamps(pool, user)
  const m = moved(t1, t2)
  assert.deepEqual(m.rewritten.sort(), [...changedKeys].sort(), `only the changed rows are rewritten (seed ${seed})`)
  assert.deepEqual(m.createdMoved, [], 'created_at (and id) never move')
  for (const k of changedKeys) {
    const a = t1.get(k) as TimestampRow
    const b = t2.get(k) as TimestampRow
    assert.ok(b.updatedUs > a.updatedUs, `updated_at of ${k} moved forward (${a.updatedAt} -> ${b.updatedAt})`)
  }

  // remove one and add one (mirror): the rest stay untouched; the new row has created_at = updated_at
  const extra = randomProduct(rng, freshId(rng))
  const r3 = await syncTexts(user, render([...next.slice(1), extra]))
  assert.deepEqual(counts(r3), { inserted: 1, updated: 0, unchanged: 299, deleted: 1 }, `seed ${seed}`)
  const t3 = await timestamps(pool, user)
  const m3 = moved(t2, t3)
  assert.deepEqual(m3, { rewritten: [], createdMoved: [] })
  const added = t3.get(`${extra.blueprint_id}|${String(extra.id)}`) as TimestampRow
  assert.equal(added.createdAt, added.updatedAt, 'a new row is created and updated at the same moment')
  assert.equal(t3.has(changedKeys[0]), false)

  // changing a row back and forth: created_at stays, updated_at moves each time
  const k = changedKeys[1]
  const i = changedIdx[1]
  const r4 = await syncTexts(user, render([...next.slice(1).map((p, j) => j + 1 === i ? products[i] : p), extra]))
  assert.equal(r4.rows.updated, 1)
  const t4 = await timestamps(pool, user)
  assert.equal(t4.get(k)?.createdAt, t1.get(k)?.createdAt)
  assert.ok((t4.get(k) as TimestampRow).updatedUs > (t3.get(k) as TimestampRow).updatedUs)
})

test('properties in another key order, or price as {cents} instead of price_cents, is no change', async () => {
  const user = randomUser()
  const a = '{"id": 1, "blueprint_id": 5, "quantity": 2, "price_cents": 150, "price_currency": "EUR", "graded": false, "properties_hash": {"condition": "Near Mint", "mtg_foil": false, "mtg_language": "jp"}}'
  const b = '{"properties_hash": {"mtg_language": "jp", "mtg_foil": false, "condition": "Near Mint"}, "graded": "0", "price": {"cents": "150", "currency": "EUR"}, "quantity": "2", "blueprint_id": " 5 ", "id": "1"}'
  await syncTexts(user, [a])
  const t1 = await timestamps(pool, user)
  const r = await syncTexts(user, [b])
  assert.deepEqual(counts(r), { inserted: 0, updated: 0, unchanged: 1, deleted: 0 })
  assert.deepEqual(moved(t1, await timestamps(pool, user)), { rewritten: [], createdMoved: [] })
})
