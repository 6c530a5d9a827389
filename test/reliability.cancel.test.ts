/**
 * Cancellation: an AbortSignal from the library, SIGINT / SIGTERM to the CLI.
 * Whenever the abort comes before COMMIT, the sync rejects with
 * BRX_ERR_CANCELLED within 2 s (the CLI exits 130), the target is untouched,
 * the staging table is dropped and the run is recorded as 'cancelled'.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import pino from 'pino'
import { createEngine, type Engine } from '../src'
import { Prng, removeTmp, seedFromEnv, snapshotUser } from './helpers'
import {
  MERGE_PHASES, adminPool, blockStatement, closeEngine, appName, backends, leftoverStaging, phaseOf, runsOf, settle, spawnCli, taggedUrl, waitFor, within, writeProducts, newUser, forgetUsers } from './fault-helpers'

const seed = seedFromEnv()
const rng = new Prng(seed)
const admin = adminPool()
const N = 30_000
let A: ReturnType<typeof writeProducts>
let B: ReturnType<typeof writeProducts>
const engines: Engine[] = []
const pools: pg.Pool[] = []

function engineFor (tag: string, extra: Record<string, unknown> = {}): Engine {
  const e = createEngine({ databaseUrl: taggedUrl(tag), mapping: { source: 'none' }, logger: pino({ level: 'silent' }), ...extra })
  engines.push(e)
  return e
}

before(() => {
  console.log(`# reliability.cancel seed=${seed} (rerun with BRX_SEED=${seed})`)
  const s = rng.int(1, 1_000_000)
  A = writeProducts({ products: N, seed: s }, 'a')
  B = writeProducts({ products: N, seed: s, change: 0.3 }, 'b')
})

after(async () => {
  for (const e of engines) await closeEngine(e)
  for (const p of pools) await p.end()
  await forgetUsers(admin).catch(err => console.log(`# cleanup: ${String(err)}`))
  await admin.end()
  removeTmp()
})

async function userWithA (): Promise<{ user: string, snap: string[] }> {
  const user = newUser()
  await engineFor('cancel-setup').sync({ input: A.path, userId: user })
  return { user, snap: await snapshotUser(admin, user) }
}

/** The run is 'cancelled', its staging gone, the user's rows exactly as before. */
async function assertUntouched (user: string, snap: string[], what: string): Promise<void> {
  assert.deepEqual(await snapshotUser(admin, user), snap, `${what}: the target must be untouched`)
  const runs = await runsOf(admin, user)
  const last = runs.at(-1)
  assert.equal(last?.status, 'cancelled', `${what}: the run must be recorded as cancelled (${last?.error_code ?? ''})`)
  assert.equal(last?.error_code, 'BRX_ERR_CANCELLED')
  assert.deepEqual(await leftoverStaging(admin, runs), [], `${what}: staging must be dropped`)
}

async function waitPhase (app: string, pick: (phase: string) => boolean): Promise<string> {
  const b = await waitFor(`a backend of ${app} to match`, async () => (await backends(admin, app)).find(r => r.state === 'active' && pick(phaseOf(r.query))), 30_000, 2)
  return phaseOf(b.query)
}

async function abortAndSettle (p: Promise<unknown>, ac: AbortController, limitMs = 20_000): Promise<{ ok: boolean, error?: any, afterMs: number }> {
  const s = settle(p)
  const t = performance.now()
  ac.abort(new Error('test abort'))
  const r = await within(limitMs, 'the aborted sync', s)
  return { ok: r.ok, error: r.ok ? undefined : r.error, afterMs: Math.round(r.at - t) }
}

function assertCancelledFast (r: { ok: boolean, error?: any, afterMs: number }, what: string): void {
  assert.equal(r.ok, false, `${what}: an abort before COMMIT must not end in success`)
  assert.equal(r.error?.code, 'BRX_ERR_CANCELLED', `${what}: ${r.error?.code as string}: ${r.error?.message as string}`)
  assert.ok(r.afterMs <= 2000, `${what}: rejected ${r.afterMs} ms after the abort (limit 2000)`)
}

test('AbortSignal mid-COPY (staging): BRX_ERR_CANCELLED within 2 s, untouched, staging dropped', { timeout: 60_000 }, async () => {
  const { user, snap } = await userWithA()
  const e = engineFor('cancel-copy')
  const ac = new AbortController()
  const p = e.sync({ input: B.path, userId: user, signal: ac.signal })
  await waitPhase(appName('cancel-copy'), ph => ph === 'copy')
  await sleep(rng.int(0, 300))
  const r = await abortAndSettle(p, ac)
  assertCancelledFast(r, 'mid-COPY')
  await assertUntouched(user, snap, 'mid-COPY')
})

test('AbortSignal mid-COPY of a first sync (direct path): nothing is written', { timeout: 60_000 }, async () => {
  const user = newUser()
  const e = engineFor('cancel-direct')
  const ac = new AbortController()
  const p = e.sync({ input: B.path, userId: user, signal: ac.signal })
  await waitPhase(appName('cancel-direct'), ph => ph === 'copy')
  await sleep(rng.int(0, 300))
  const r = await abortAndSettle(p, ac)
  assertCancelledFast(r, 'direct COPY')
  await assertUntouched(user, [], 'direct COPY')
})

