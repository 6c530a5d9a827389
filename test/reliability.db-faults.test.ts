/**
 * Database faults during a sync: the server terminates the sync's
 * connections mid-COPY, mid-merge and while it waits for the scope lock; a
 * statement_timeout fires inside the merge; the server restarting is reliability.server-faults.
 * Guarantees: the target is the old inventory or the new one, never a mix;
 * transient faults are retried from the re-opened file and converge; a
 * non-retried fault leaves the target untouched, staging dropped and the run
 * marked failed; the process never crashes and no sync hangs.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { createEngine, type Engine } from '../src'
import { Prng, removeTmp, seedFromEnv, snapshotUser } from './helpers'
import {
  adminPool, blockStatement, closeEngine, appName, backends, catchUncaught, leftoverStaging, modelMirror, phaseOf, runsOf, scalarHashDb, scalarHashModel,
  settle, taggedUrl, waitFor, within, writeProducts, newUser, forgetUsers } from './fault-helpers'

const seed = seedFromEnv()
const rng = new Prng(seed)
const admin = adminPool()
const N = 30_000
let A: ReturnType<typeof writeProducts>
let B: ReturnType<typeof writeProducts>
let expectedB: { n: number, hash: string }
const engines: Engine[] = []

function engineFor (tag: string, extra: Record<string, unknown> = {}): Engine {
  const e = createEngine({ databaseUrl: taggedUrl(tag), mapping: { source: 'none' }, workers: 2, logger: pino({ level: 'silent' }), ...extra })
  engines.push(e)
  return e
}

before(() => {
  console.log(`# reliability.db-faults seed=${seed} (rerun with BRX_SEED=${seed})`)
  const s = rng.int(1, 1_000_000)
  A = writeProducts({ products: N, seed: s }, 'a')
  B = writeProducts({ products: N, seed: s, change: 0.3, add: 0.02, remove: 0.02 }, 'b')
  expectedB = scalarHashModel(modelMirror(B.records).values())
})

after(async () => {
  for (const e of engines) await closeEngine(e)
  await forgetUsers(admin).catch(err => console.log(`# cleanup: ${String(err)}`))
  await admin.end()
  removeTmp()
})

/** A user holding the old inventory (A), synced by an engine of its own. */
async function userWithA (tag: string): Promise<{ user: string, before: string[] }> {
  const user = newUser()
  const e = engineFor(`${tag}-setup`)
  await e.sync({ input: A.path, userId: user })
  return { user, before: await snapshotUser(admin, user) }
}

/** Terminates the first backend of `app` whose statement satisfies `pick`; returns its phase. */
async function terminateWhen (app: string, pick: (phase: string, b: { pid: number, query: string }) => boolean, timeoutMs = 20_000): Promise<string> {
  const b = await waitFor(`a backend of ${app} to match`, async () => {
    const rows = await backends(admin, app)
    return rows.find(r => r.state === 'active' && pick(phaseOf(r.query), r))
  }, timeoutMs, 2)
  await admin.query('SELECT pg_terminate_backend($1)', [b.pid])
  return phaseOf(b.query)
}

async function controlPid (app: string): Promise<number | undefined> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1", [app])
  return rows[0]?.pid
}

function assertNoUncaught (uncaught: Error[]): void {
  assert.deepEqual(uncaught.map(e => e.message), [],
    "a pooled connection's 'error' event went unhandled: outside node:test this crashes the host process (and every sync in it)")
}

test('terminating the control connection mid-COPY is retried from the re-opened file and converges', { timeout: 60_000 }, async () => {
  const { user } = await userWithA('copy')
  const e = engineFor('copy-ctl')
  const app = appName('copy-ctl')
  const { value: [res, phase], uncaught } = await catchUncaught(async () => await Promise.all([
    settle(e.sync({ input: B.path, userId: user, retries: 3 })),
    (async () => {
      // The control connection is the one holding the scope lock (it also runs the first COPY).
      const ctl = await waitFor('the control connection', async () => await controlPid(app), 20_000, 2)
      return await terminateWhen(app, (p, b) => p === 'copy' && b.pid === ctl, 20_000)
    })(),
  ]))
  assert.equal(phase, 'copy')
  assertNoUncaught(uncaught)
  assert.ok(res.ok, `the sync must be retried and succeed, got ${res.ok ? '' : `${res.error?.code}: ${res.error?.message}`}`)
  assert.ok(res.value.attempts > 1, `report.attempts must be > 1, got ${res.value.attempts}`)
  assert.deepEqual(await scalarHashDb(admin, user), expectedB, 'after the retry the user holds exactly the new export')
  const runs = await runsOf(admin, user)
  assert.equal(runs.at(-1)?.status, 'succeeded')
  assert.deepEqual(await leftoverStaging(admin, runs), [])
})

