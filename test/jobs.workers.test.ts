/**
 * Sync jobs on pg-boss with real worker processes on the real PostgreSQL:
 * three `brx-sync worker`s take S sellers' jobs (default 12 × 3,000
 * products; BRX_JOBS_SELLERS / BRX_JOBS_PRODUCTS for the issue's 60 ×
 * 25,000) plus one big seller on the large queue. The worker running the big
 * seller is SIGKILLed mid-load and another worker started. At the end every
 * seller's table equals the reference model of the export its last accepted
 * job named; each job completed once with one succeeded run; the killed run is
 * abandoned with its staging gone; connections per worker never exceeded its
 * pool bounds; no seller ever had two jobs running or two overlapping runs.
 * A bad export is not retried and lands in the dead-letter queue. SIGTERM
 * during a sync: the worker exits within its deadline, the run is cancelled,
 * the target untouched, and the job retried by the next worker.
 */
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { enqueueSync, jobStatus, openJobQueue } from '../src'
import { removeTmp } from './helpers'
import { PG_URL, leftoverStaging, modelMirror, newUser, forgetUsers, runsOf, scalarHashDb, scalarHashModel, waitFor, writeJson, writeProducts } from './fault-helpers'
import { BOSS_POOL, POOL, Sampler, jobs, overlappingRuns, resetQueue, spawnWorker, waitJobsDone, type WorkerProc } from './jobs-helpers'

const SELLERS = Number(process.env.BRX_JOBS_SELLERS ?? 12)
const PRODUCTS = Number(process.env.BRX_JOBS_PRODUCTS ?? 3000)
const BIG = Number(process.env.BRX_JOBS_BIG ?? 40_000)
/** 2 minutes at the default size; the full size (60 × 25,000) gets time in proportion to its rows. */
const TIMEOUT_MS = Math.max(120_000, Math.ceil((SELLERS * PRODUCTS * 2 + BIG) / 1000) * 250)

const db = new pg.Pool({ connectionString: PG_URL, max: 3, application_name: 'brx-jobs-test' })
const spawned: WorkerProc[] = []

before(async () => { await resetQueue(db) })
after(async () => {
  for (const w of spawned) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL')
  await forgetUsers(db).catch(() => {})
  await db.end()
  removeTmp()
})

function start (name: string, extra: string[] = []): WorkerProc {
  const w = spawnWorker(name, extra)
  spawned.push(w)
  return w
}

/** The worker holding a running sync_runs row of this user (the row exists from the scope lock to COMMIT). */
async function loadingWorker (userId: string, workers: WorkerProc[]): Promise<WorkerProc> {
  return await waitFor(`a running sync of ${userId}`, async () => {
    const { rows } = await db.query<{ pid: number }>(
      "SELECT pid FROM sync_runs WHERE scope = jsonb_build_object('user_id', $1::text) AND status = 'running'", [userId])
    return rows.length === 1 ? workers.find(w => w.pid === rows[0].pid) : undefined
  }, 60_000, 20)
}

interface Seller { user: string, expect: ReturnType<typeof modelMirror>, jobIds: string[] }