test('AbortSignal mid-merge (a running statement): BRX_ERR_CANCELLED within 2 s, untouched', { timeout: 60_000 }, async () => {
  const { user, snap } = await userWithA()
  const e = engineFor('cancel-merge')
  const ac = new AbortController()
  const p = e.sync({ input: B.path, userId: user, signal: ac.signal })
  const seen = await waitPhase(appName('cancel-merge'), ph => MERGE_PHASES.has(ph))
  const r = await abortAndSettle(p, ac)
  assertCancelledFast(r, `mid-merge (${seen})`)
  await assertUntouched(user, snap, `mid-merge (${seen})`)
})

for (const stmt of ['update', 'insert', 'delete'] as const) {
  test(`AbortSignal mid-merge (${stmt}, waiting on a row lock): BRX_ERR_CANCELLED within 2 s, untouched`, { timeout: 60_000 }, async () => {
    const { user, snap } = await userWithA()
    const app = appName(`cancel-${stmt}`)
    const e = engineFor(`cancel-${stmt}`)
    const holder = await admin.connect()
    try {
      await blockStatement(holder, user, stmt, A.records, B.records)
      const ac = new AbortController()
      const p = e.sync({ input: B.path, userId: user, signal: ac.signal })
      await waitFor(`the ${stmt} to wait`, async () => (await backends(admin, app)).find(b => phaseOf(b.query) === stmt && b.wait_event_type === 'Lock'), 30_000, 2)
      const s = settle(p)
      const t = performance.now()
      ac.abort(new Error('test abort'))
      // Let go of the row once the statement stopped waiting (cancelled), or after 1.5 s.
      await waitFor('the statement to be cancelled', async () => (await backends(admin, app)).some(b => phaseOf(b.query) === stmt && b.state === 'active') ? undefined : true, 1_500, 5).catch(() => {})
      await holder.query('ROLLBACK')
      const r = await within(20_000, 'the aborted sync', s)
      assertCancelledFast({ ok: r.ok, error: r.ok ? undefined : r.error, afterMs: Math.round(r.at - t) }, `mid-${stmt}`)
    } finally {
      await holder.query('ROLLBACK').catch(() => {})
      holder.release()
    }
    await assertUntouched(user, snap, `mid-${stmt}`)
  })
}

test('AbortSignal just before COMMIT (the run row update waiting on a lock): cancelled, untouched', { timeout: 60_000 }, async () => {
  const { user, snap } = await userWithA()
  const e = engineFor('cancel-commit')
  const app = appName('cancel-commit')
  const ac = new AbortController()
  const p = e.sync({ input: B.path, userId: user, signal: ac.signal })
  await waitPhase(app, ph => MERGE_PHASES.has(ph))
  const run = (await runsOf(admin, user)).find(r => r.status === 'running')
  assert.ok(run !== undefined)
  const holder = await admin.connect()
  try {
    await holder.query('BEGIN')
    await holder.query('SELECT 1 FROM sync_runs WHERE id = $1 FOR UPDATE NOWAIT', [run.id])
    await waitFor('the run update to wait', async () => (await backends(admin, app)).find(b => phaseOf(b.query) === 'succeed' && b.wait_event_type === 'Lock'), 30_000, 2)
    const s = settle(p)
    const t = performance.now()
    ac.abort(new Error('test abort'))
    // Once the waiting statement is cancelled, let go of the row (recording the cancellation needs it).
    await waitFor('the waiting update to be cancelled', async () => (await backends(admin, app)).some(b => phaseOf(b.query) === 'succeed' && b.state === 'active') ? undefined : true, 1_500, 5).catch(() => {})
    await holder.query('ROLLBACK')
    const r = await within(20_000, 'the aborted sync', s)
    assertCancelledFast({ ok: r.ok, error: r.ok ? undefined : r.error, afterMs: Math.round(r.at - t) }, 'before COMMIT')
  } finally {
    await holder.query('ROLLBACK').catch(() => {})
    holder.release()
  }
  await assertUntouched(user, snap, 'before COMMIT')
})