test('terminating the second writer mid-COPY is retried and converges', { timeout: 60_000 }, async () => {
  const { user } = await userWithA('writer2')
  const e = engineFor('writer2', { writers: 2 })
  const app = appName('writer2')
  const { value: [res, phase], uncaught } = await catchUncaught(async () => await Promise.all([
    settle(e.sync({ input: B.path, userId: user, retries: 3 })),
    (async () => {
      const ctl = await waitFor('the control connection', async () => await controlPid(app), 20_000, 2)
      return await terminateWhen(app, (p, b) => p === 'copy' && b.pid !== ctl, 20_000)
    })(),
  ]))
  assert.equal(phase, 'copy')
  assertNoUncaught(uncaught)
  assert.ok(res.ok, `the sync must be retried and succeed, got ${res.ok ? '' : `${res.error?.code}: ${res.error?.message}`}`)
  assert.ok(res.value.attempts > 1)
  assert.deepEqual(await scalarHashDb(admin, user), expectedB)
})

/** Terminates the sync's connection while its `stmt` waits on the test's lock; returns the phase seen. */
async function terminateBlocked (app: string, user: string, stmt: 'update' | 'insert' | 'delete'): Promise<string> {
  const holder = await admin.connect()
  try {
    await blockStatement(holder, user, stmt, A.records, B.records)
    const b = await waitFor(`the merge's ${stmt} to wait`, async () => (await backends(admin, app)).find(r => phaseOf(r.query) === stmt && r.wait_event_type === 'Lock'), 30_000, 2)
    await admin.query('SELECT pg_terminate_backend($1)', [b.pid])
    return phaseOf(b.query)
  } finally {
    await holder.query('ROLLBACK').catch(() => {})
    holder.release()
  }
}

for (const stmt of ['update', 'insert', 'delete'] as const) {
  test(`terminating the merge (${stmt}) without retries fails with BRX_ERR_DB_CONNECT, target untouched, staging dropped`, { timeout: 60_000 }, async () => {
    const { user, before: snap } = await userWithA(`merge-${stmt}`)
    const e = engineFor(`merge-${stmt}`)
    const app = appName(`merge-${stmt}`)
    const { value: [res, phase], uncaught } = await catchUncaught(async () => await Promise.all([
      settle(e.sync({ input: B.path, userId: user, retries: 0 })),
      terminateBlocked(app, user, stmt),
    ]))
    assert.equal(phase, stmt)
    assertNoUncaught(uncaught)
    assert.equal(res.ok, false, 'a merge whose connection died must not report success')
    if (!res.ok) assert.equal(res.error.code, 'BRX_ERR_DB_CONNECT', res.error.message)
    assert.deepEqual(await snapshotUser(admin, user), snap, 'the target must be untouched (same rows, same xmin)')
    const runs = await runsOf(admin, user)
    const last = runs.at(-1)
    assert.equal(last?.status, 'failed')
    assert.equal(last?.error_code, 'BRX_ERR_DB_CONNECT')
    assert.deepEqual(await leftoverStaging(admin, runs), [], 'staging must be dropped')
  })
}

test('terminating the merge with retries converges to the new export (the merge, or the whole sync, is retried)', { timeout: 60_000 }, async () => {
  const { user } = await userWithA('merge-retry')
  const lines: string[] = []
  const e = engineFor('merge-retry', { logger: pino({ level: 'warn' }, new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } })) })
  const app = appName('merge-retry')
  const stmt = rng.pick(['update', 'insert', 'delete'] as const)
  const { value: [res, phase], uncaught } = await catchUncaught(async () => await Promise.all([
    settle(e.sync({ input: B.path, userId: user, retries: 3 })),
    terminateBlocked(app, user, stmt),
  ]))
  assert.equal(phase, stmt)
  assertNoUncaught(uncaught)
  assert.ok(res.ok, `the sync must be retried and succeed, got ${res.ok ? '' : `${res.error?.code}: ${res.error?.message}`}`)
  // report.attempts counts whole attempts; a merge retried alone (staging kept) is logged.
  assert.ok(res.value.attempts > 1 || lines.some(l => l.includes('retrying')), `no retry was made or logged: ${lines.join('')}`)
  assert.deepEqual(await scalarHashDb(admin, user), expectedB)
  const runs = await runsOf(admin, user)
  assert.equal(runs.at(-1)?.status, 'succeeded')
  assert.deepEqual(await leftoverStaging(admin, runs), [])
})

