/**
 * The engine diff's memory budget (src/diff/read.ts): a scope over it is
 * never held, whether the estimate made before reading says so or the read
 * itself finds it (a sample of short first rows under-estimating the rest);
 * a scope within it is read exactly (every row, bytes as PostgreSQL sends
 * them). Real PostgreSQL.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { DATABASE_URL, makePool, randomUser, api } from './helpers'
import { readExisting } from '../src/diff/read'
import { presets } from '../src/dataset'

const pool = makePool()
const dataset = presets['cardtrader-inventory']

before(async () => { await api.migrate({ databaseUrl: DATABASE_URL }) })
after(async () => { await pool.end() })

/** `rows` products for a new user; the first `short` have a 1-character name, the rest one of `long` characters. */
async function scope (rows: number, short: number, long: number): Promise<string> {
  const user = randomUser()
  await pool.query(`INSERT INTO user_inventory_items (user_id, blueprint_id, external_stock_id, name_en, quantity, price_cents, properties, graded)
    SELECT $1, 1 + i % 1000, i::text, CASE WHEN i <= $3 THEN 'x' ELSE repeat('y', $4) END, 1, 100, '{}'::jsonb, false
      FROM generate_series(1, $2::int) i ORDER BY i`, [user, rows, short, long])
  return user
}

async function read (user: string, maxBytes?: number): Promise<Awaited<ReturnType<typeof readExisting>>> {
  const client = await pool.connect()
  try {
    return await readExisting(client, dataset, [user], maxBytes)
  } finally { client.release() }
}

test('a scope within the budget is read whole: every row, and nothing over the budget', async () => {
  const user = await scope(5000, 0, 20)
  const all = await read(user)
  assert.ok(all !== null)
  assert.equal(all.rows, 5000)
  const bytes = all.bytes.byteLength + all.starts.byteLength + all.table.byteLength
  // The same scope with a budget just above what it took: still read; well below it: not held.
  const again = await read(user, bytes + 64 * 1024)
  assert.equal(again?.rows, 5000)
  assert.equal(await read(user, Math.floor(bytes / 3)), null)
})

test('a scope the estimate puts over the budget is not read; one it under-estimates is dropped by the read', async () => {
  // 2,000 short rows first (the sample), then 6,000 of 300 characters: the estimate sees ~1/10 of the real size.
  const user = await scope(8000, 2000, 300)
  const full = await read(user)
  assert.ok(full !== null && full.rows === 8000)
  const real = full.bytes.byteLength
  // Over the estimate too: refused before reading.
  assert.equal(await read(user, 1024), null)
  // Above the (short) estimate, below the real size: the read itself must refuse to hold it.
  assert.equal(await read(user, Math.floor(real / 2)), null)
  // The connection is still usable after a drained read (the pool hands it out again).
  assert.equal((await read(user))?.rows, 8000)
})

test('an empty scope holds no rows', async () => {
  assert.equal((await read(randomUser()))?.rows, 0)
})