test(`three workers, ${SELLERS} sellers × ${PRODUCTS} + one of ${BIG}: SIGKILL mid-sync, restart, all correct`, { timeout: TIMEOUT_MS }, async () => {
  const workers = [start('brx-jobs-w1'), start('brx-jobs-w2'), start('brx-jobs-w3')]
  const sampler = new Sampler(db, 'brx-jobs-w')
  sampler.bound = POOL + BOSS_POOL
  const big: Seller = { user: newUser(), expect: new Map(), jobIds: [] }
  const bigV1 = writeProducts({ products: BIG, seed: 7 }, 'big-v1')
  const bigV2 = writeProducts({ products: BIG, seed: 7, change: 0.2, add: 0.02, remove: 0.02 }, 'big-v2')
  const sellers: Seller[] = []
  const v2: Array<{ path: string, records: Array<Record<string, unknown>> }> = []
  for (let i = 0; i < SELLERS; i++) {
    const v1 = writeProducts({ products: PRODUCTS, seed: 100 + i }, `s${i}-v1`)
    v2.push(writeProducts({ products: PRODUCTS, seed: 100 + i, change: 0.1, add: 0.02, remove: 0.02 }, `s${i}-v2`))
    const s: Seller = { user: newUser(), expect: modelMirror(v1.records), jobIds: [] }
    const e = await enqueueSync({ userId: s.user, input: v1.path, databaseUrl: PG_URL })
    assert.notEqual(e.jobId, null)
    s.jobIds.push(e.jobId as string)
    sellers.push(s)
  }
  // A bad export: no retry, dead-letter queue with the reason.
  const badUser = newUser()
  const bad = await enqueueSync({ userId: badUser, input: writeJson([{ id: 1 }], 'bad'), databaseUrl: PG_URL, mode: 'mirror' })

  // The big seller last, right before watching for its run: enqueued first, its sync could commit while the
  // small sellers' exports are still being written (seen under load), and there would be nothing left to kill.
  const first = await enqueueSync({ userId: big.user, input: bigV1.path, large: true, databaseUrl: PG_URL })
  assert.equal(first.queue, 'brx-sync-large')
  big.jobIds.push(first.jobId as string)
  // Killed the moment its run is seen running (its load phase), so the kill cannot land after its COMMIT.
  const victim = await loadingWorker(big.user, workers)
  victim.child.kill('SIGKILL')
  const killedAt = Date.now()
  // The killed job stays active until it expires: a second job for the seller queues, a third is refused while that one waits.
  // One open queue handle, so these two are single INSERTs well within that expiry.
  const boss = await openJobQueue({ databaseUrl: PG_URL })
  try {
    const again = await enqueueSync({ userId: big.user, input: bigV2.path, large: true, boss })
    assert.notEqual(again.jobId, null, 'one job may wait while one runs')
    const third = await enqueueSync({ userId: big.user, input: bigV2.path, large: true, boss })
    assert.equal(third.jobId, null, 'a third job of a seller is refused while one waits')
    big.jobIds.push(again.jobId as string)
    big.expect = modelMirror(bigV2.records)
  } finally {
    await boss.stop({ graceful: false })
  }
  workers.push(start('brx-jobs-w4'))
  const pickedUp = waitFor('the killed job to run again', async () => {
    const [j] = await jobs(db, [big.jobIds[0]])
    return j.retry_count === 1 && (j.state === 'active' || j.state === 'completed') ? Date.now() - killedAt : undefined
  }, 60_000, 100)
  for (let i = 0; i < SELLERS; i++) {
    const e = await enqueueSync({ userId: sellers[i].user, input: v2[i].path, databaseUrl: PG_URL })
    // Refused while the seller's first job still waits: that job then stays the last one, with v1.
    if (e.jobId !== null) { sellers[i].jobIds.push(e.jobId); sellers[i].expect = modelMirror(v2[i].records) }
  }
  const all = [...sellers, big].flatMap(s => s.jobIds)
  const done = await waitJobsDone(db, [...all, bad.jobId as string], 90_000)
  const recoveredMs = Date.now() - killedAt
  const pickedUpMs = await pickedUp
  await sampler.stop()

  const failed = done.filter(j => j.state !== 'completed' && j.id !== bad.jobId)
  assert.deepEqual(failed.map(j => [j.id, j.output]), [], 'every good job completed')
  for (const s of [...sellers, big]) {
    assert.deepEqual(await scalarHashDb(db, s.user), scalarHashModel(s.expect.values()), `seller ${s.user} equals its export`)
    const runs = await runsOf(db, s.user)
    assert.equal(runs.filter(r => r.status === 'succeeded').length, s.jobIds.length, `seller ${s.user}: one succeeded run per job`)
    assert.deepEqual(await overlappingRuns(db, s.user), [])
    assert.deepEqual(await leftoverStaging(db, runs), [])
    for (const j of done.filter(d => s.jobIds.includes(d.id))) assert.equal(runs.find(r => r.id === j.output.runId)?.status, 'succeeded')
  }
  const bigRuns = await runsOf(db, big.user)
  assert.equal(bigRuns.filter(r => r.error_code === 'BRX_ERR_ABANDONED' && r.pid === victim.pid).length, 1, 'the killed run is abandoned')
  assert.ok(done.find(j => j.id === big.jobIds[0])?.retry_count === 1, 'the killed job ran again once')

  const status = await jobStatus(big.jobIds[0], { databaseUrl: PG_URL })
  assert.equal(status?.state, 'completed')
  assert.equal(status?.attempts, 2)
  assert.equal(status?.run?.status, 'succeeded')
  const badStatus = await jobStatus(bad.jobId as string, { databaseUrl: PG_URL })
  assert.equal(badStatus?.output?.code, 'BRX_ERR_INPUT_MALFORMED')
  const badJob = done.find(j => j.id === bad.jobId)
  assert.equal(badJob?.state, 'failed')
  assert.equal(badJob?.retry_count, 0, 'bad input is not retried')
  const dead = (await jobs(db)).filter(j => j.name === 'brx-sync-dead' && j.data.scope.user_id === badUser)
  assert.equal(dead.length, 1)
  assert.equal(dead[0].output.code, 'BRX_ERR_INPUT_MALFORMED')
  assert.match(dead[0].output.message, /record|valid/)

  assert.ok(sampler.samples > 10)
  assert.equal(sampler.maxActivePerKey, 1, 'never two running jobs of one seller')
  for (const [app, n] of sampler.connections) assert.ok(n <= POOL + BOSS_POOL, `${app}: ${n} connections > ${POOL + BOSS_POOL}: ${sampler.detail.get(app) ?? ''}`)
  console.log(`# jobs: ${all.length} jobs; the killed job ran again ${pickedUpMs} ms after the SIGKILL; all done ${recoveredMs} ms after it; max connections ${JSON.stringify(Object.fromEntries(sampler.connections))}`)

  for (const w of workers) if (w !== victim) w.child.kill('SIGTERM')
  for (const w of workers) if (w !== victim) assert.equal((await w.exited).code, 0, w.name)
})

