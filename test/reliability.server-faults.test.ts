/**
 * Server faults, on every run, against throwaway servers of our own
 * (test/servers.ts; the shared ones are never touched): PostgreSQL restarted
 * while a sync waits for its scope lock, during COPY with two writers, during
 * each merge statement, just before COMMIT, and between two syncs of one
 * long-lived engine; PostgreSQL frozen (SIGSTOP) mid-sync; MariaDB restarted
 * during blueprint lookups.
 * Guarantees: each sync ends in a success (retried) or a clean
 * BRX_ERR_DB_CONNECT / BRX_ERR_CATALOG_UNAVAILABLE, within a bound; the target
 * holds exactly the old rows or exactly the new ones; staging is gone once the
 * server is back; the same engine serves the next sync; and nothing reaches
 * process 'uncaughtException' or 'unhandledRejection' during the whole file.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import pino from 'pino'
import { createEngine, migrate, type Engine } from '../src'
import { guardPool } from '../src/db/connections'
import { catalogEntry, generateProducts, writeCatalog, writeExport } from '../tools/generate'
import { seedCatalog } from '../src/map'
import { Prng, removeTmp, seedFromEnv, tmpPath } from './helpers'
import { backends, blockStatement, closeEngine, leftoverStaging, phaseOf, runsOf, settle, stateHash, waitFor, within, writeProducts, type StateHash } from './fault-helpers'
import { startMariaDb, startPostgres, type Server } from './servers'

// Whole-file check: registered before anything runs, asserted by every test and by the last one.
const stray: string[] = []
process.on('uncaughtException', err => { stray.push(`uncaughtException: ${err.message}`) })
process.on('unhandledRejection', err => { stray.push(`unhandledRejection: ${String((err as Error)?.message ?? err)}`) })
function assertNoStray (): void {
  assert.deepEqual(stray, [], "an 'error' event or a rejection went unhandled: outside node:test this crashes the host process")
}

const seed = seedFromEnv()
const rng = new Prng(seed)
const N = 8_000
/** Retried syncs give up after this; every wait below is bounded by it plus a margin. */
const RETRY_MAX_MS = 20_000
let pgs: Server
let admin: pg.Pool
let A: ReturnType<typeof writeProducts>
let B: ReturnType<typeof writeProducts>
let newHash: StateHash
const engines: Engine[] = []
const outcomes: string[] = []
const cleanups: Array<() => Promise<void>> = []

function tagged (tag: string): string {
  return `${pgs.url}?application_name=${encodeURIComponent(`brx-sync:${tag}`)}`
}

function engineFor (tag: string, extra: Record<string, unknown> = {}): Engine {
  const e = createEngine({ databaseUrl: tagged(tag), mapping: { source: 'none' }, workers: 1, writers: 2, logger: pino({ level: 'silent' }), ...extra })
  engines.push(e)
  return e
}

before(async () => {
  console.log(`# reliability.server-faults seed=${seed} (rerun with BRX_SEED=${seed})`)
  pgs = await startPostgres()
  console.log(`# throwaway PostgreSQL on ${pgs.port} started in ${pgs.startMs} ms`)
  await migrate({ databaseUrl: pgs.url })
  // The admin's connections die with every restart, idle or checked out (the lock holders): guarded like the engine's.
  admin = guardPool(new pg.Pool({ connectionString: pgs.url, max: 4, application_name: 'brx-faults-admin' }), pino({ level: 'silent' }))
  const s = rng.int(1, 1_000_000)
  A = writeProducts({ products: N, seed: s }, 'a')
  B = writeProducts({ products: N, seed: s, change: 0.3, add: 0.05, remove: 0.05 }, 'b')
  const ref = engineFor('reference')
  const u = crypto.randomUUID()
  await ref.sync({ input: B.path, userId: u })
  newHash = await stateHash(admin, u)
})

