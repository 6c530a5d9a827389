/**
 * Adversarial options. User ids and dataset identifiers that are not what
 * they claim are refused with BRX_ERR_OPTIONS_INVALID before any SQL (the
 * tests point the engine at a port where nothing listens: reaching the
 * database would fail differently); a sync of one user never reads or changes
 * another user's rows; a password in the connection string never shows up in
 * an error, a log line or sync_runs.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import { Writable } from 'node:stream'
import pino from 'pino'
import { createEngine, sync, presets, SyncError } from '../src'
import { removeTmp, snapshotUser } from './helpers'
import { PG_URL, adminPool, closeEngine, runsOf, settle, simpleProducts, spawnCli, taggedUrl, writeBytes, writeJson, newUser, forgetUsers } from './fault-helpers'

const admin = adminPool()
/** Nothing listens on port 1: an error other than OPTIONS_INVALID means the options got as far as connecting. */
const NOWHERE = 'postgres://postgres@127.0.0.1:1/test'
const SECRET = 'S3cretPw'

after(async () => {
  await forgetUsers(admin).catch(err => console.log(`# cleanup: ${String(err)}`))
  await admin.end()
  removeTmp()
})

async function refusedUpFront (o: Record<string, unknown>, what: string): Promise<SyncError> {
  const r = await settle(sync({ databaseUrl: NOWHERE, input: writeJson(simpleProducts(1)), mapping: { source: 'none' }, retries: 0, ...o } as any))
  assert.equal(r.ok, false, `${what} must be refused`)
  const e = (r as { error: any }).error
  assert.ok(e instanceof SyncError, `${what}: ${String(e)}`)
  assert.equal(e.code, 'BRX_ERR_OPTIONS_INVALID', `${what} must be refused before any SQL, got ${e.code as string}: ${e.message as string}`)
  return e
}

test('adversarial user ids are refused with BRX_ERR_OPTIONS_INVALID before any SQL', { timeout: 30_000 }, async () => {
  const u = newUser()
  const ids: unknown[] = [
    "' OR 1=1 --", `${u}' OR '1'='1`, `${u}; DROP TABLE user_inventory_items; --`, `${u} `, ` ${u}`, `${u}\n`, `{${u}}`,
    '', ' ', 'null', u.replace(/[0-9a-f]/, 'g'), u.slice(0, -1), `${u}0`, '00000000-0000-0000-0000-00000000000%',
    12345, { toString: () => u }, [u], true,
  ]
  for (const id of ids) await refusedUpFront({ userId: id }, `userId ${util.inspect(id)}`)
  for (const id of ["' OR 1=1 --", `${u}'--`]) await refusedUpFront({ scope: { user_id: id } }, `scope.user_id ${util.inspect(id)}`)
  await refusedUpFront({ scope: { user_id: u, "user_id = user_id OR 1=1 --": 'x' } }, 'an extra scope key')
  await refusedUpFront({ scope: JSON.parse(`{"user_id": "${u}", "__proto__": {"user_id": "x"}}`) }, 'a scope with a "__proto__" key')
})