test('SIGTERM during a sync: exit within the deadline, run cancelled, target untouched, job retried elsewhere', { timeout: 90_000 }, async () => {
  const user = newUser()
  const v1 = writeProducts({ products: BIG, seed: 9 }, 'term-v1')
  const v2 = writeProducts({ products: BIG, seed: 9, change: 0.3, add: 0.02, remove: 0.02 }, 'term-v2')
  const w1 = start('brx-jobs-t1', ['--shutdown-timeout-ms', '300'])
  const e1 = await enqueueSync({ userId: user, input: v1.path, databaseUrl: PG_URL })
  await waitJobsDone(db, [e1.jobId as string], 60_000)
  const before = await scalarHashDb(db, user)
  assert.deepEqual(before, scalarHashModel(modelMirror(v1.records).values()))

  const e2 = await enqueueSync({ userId: user, input: v2.path, databaseUrl: PG_URL })
  await loadingWorker(user, [w1])
  w1.child.kill('SIGTERM')
  const t0 = Date.now()
  const exit = await Promise.race([w1.exited, sleep(10_000).then(() => undefined)])
  assert.ok(exit !== undefined, 'the worker exits within its deadline (bounded wait)')
  const exitMs = Date.now() - t0
  console.log(`# jobs: SIGTERM → exit in ${exitMs} ms (deadline 300 ms)`)
  // The deadline, plus the process's own teardown (threads, sockets) with room for a loaded machine.
  assert.ok(exitMs < 300 + 1000, `the worker exited ${exitMs} ms after SIGTERM; its deadline is 300 ms`)
  assert.equal(exit.code, 0, exit.stderr.slice(-2000))
  const runs = await runsOf(db, user)
  assert.equal(runs.at(-1)?.status, 'cancelled')
  assert.deepEqual(await leftoverStaging(db, runs), [])
  assert.deepEqual(await scalarHashDb(db, user), before, 'nothing half-written')
  const [j] = await jobs(db, [e2.jobId as string])
  assert.equal(j.state, 'retry')
  assert.equal(j.output.code, 'BRX_ERR_CANCELLED')

  const w2 = start('brx-jobs-t2')
  const [doneJob] = await waitJobsDone(db, [e2.jobId as string], 60_000)
  assert.equal(doneJob.state, 'completed')
  assert.equal(doneJob.retry_count, 1)
  assert.deepEqual(await scalarHashDb(db, user), scalarHashModel(modelMirror(v2.records).values()))
  w2.child.kill('SIGTERM')
  assert.equal((await w2.exited).code, 0)
})