after(async () => {
  for (const e of engines) await closeEngine(e as unknown as Parameters<typeof closeEngine>[0])
  await admin?.end().catch(() => {})
  for (const c of cleanups) await c().catch(() => {})
  await pgs?.close()
  removeTmp()
  if (outcomes.length > 0) console.log(`# outcomes: ${outcomes.join(', ')}`)
  if (stray.length > 0) {
    console.log(`# unhandled after the last test: ${stray.join(' | ')}`)
    process.exitCode = 1
  }
})

/** A user holding the old inventory (A), and its hash. */
async function userWithA (e: Engine): Promise<{ user: string, old: StateHash }> {
  const user = crypto.randomUUID()
  await e.sync({ input: A.path, userId: user })
  return { user, old: await stateHash(admin, user) }
}

/**
 * The checks every restart test makes once the sync settled: success, or a
 * clean BRX_ERR_DB_CONNECT; old or new rows exactly; and, after one more sync
 * by the same engine, the new rows, no run left running, no staging left.
 */
async function assertSurvived (name: string, e: Engine, user: string, old: StateHash, res: Awaited<ReturnType<typeof settle<any>>> | null): Promise<void> {
  assertNoStray()
  const now = await waitFor('the server back', async () => await stateHash(admin, user).catch(() => undefined), 30_000, 100)
  if (res === null) {
    assert.deepEqual(now, old, 'the fault hit no sync: the old rows stay')
  } else if (res.ok) {
    outcomes.push(`${name}: success (attempts ${res.value.attempts as number}; a merge retried alone counts one)`)
    assert.deepEqual(now, newHash, 'a sync that reports success leaves exactly the new rows')
  } else {
    outcomes.push(`${name}: clean ${res.error?.code}`)
    assert.equal(res.error?.code, 'BRX_ERR_DB_CONNECT', `a restart is a connection failure, got ${res.error?.code}: ${res.error?.message}`)
    assert.ok(now.hash === old.hash, 'a failed sync leaves exactly the old rows')
  }
  const next = await settle(within(RETRY_MAX_MS + 10_000, 'the next sync', e.sync({ input: B.path, userId: user, retries: 5, retryMaxMs: RETRY_MAX_MS })))
  assert.ok(next.ok, `the same engine must serve the next sync, got ${next.ok ? '' : `${next.error?.code}: ${next.error?.message}`}`)
  assert.deepEqual(await stateHash(admin, user), newHash)
  const runs = await runsOf(admin, user)
  assert.deepEqual(runs.filter(r => r.status === 'running').map(r => r.id), [], 'no run is left running')
  assert.deepEqual(await leftoverStaging(admin, runs), [], 'staging is dropped once the server is back')
  assertNoStray()
}

async function syncDuringRestart (e: Engine, user: string, trigger: () => Promise<void>): Promise<Awaited<ReturnType<typeof settle<any>>>> {
  const p = settle(e.sync({ input: B.path, userId: user, retries: 10, retryMaxMs: RETRY_MAX_MS }))
  await trigger()
  await pgs.restart()
  return await within(RETRY_MAX_MS + 15_000, 'the sync', p)
}

// Regression: restarted as soon as the control connection's COPY starts, while the second writer's
// connection is still being opened. pg-pool handed that client out with no 'error' listener, and a
// 57P01 read in the same chunk as its ReadyForQuery crashed the process (4 runs in 5, issue 14).
test('PostgreSQL restart while the second COPY writer connects: no uncaught 57P01; retried success or clean BRX_ERR_DB_CONNECT', { timeout: 90_000 }, async () => {
  const e = engineFor('copy-start')
  const { user, old } = await userWithA(e)
  const res = await syncDuringRestart(e, user, async () => {
    await waitFor('the first COPY', async () => (await backends(admin, 'brx-sync:copy-start')).find(b => phaseOf(b.query) === 'copy'), 20_000, 1)
  })
  await assertSurvived('copy start', e, user, old, res)
})

test('PostgreSQL restart during COPY with two writers: retried success or clean BRX_ERR_DB_CONNECT, old or new', { timeout: 90_000 }, async () => {
  const e = engineFor('copy')
  const { user, old } = await userWithA(e)
  const res = await syncDuringRestart(e, user, async () => {
    await waitFor('two COPY writers', async () => (await backends(admin, 'brx-sync:copy')).filter(b => phaseOf(b.query) === 'copy' && b.state === 'active').length >= 2 ? true : undefined, 20_000, 2)
  })
  await assertSurvived('copy', e, user, old, res)
})