test('syncing one user never reads or changes another user\'s rows (same keys, mirror, mass delete)', { timeout: 60_000 }, async () => {
  const engine = createEngine({ databaseUrl: taggedUrl('security'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  try {
    const victim = newUser()
    const attacker = newUser()
    await engine.sync({ input: writeJson(simpleProducts(10, 1)), userId: victim })
    const snap = await snapshotUser(admin, victim)
    // The very same (blueprint, stock id) keys with other values, then a mirror that deletes everything.
    const r1 = await engine.sync({ input: writeJson(simpleProducts(10, 1, () => ({ quantity: 99, price_cents: 1 }))), userId: attacker })
    assert.equal(r1.rows.inserted, 10, 'the other user\'s identical keys are not "existing" rows of this one')
    const r2 = await engine.sync({ input: writeJson(simpleProducts(10, 1, () => ({ quantity: 98 }))), userId: attacker })
    assert.equal(r2.rows.updated, 10)
    const r3 = await engine.sync({ input: writeJson([]), userId: attacker, allowMassDelete: true })
    assert.equal(r3.rows.deleted, 10)
    const r4 = await engine.sync({ input: writeJson(simpleProducts(3, 1)), userId: attacker, mode: 'upsert' })
    assert.equal(r4.rows.inserted, 3)
    assert.deepEqual(await snapshotUser(admin, victim), snap, 'the victim\'s rows (values and xmin) are untouched')
  } finally {
    await closeEngine(engine)
  }
})

test('dataset identifiers with quotes, semicolons or unknown types are refused with BRX_ERR_OPTIONS_INVALID before any SQL', { timeout: 30_000 }, async () => {
  const base = presets['cardtrader-inventory']
  const bad: Array<[string, unknown]> = [
    ['table with a semicolon', { ...base, table: 'user_inventory_items; DROP TABLE sync_runs; --' }],
    ['table with a quote', { ...base, table: 'user_inventory_items"--' }],
    ['quoted table', { ...base, table: '"user_inventory_items"' }],
    ['table with three parts', { ...base, table: 'a.b.user_inventory_items' }],
    ['column with a quote', { ...base, columns: base.columns.map((c, i) => i === 4 ? { ...c, name: 'name_en" text); DROP TABLE sync_runs; --' } : c) }],
    ['column with a semicolon', { ...base, columns: [...base.columns, { name: 'x;y', type: 'text' }] }],
    ['scope column', { ...base, scope: [{ name: "user_id' OR '1'='1", type: 'uuid' }] }],
    ['key', { ...base, key: ['blueprint_id', 'external_stock_id"; --'] }],
    ['compare', { ...base, compare: ['quantity); DELETE FROM sync_runs; --'] }],
    ['updatedAt', { ...base, updatedAt: 'updated_at = now(); DROP TABLE sync_runs; --' }],
    ['createdAt', { ...base, createdAt: 'created_at"' }],
    ['column type', { ...base, columns: base.columns.map((c, i) => i === 4 ? { ...c, type: 'text); DROP TABLE sync_runs; --' } : c) }],
    ['scope type', { ...base, scope: [{ name: 'user_id', type: 'uuid); --' }] }],
    ['normalizer from the prototype', { ...base, normalizer: 'constructor' }],
    ['normalizer __proto__', { ...base, normalizer: '__proto__' }],
    ['unknown normalizer', { ...base, normalizer: 'no-such-normalizer' }],
  ]
  bad.push(['preset name', "cardtrader-inventory'; --"])
  const accepted: string[] = []
  for (const [what, dataset] of bad) {
    try {
      await refusedUpFront({ dataset, userId: newUser() }, `dataset ${what}`)
    } catch (err) {
      accepted.push((err as Error).message.split('\n')[0])
    }
  }
  assert.deepEqual(accepted, [], 'every hostile dataset must be refused up front')
})

test('a malformed databaseUrl is refused as BRX_ERR_OPTIONS_INVALID and its password is not echoed', { timeout: 30_000 }, async () => {
  for (const url of [`postgres://postgres:${SECRET}@127.0.0.1:notaport/test`, `postgres://postgres:${SECRET}@[::1/test`]) {
    const r = await settle(sync({ databaseUrl: url, input: writeJson(simpleProducts(1)), userId: newUser(), mapping: { source: 'none' }, retries: 0 }))
    assert.equal(r.ok, false)
    const e = (r as { error: any }).error
    assert.ok(!util.inspect(e, { depth: 10 }).includes(SECRET))
    assert.equal(e.code, 'BRX_ERR_OPTIONS_INVALID', `${url.replace(SECRET, '***')}: ${e.code as string}: ${e.message as string}`)
  }
})

function sink (): { stream: Writable, text: () => string } {
  const lines: string[] = []
  return { stream: new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } }), text: () => lines.join('') }
}

test('a password in databaseUrl never appears in errors, log lines or sync_runs', { timeout: 60_000 }, async () => {
  // Unreachable: the connection fails.
  {
    const s = sink()
    const r = await settle(sync({ databaseUrl: `postgres://postgres:${SECRET}@127.0.0.1:1/test`, input: writeJson(simpleProducts(1)), userId: newUser(), mapping: { source: 'none' }, retries: 1, logger: pino({ level: 'trace' }, s.stream) }))
    assert.equal(r.ok, false)
    const e = (r as { error: any }).error
    assert.equal(e.code, 'BRX_ERR_DB_CONNECT')
    for (const [where, text] of [['message', e.message], ['toJSON', JSON.stringify(e)], ['inspect (with cause)', util.inspect(e, { depth: 10 })], ['log', s.text()]] as const) {
      assert.ok(!String(text).includes(SECRET), `the password leaked into the ${where}: ${String(text).slice(0, 500)}`)
    }
    assert.ok(s.text().length > 0, 'the failure was logged')
  }
  // Reachable (trust authentication ignores the password): runs that fail and succeed, logged at trace.
  {
    const s = sink()
    const url = PG_URL.replace('postgres://postgres@', `postgres://postgres:${SECRET}@`)
    assert.ok(url.includes(SECRET), 'the test needs a postgres://postgres@ URL to add a password to')
    const engine = createEngine({ databaseUrl: url, mapping: { source: 'none' }, logger: pino({ level: 'trace' }, s.stream) })
    const user = newUser()
    try {
      await engine.sync({ input: writeJson(simpleProducts(10)), userId: user })
      const guard = await settle(engine.sync({ input: writeJson([]), userId: user }))
      assert.equal(guard.ok, false)
      const bad = await settle(engine.sync({ input: writeBytes('[{"id": 1, "blueprint_id"', 'truncated.json'), userId: user }))
      for (const x of [guard, bad]) if (!x.ok) assert.ok(!util.inspect(x.error, { depth: 10 }).includes(SECRET))
    } finally {
      await closeEngine(engine)
    }
    assert.ok(!s.text().includes(SECRET), 'the password leaked into the log')
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sync_runs WHERE strpos(concat_ws(\' \', scope::text, error_message, report::text, progress::text, host, staging_table), $1) > 0', [SECRET])
    assert.equal(rows[0].n, 0, 'the password leaked into sync_runs')
    assert.ok((await runsOf(admin, user)).length >= 2)
  }
  // The CLI: stderr and --json stdout.
  {
    const c = spawnCli(['sync', '--input', writeJson(simpleProducts(1)), '--user', newUser(), '--no-mapping', '--json', '--database-url', `postgres://postgres:${SECRET}@127.0.0.1:1/test`, '--log-level', 'trace'])
    const exit = await c.exited
    assert.equal(exit.code, 4, exit.stderr)
    assert.ok(!exit.stderr.includes(SECRET) && !exit.stdout.includes(SECRET), `the CLI printed the password: ${exit.stderr}${exit.stdout}`)
  }
})
