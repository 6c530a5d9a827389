import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { sync } from '../src'
import { DATABASE_URL, makePool, randomUser, removeTmp, tmpPath } from './helpers'

const pool = makePool(2)
after(async () => { await pool.end(); removeTmp() })

const product = (id: number): string => JSON.stringify({ id, blueprint_id: 5, quantity: 1, price_cents: 100 })

// Regression: a first sync opened its COPY before the input, so a missing file left the
// connection in COPY mode and the cleanup's ROLLBACK waited behind it forever.
test('a missing input file fails fast with BRX_ERR_INPUT_UNREADABLE, on a first sync and on a re-sync', { timeout: 30_000 }, async () => {
  const user = randomUser()
  const opts = { userId: user, databaseUrl: DATABASE_URL, mapping: { source: 'none' as const } }
  await assert.rejects(sync({ ...opts, input: '/nonexistent/export.json' }), { code: 'BRX_ERR_INPUT_UNREADABLE' })
  const file = tmpPath('one.json')
  fs.writeFileSync(file, `[${product(1)}]`)
  await sync({ ...opts, input: file })
  await assert.rejects(sync({ ...opts, input: '/nonexistent/export.json' }), { code: 'BRX_ERR_INPUT_UNREADABLE' })
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM user_inventory_items WHERE user_id = $1', [user])
  assert.equal(rows[0].n, 1)
})

test('a truncated export fails before the merge: mirror mode deletes nothing, on either path', { timeout: 30_000 }, async () => {
  const user = randomUser()
  const opts = { userId: user, databaseUrl: DATABASE_URL, mapping: { source: 'none' as const } }
  const truncated = tmpPath('truncated.json')
  fs.writeFileSync(truncated, `[${product(1)},${product(2)},{"id": 3, "blueprint_id": 5, "quant`)
  await assert.rejects(sync({ ...opts, input: truncated }), { code: 'BRX_ERR_INPUT_MALFORMED' })
  assert.equal((await pool.query('SELECT count(*)::int AS n FROM user_inventory_items WHERE user_id = $1', [user])).rows[0].n, 0)
  const full = tmpPath('full.json')
  fs.writeFileSync(full, `[${[1, 2, 3, 4].map(product).join(',')}]`)
  await sync({ ...opts, input: full })
  await assert.rejects(sync({ ...opts, input: truncated }), { code: 'BRX_ERR_INPUT_MALFORMED' })
  assert.equal((await pool.query('SELECT count(*)::int AS n FROM user_inventory_items WHERE user_id = $1', [user])).rows[0].n, 4)
  const { rows } = await pool.query("SELECT staging_table FROM sync_runs WHERE scope = jsonb_build_object('user_id', $1::text) AND to_regclass(staging_table) IS NOT NULL", [user])
  assert.deepEqual(rows, [], 'staging left behind')
})