test('PostgreSQL restart while the sync waits for its scope lock: retried success or clean BRX_ERR_DB_CONNECT', { timeout: 90_000 }, async () => {
  const e = engineFor('lockwait')
  const { user, old } = await userWithA(e)
  const holder = await admin.connect()
  try {
    // The scope lock as src/runs/runs.ts takes it; the restart ends the holder's session too.
    await holder.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', ['user_inventory_items', JSON.stringify({ user_id: user })])
    const res = await syncDuringRestart(e, user, async () => {
      await waitFor('the sync to poll the lock', async () => (await backends(admin, 'brx-sync:lockwait')).find(b => b.query.includes('pg_try_advisory_lock')), 20_000, 2)
    })
    await assertSurvived('lock wait', e, user, old, res)
  } finally {
    holder.release(true)
  }
})

for (const stmt of ['update', 'insert', 'delete'] as const) {
  test(`PostgreSQL restart during the merge's ${stmt}: retried success or clean BRX_ERR_DB_CONNECT, old or new`, { timeout: 90_000 }, async () => {
    const e = engineFor(`merge-${stmt}`)
    const { user, old } = await userWithA(e)
    const holder = await admin.connect()
    try {
      const res = await syncDuringRestart(e, user, async () => {
        // A row lock held by the test makes the statement wait, so the restart hits it in flight.
        await blockStatement(holder, user, stmt, A.records, B.records)
        await waitFor(`the ${stmt} to wait`, async () => (await backends(admin, `brx-sync:merge-${stmt}`)).find(b => phaseOf(b.query) === stmt && b.wait_event_type === 'Lock'), 30_000, 2)
      })
      await assertSurvived(`merge ${stmt}`, e, user, old, res)
    } finally {
      holder.release(true)
    }
  })
}

test('PostgreSQL restart just before COMMIT (recording the run as succeeded): retried success or clean BRX_ERR_DB_CONNECT', { timeout: 90_000 }, async () => {
  const e = engineFor('commit')
  const { user, old } = await userWithA(e)
  const holder = await admin.connect()
  try {
    const res = await syncDuringRestart(e, user, async () => {
      const run = await waitFor('the run row', async () => (await runsOf(admin, user)).find(r => r.status === 'running'), 20_000, 1)
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM sync_runs WHERE id = $1 FOR UPDATE', [run.id])
      await waitFor('the last statement before COMMIT to wait', async () => (await backends(admin, 'brx-sync:commit')).find(b => phaseOf(b.query) === 'succeed' && b.wait_event_type === 'Lock'), 30_000, 2)
    })
    await assertSurvived('before commit', e, user, old, res)
  } finally {
    holder.release(true)
  }
})

test('PostgreSQL restart between two syncs of a long-lived engine: the next sync works without recreating it', { timeout: 90_000 }, async () => {
  const e = engineFor('idle', { pgPoolSize: 4 })
  const { user, old } = await userWithA(e)
  // Every pooled connection is idle now; the restart kills them all.
  await pgs.restart()
  await assertSurvived('between syncs', e, user, old, null)
})