test('AbortSignal between two merge statements (backend idle in transaction) is honoured before COMMIT', { timeout: 60_000 }, async () => {
  // The host's own pool (EngineOptions.pgPool) whose client aborts the moment the run row has been
  // marked succeeded, i.e. after the last data statement and before COMMIT: no statement is running
  // for pg_cancel_backend to cancel.
  const { user, snap } = await userWithA()
  const ac = new AbortController()
  class AbortAfterSucceed extends pg.Client {
    query (...args: any[]): any {
      const res = (super.query as (...a: any[]) => any)(...args)
      const text = typeof args[0] === 'string' ? args[0] : args[0]?.text
      if (typeof text === 'string' && text.startsWith("UPDATE sync_runs SET status = 'succeeded'") && typeof res?.then === 'function') {
        return res.then((v: unknown) => { ac.abort(new Error('test abort')); return v })
      }
      return res
    }
  }
  const pool = new pg.Pool({ connectionString: taggedUrl('cancel-gap'), max: 10, Client: AbortAfterSucceed as unknown as typeof pg.Client })
  pool.on('error', () => {})
  pools.push(pool)
  const e = engineFor('cancel-gap', { pgPool: pool })
  const r = await settle(e.sync({ input: B.path, userId: user, signal: ac.signal }))
  assert.ok(ac.signal.aborted, 'the abort fired')
  assert.equal(r.ok, false, 'an abort that arrives before COMMIT is sent must cancel the sync, not let it commit')
  if (!r.ok) assert.equal(r.error.code, 'BRX_ERR_CANCELLED')
  await assertUntouched(user, snap, 'between statements')
})

test('AbortSignal while queued for a pooled connection rejects within 2 s', { timeout: 60_000 }, async () => {
  // pgPoolSize 1, its only connection held by a sync waiting for a scope lock the test holds.
  const busy = newUser()
  const queued = newUser()
  const e = engineFor('cancel-queued', { pgPoolSize: 1 })
  const holder = await admin.connect()
  const scope = ['user_inventory_items', JSON.stringify({ user_id: busy })]
  try {
    await holder.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', scope)
    const first = settle(e.sync({ input: B.path, userId: busy, lockTimeoutMs: 30_000 }))
    await waitFor('the busy sync to poll its lock', async () => (await backends(admin, appName('cancel-queued'))).find(b => b.query.includes('pg_try_advisory_lock')), 20_000, 5)
    const ac = new AbortController()
    const p = e.sync({ input: A.path, userId: queued, signal: ac.signal })
    await sleep(100)
    const r = await abortAndSettle(p, ac, 5_000).finally(async () => await holder.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', scope))
    assertCancelledFast(r, 'queued for a connection')
    assert.deepEqual(await snapshotUser(admin, queued), [])
    assert.ok((await first).ok)
  } finally {
    await holder.query('SELECT pg_advisory_unlock_all()').catch(() => {})
    holder.release()
  }
})

test('AbortSignal mid-merge when the engine\'s pool is saturated still cancels within 2 s', { timeout: 60_000 }, async () => {
  // pgPoolSize 1: the sync's control connection is the pool's only one, so a cancel that needs a
  // pooled connection waits for the very merge it should stop.
  const { user, snap } = await userWithA()
  const e = engineFor('cancel-saturated', { pgPoolSize: 1 })
  const ac = new AbortController()
  const p = e.sync({ input: B.path, userId: user, signal: ac.signal })
  await waitPhase(appName('cancel-saturated'), ph => ph === 'update' || ph === 'insert')
  const r = await abortAndSettle(p, ac)
  assertCancelledFast(r, 'mid-merge, saturated pool')
  await assertUntouched(user, snap, 'mid-merge, saturated pool')
})

for (const [sig, when] of [['SIGINT', 'copy'], ['SIGTERM', 'merge'], ['SIGTERM', 'copy'], ['SIGINT', 'merge']] as const) {
  test(`CLI: ${sig} mid-${when} exits 130, target untouched, staging dropped, run cancelled`, { timeout: 60_000 }, async () => {
    const { user, snap } = await userWithA()
    const tag = `cancel-cli-${sig}-${when}-${seed}`
    const app = appName(tag)
    // Mid-merge: the UPDATE waits on a row the test holds, so the signal provably lands before COMMIT.
    const holder = await admin.connect()
    try {
      if (when === 'merge') await blockStatement(holder, user, 'update', A.records, B.records)
      const child = spawnCli(['sync', '--input', B.path, '--user', user, '--no-mapping', '--database-url', taggedUrl(tag), '--log-level', 'warn'])
      if (when === 'copy') await waitPhase(app, ph => ph === 'copy')
      else await waitFor('the update to wait', async () => (await backends(admin, app)).find(b => phaseOf(b.query) === 'update' && b.wait_event_type === 'Lock'), 30_000, 2)
      const t = performance.now()
      child.child.kill(sig)
      if (when === 'merge') {
        await waitFor('the update to be cancelled', async () => (await backends(admin, app)).some(b => phaseOf(b.query) === 'update' && b.state === 'active') ? undefined : true, 1_500, 5).catch(() => {})
        await holder.query('ROLLBACK')
      }
      const exit = await within(20_000, 'the signalled CLI', child.exited)
      const afterMs = Math.round(performance.now() - t)
      assert.equal(exit.code, 130, `exit code (signal ${exit.signal ?? 'none'}); stderr: ${exit.stderr}`)
      assert.match(exit.stderr, /BRX_ERR_CANCELLED/)
      assert.ok(afterMs <= 3000, `the CLI exited ${afterMs} ms after ${sig}`)
    } finally {
      await holder.query('ROLLBACK').catch(() => {})
      holder.release()
    }
    await assertUntouched(user, snap, `CLI ${sig} mid-${when}`)
  })
}