test('terminating the control connection while it waits for the scope lock is retried', { timeout: 60_000 }, async () => {
  const { user } = await userWithA('lockwait')
  const e = engineFor('lockwait')
  const app = appName('lockwait')
  const holder = await admin.connect()
  try {
    // The scope lock as src/runs/runs.ts takes it: (hashtext(table), hashtext(scope json)).
    await holder.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', ['user_inventory_items', JSON.stringify({ user_id: user })])
    const { value: res, uncaught } = await catchUncaught(async () => {
      const p = settle(e.sync({ input: B.path, userId: user, retries: 3, lock: 'wait', lockTimeoutMs: 30_000 }))
      // Between two pg_try_advisory_lock polls the connection is idle (checked out, no query running).
      const b = await waitFor('the sync to poll the lock', async () => (await backends(admin, app)).find(r => r.state === 'idle' && r.query.includes('pg_try_advisory_lock')), 20_000, 1)
      await admin.query('SELECT pg_terminate_backend($1)', [b.pid])
      await sleep(300)
      await holder.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', ['user_inventory_items', JSON.stringify({ user_id: user })])
      return await within(30_000, 'the sync', p)
    })
    assertNoUncaught(uncaught)
    assert.ok(res.ok, `a connection lost while waiting for the lock is transient and must be retried, got ${res.ok ? '' : `${res.error?.code}: ${res.error?.message}`}`)
    assert.ok(res.value.attempts > 1)
    assert.deepEqual(await scalarHashDb(admin, user), expectedB)
  } finally {
    holder.release()
  }
})

test('statementTimeoutMs: 1 on the merge fails with BRX_ERR_DB_TIMEOUT and leaves the target untouched', { timeout: 60_000 }, async () => {
  const { user, before: snap } = await userWithA('stmt-timeout')
  const e = engineFor('stmt-timeout')
  const res = await settle(e.sync({ input: B.path, userId: user, statementTimeoutMs: 1 }))
  assert.equal(res.ok, false)
  if (!res.ok) {
    assert.equal(res.error.code, 'BRX_ERR_DB_TIMEOUT', res.error.message)
    assert.equal(res.error.pgCode, '57014')
  }
  assert.deepEqual(await snapshotUser(admin, user), snap)
  const runs = await runsOf(admin, user)
  assert.equal(runs.at(-1)?.status, 'failed')
  assert.equal(runs.at(-1)?.error_code, 'BRX_ERR_DB_TIMEOUT')
  assert.deepEqual(await leftoverStaging(admin, runs), [])
  // The same engine syncs normally afterwards (no poisoned pooled connection with statement_timeout left set).
  const ok = await e.sync({ input: B.path, userId: user })
  assert.equal(ok.status, 'succeeded')
  assert.deepEqual(await scalarHashDb(admin, user), expectedB)
})

test('terminating every connection of a saturated engine: each sync settles (no hold-and-wait hang), targets untouched', { timeout: 60_000 }, async () => {
  // Two syncs, one writer each, a pool of exactly two: after the kill each sync's cleanup needs a
  // connection while still holding its dead one.
  const a = await userWithA('saturated-a')
  const b = await userWithA('saturated-b')
  const e = engineFor('saturated', { pgPoolSize: 2, writers: 1 })
  const app = appName('saturated')
  const { value: results, uncaught } = await catchUncaught(async () => {
    const ps = [a, b].map(u => settle(e.sync({ input: B.path, userId: u.user, retries: 0 })))
    await waitFor('both syncs to copy', async () => (await backends(admin, app)).filter(r => r.state === 'active' && phaseOf(r.query) === 'copy').length === 2 ? true : undefined, 30_000, 2)
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app])
    return await within(15_000, 'both syncs', Promise.all(ps))
  })
  assertNoUncaught(uncaught)
  for (const [i, r] of results.entries()) {
    assert.equal(r.ok, false)
    if (!r.ok) assert.equal(r.error.code, 'BRX_ERR_DB_CONNECT', r.error.message)
    const u = [a, b][i]
    assert.deepEqual(await snapshotUser(admin, u.user), u.before)
  }
})

// A real PostgreSQL restart (and freeze) runs on every CI run against a throwaway cluster: reliability.server-faults.