test('PostgreSQL frozen (SIGSTOP) mid-COPY: the client-side timeouts end the sync cleanly within the bound; it works again after SIGCONT', { timeout: 90_000 }, async () => {
  const QUERY_MS = 2_000
  const CONNECT_MS = 2_000
  const e = engineFor('frozen', { pgQueryTimeoutMs: QUERY_MS, pgConnectTimeoutMs: CONNECT_MS })
  const { user, old } = await userWithA(e)
  const p = settle(e.sync({ input: B.path, userId: user, retries: 1, retryMaxMs: 3_000 }))
  await waitFor('the COPY', async () => (await backends(admin, 'brx-sync:frozen')).find(b => phaseOf(b.query) === 'copy' && b.state === 'active'), 20_000, 2)
  pgs.freeze()
  let res: Awaited<typeof p>
  try {
    // The bound: the statement in flight, the ROLLBACK queued behind it, a fresh connection for
    // cleanup, one retry's connection, with margin. Frozen until the sync settles (or the bound).
    res = await within(2 * QUERY_MS + 3 * CONNECT_MS + 3_000 + 10_000, 'the sync against a frozen server', p)
  } finally {
    pgs.thaw()
  }
  assert.equal(res.ok, false, 'a frozen server cannot have committed the sync')
  if (!res.ok) assert.ok(['BRX_ERR_DB_TIMEOUT', 'BRX_ERR_DB_CONNECT'].includes(res.error?.code), `a clean timeout or connection failure, got ${res.error?.code}: ${res.error?.message}`)
  outcomes.push(`frozen: clean ${res.ok ? 'success' : res.error?.code}`)
  assert.deepEqual(await waitFor('the server back', async () => await stateHash(admin, user).catch(() => undefined), 30_000, 100), old, 'the failed sync left exactly the old rows')
  await assertSurvived('frozen (next sync)', e, user, old, null)
})

test('MariaDB restart during blueprint lookups: a clean BRX_ERR_CATALOG_UNAVAILABLE or a retried lookup, never an "everything unmapped" run', { timeout: 90_000 }, async () => {
  const maria = await startMariaDb()
  cleanups.push(async () => await maria.close())
  console.log(`# throwaway MariaDB on ${maria.port} started in ${maria.startMs} ms`)
  const SEED = 11
  const BLUEPRINTS = 4_000
  const PRODUCTS = 12_000
  const catalog = tmpPath('catalog.csv')
  await writeCatalog(catalog, { seed: SEED, blueprints: BLUEPRINTS })
  await seedCatalog(maria.url, catalog)
  const file = tmpPath('mapped.json')
  await writeExport(file, { products: PRODUCTS, seed: SEED, blueprints: BLUEPRINTS })
  let mapped = 0
  for (const p of generateProducts({ products: PRODUCTS, seed: SEED, blueprints: BLUEPRINTS }) as Iterable<{ blueprint_id: number }>) if (catalogEntry(p.blueprint_id, SEED)[0] !== undefined) mapped++
  const e = engineFor('maria', { mapping: { source: 'mysql', mysqlUrl: maria.url, lookupTimeoutMs: 3_000 }, partitionBytes: 16 * 1024 })
  const user = crypto.randomUUID()
  let restarted: Promise<void> | null = null
  const res = await within(60_000, 'the sync', settle(e.sync({
    input: file, userId: user, retries: 3, retryMaxMs: RETRY_MAX_MS,
    // Restarted once the first partitions are mapped: later lookups meet the pool's dead connections.
    onProgress: () => { restarted ??= maria.restart() },
  })))
  assert.ok(restarted !== null, 'the restart must have happened during the sync')
  await restarted
  assertNoStray()
  const stored = async (): Promise<number> => Number((await admin.query("SELECT count(*) FILTER (WHERE print_id IS NOT NULL) AS n FROM user_inventory_items WHERE user_id = $1", [user])).rows[0].n)
  if (res.ok) {
    outcomes.push(`mariadb: success (attempts ${res.value.attempts as number})`)
    assert.equal(res.value.rows.written, mapped, 'every mapped product written: no lookup answered "unmapped" for a failure')
    assert.equal(await stored(), mapped)
  } else {
    outcomes.push(`mariadb: clean ${res.error?.code}`)
    assert.equal(res.error?.code, 'BRX_ERR_CATALOG_UNAVAILABLE', `${res.error?.code}: ${res.error?.message}`)
    assert.equal(await stored(), 0, 'a failed first sync writes nothing')
  }
  const next = await e.sync({ input: file, userId: user })
  assert.equal(next.rows.written, mapped, 'the same engine maps everything once MariaDB is back')
  assert.equal(await stored(), mapped)
  assertNoStray()
})

test('no uncaught exception or unhandled rejection anywhere in this file', () => {
  assertNoStray()
})
