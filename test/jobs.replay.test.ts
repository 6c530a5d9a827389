/**
 * A job applied once, however often it runs. A worker that dies between the
 * sync's COMMIT and marking its job done leaves the job active; pg-boss
 * expires and retries it. The sync carries the job's id (sync_runs.job_id),
 * and a retried job whose run already succeeded syncs nothing: it returns
 * that run's report. CI once saw the old behaviour in jobs.workers (a seller
 * with one more succeeded run than jobs).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import pino from 'pino'
import { createEngine, enqueueSync, startWorker, type SyncError } from '../src'
import { removeTmp } from './helpers'
import { PG_URL, closeEngine, forgetUsers, modelMirror, newUser, runsOf, scalarHashDb, scalarHashModel, writeProducts } from './fault-helpers'
import { resetQueue, waitJobsDone } from './jobs-helpers'

const db = new pg.Pool({ connectionString: PG_URL, max: 2 })
const engine = createEngine({ databaseUrl: PG_URL, mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })

before(async () => { await resetQueue(db) })
after(async () => {
  await closeEngine(engine)
  await forgetUsers(db).catch(() => {})
  await db.end()
  removeTmp()
})

async function runsOfJob (jobId: string): Promise<Array<{ id: string, status: string }>> {
  return (await db.query<{ id: string, status: string }>('SELECT id, status FROM sync_runs WHERE job_id = $1 ORDER BY started_at', [jobId])).rows
}

test('a sync naming a job already done returns that run\'s report and changes nothing; a failed run of a job does not count', async () => {
  const user = newUser()
  const A = writeProducts({ products: 400, seed: 31 }, 'replay-a')
  const B = writeProducts({ products: 400, seed: 31, change: 0.3, add: 0.05, remove: 0.05 }, 'replay-b')
  const job = randomUUID()
  const first = await engine.sync({ input: A.path, userId: user, jobId: job })
  assert.equal(first.alreadySucceeded, undefined)
  const stateA = await scalarHashDb(db, user)
  assert.deepEqual(stateA, scalarHashModel(modelMirror(A.records).values()))
  // The same job again, even with another export: the job was applied, so nothing is read or written.
  const again = await engine.sync({ input: B.path, userId: user, jobId: job })
  assert.equal(again.alreadySucceeded, true)
  assert.equal(again.runId, first.runId)
  assert.deepEqual(again.rows, first.rows)
  assert.deepEqual(await scalarHashDb(db, user), stateA, 'the table is as the job left it')
  // Not even its input is opened (a live source would be fetched again): a path that no longer exists is fine.
  const gone = await engine.sync({ input: `${A.path}.gone`, userId: user, jobId: job })
  assert.equal(gone.alreadySucceeded, true)
  assert.equal(gone.runId, first.runId)
  assert.deepEqual((await runsOfJob(job)).map(r => [r.id, r.status]), [[first.runId, 'succeeded']], 'no second run row')
  // Another job of the same seller syncs as usual.
  const next = await engine.sync({ input: B.path, userId: user, jobId: randomUUID() })
  assert.equal(next.alreadySucceeded, undefined)
  assert.deepEqual(await scalarHashDb(db, user), scalarHashModel(modelMirror(B.records).values()))

  // A job whose run failed (the wipe guard: 1 row left of 400) runs again in full.
  const failing = randomUUID()
  const tiny = writeProducts({ products: 1, seed: 32 }, 'replay-tiny')
  await assert.rejects(engine.sync({ input: tiny.path, userId: user, jobId: failing }), (e: SyncError) => e.code === 'BRX_ERR_WIPE_GUARD')
  const retried = await engine.sync({ input: A.path, userId: user, jobId: failing })
  assert.equal(retried.alreadySucceeded, undefined)
  assert.deepEqual(await scalarHashDb(db, user), stateA)
  assert.deepEqual((await runsOfJob(failing)).map(r => r.status), ['failed', 'succeeded'])

  await assert.rejects(engine.sync({ input: A.path, userId: user, jobId: job, dryRun: true }), (e: SyncError) => e.code === 'BRX_ERR_OPTIONS_INVALID' && /jobId/.test(e.message))
  await assert.rejects(engine.sync({ input: A.path, userId: user, jobId: '' }), (e: SyncError) => e.code === 'BRX_ERR_OPTIONS_INVALID' && /jobId/.test(e.message))
})

test('a job retried after its sync committed (its worker died before marking it done) completes with that run, and syncs nothing again', { timeout: 60_000 }, async () => {
  const user = newUser()
  const A = writeProducts({ products: 600, seed: 41 }, 'replay-job-a')
  const B = writeProducts({ products: 600, seed: 41, change: 0.2, add: 0.03, remove: 0.03 }, 'replay-job-b')
  await engine.sync({ input: A.path, userId: user })
  const queued = await enqueueSync({ userId: user, input: B.path, databaseUrl: PG_URL })
  const jobId = queued.jobId as string
  assert.notEqual(jobId, null)
  // The worker that died: it ran the job's sync to COMMIT and never completed the job.
  const died = await engine.sync({ input: B.path, userId: user, jobId })
  // Another writer after that commit: a second sync of the job would overwrite this (mirror).
  const touched = await db.query("UPDATE user_inventory_items SET price_cents = price_cents + 1 WHERE user_id = $1 AND (blueprint_id, external_stock_id) = (SELECT blueprint_id, external_stock_id FROM user_inventory_items WHERE user_id = $1 ORDER BY 1, 2 LIMIT 1)", [user])
  assert.equal(touched.rowCount, 1)
  const before = await scalarHashDb(db, user)
  const worker = await startWorker({ databaseUrl: PG_URL, concurrency: 1, pollIntervalMs: 100, engine: { mapping: { source: 'none' }, workers: 1 }, logger: pino({ level: 'silent' }) })
  try {
    const [done] = await waitJobsDone(db, [jobId], 30_000)
    assert.equal(done.state, 'completed')
    assert.equal(done.output.runId, died.runId, 'the job completes with the run that committed it')
    assert.equal(done.output.alreadySucceeded, true)
  } finally {
    await worker.stop()
  }
  assert.deepEqual(await scalarHashDb(db, user), before, 'the job was not applied a second time')
  assert.deepEqual((await runsOf(db, user)).filter(r => r.status === 'succeeded').length, 2, 'the first sync and the job: one succeeded run each')
})
