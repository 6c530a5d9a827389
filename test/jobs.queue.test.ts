/**
 * The queue's rules, against pg-boss on the real PostgreSQL, without worker
 * processes: a busy seller never blocks the others (pg-boss 10's own fetch
 * would), per seller one job queued and one running, final failures skip the
 * retries and reach the dead-letter queue, the heartbeat keeps a long job from
 * expiring, schedules fan out once, and which errors are retried.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { SyncError } from '../src'
import { QUEUES } from '../src/jobs/config'
import { startBoss } from '../src/jobs/boss'
import { bossDb, fetchOne, finalFailureSql, heartbeatSql } from '../src/jobs/boss-sql'
import { enqueueSync } from '../src/jobs/enqueue'
import { toFailure } from '../src/jobs/outcome'
import { parseEvery, runDueSchedules, scheduleSync } from '../src/jobs/schedule'
import { checkJobData } from '../src/jobs/job-data'
import { envTokenProvider } from '../src/jobs/tokens'
import { runCommand } from '../src/cli/command'
import { enqueueCommand, scheduleCommand, workerCommand } from '../src/cli/jobs-command'
import { PG_URL, newUser, writeJson } from './fault-helpers'
import { jobs, resetQueue } from './jobs-helpers'

const db = new pg.Pool({ connectionString: PG_URL, max: 2 })
let boss: Awaited<ReturnType<typeof startBoss>>
const input = writeJson([{ id: 1 }], 'q')

before(async () => {
  await resetQueue(db)
  boss = await startBoss({ databaseUrl: PG_URL }, { supervise: false, schedule: false })
})
after(async () => {
  await boss.stop({ graceful: false })
  await db.end()
})

test('processes starting together on a fresh database all start (their queue creation races)', async () => {
  await boss.stop({ graceful: false })
  await resetQueue(db)
  const started = await Promise.allSettled([1, 2, 3, 4].map(async () => await startBoss({ databaseUrl: PG_URL }, { supervise: false, schedule: false })))
  for (const s of started) if (s.status === 'fulfilled') await s.value.stop({ graceful: false })
  assert.deepEqual(started.map(s => s.status === 'rejected' ? String(s.reason) : 'ok'), ['ok', 'ok', 'ok', 'ok'])
  boss = await startBoss({ databaseUrl: PG_URL }, { supervise: false, schedule: false })
})

test('a seller with a running job does not block the queue; its next job waits', async () => {
  const [a, b] = [newUser(), newUser()]
  const a1 = await enqueueSync({ userId: a, input, boss })
  const a2 = await enqueueSync({ userId: a, input, boss })
  assert.equal(a2.jobId, null, 'stately: one queued job per seller')
  const got1 = await fetchOne(bossDb(boss), 'pgboss', QUEUES.sync)
  assert.equal(got1?.id, a1.jobId)
  const a3 = await enqueueSync({ userId: a, input, boss })
  assert.notEqual(a3.jobId, null, 'one more may queue while one runs')
  const b1 = await enqueueSync({ userId: b, input, boss })
  // a3 is older than b1 and its key is running: pg-boss 10's own fetch would return nothing here.
  const got2 = await fetchOne(bossDb(boss), 'pgboss', QUEUES.sync)
  assert.equal(got2?.id, b1.jobId)
  assert.equal(await fetchOne(bossDb(boss), 'pgboss', QUEUES.sync), undefined, 'a3 waits for a1')
  await boss.complete(QUEUES.sync, a1.jobId as string)
  assert.equal((await fetchOne(bossDb(boss), 'pgboss', QUEUES.sync))?.id, a3.jobId)
  await boss.complete(QUEUES.sync, [a3.jobId as string, b1.jobId as string])
})

test('a final failure is not retried and lands in the dead-letter queue with its reason; a transient one is retried', async () => {
  const [u, v] = [newUser(), newUser()]
  const e = await enqueueSync({ userId: u, input, boss })
  const t = await enqueueSync({ userId: v, input, boss })
  for (const id of [e.jobId, t.jobId]) assert.ok((await fetchOne(bossDb(boss), 'pgboss', QUEUES.sync)) !== undefined, String(id))
  const bad = toFailure(new SyncError('BRX_ERR_INPUT_MALFORMED', 'row 1: not an array'), undefined)
  await bossDb(boss).executeSql(finalFailureSql('pgboss'), [QUEUES.sync, e.jobId])
  await boss.fail(QUEUES.sync, e.jobId as string, { ...bad })
  await boss.fail(QUEUES.sync, t.jobId as string, { ...toFailure(new SyncError('BRX_ERR_DB_CONNECT', 'down'), undefined) })
  const rows = await jobs(db)
  assert.equal(rows.find(r => r.id === e.jobId)?.state, 'failed')
  assert.equal(rows.find(r => r.id === t.jobId)?.state, 'retry')
  const dead = rows.filter(r => r.name === QUEUES.dead && r.data.scope.user_id === u)
  assert.equal(dead.length, 1)
  assert.equal(dead[0].output.code, 'BRX_ERR_INPUT_MALFORMED')
  assert.equal(rows.filter(r => r.name === QUEUES.dead && r.data.scope.user_id === v).length, 0)
})

test('the heartbeat keeps a running job from expiring; without it the job expires and is retried', async () => {
  const [u, v] = [newUser(), newUser()]
  const a = await enqueueSync({ userId: u, input, boss })
  const b = await enqueueSync({ userId: v, input, boss })
  await fetchOne(bossDb(boss), 'pgboss', QUEUES.sync)
  await fetchOne(bossDb(boss), 'pgboss', QUEUES.sync)
  // Both started 11 minutes ago (expiration is 10 s); only a has a heartbeat.
  await db.query("UPDATE pgboss.job SET started_on = now() - interval '11 minutes' WHERE id = ANY($1::uuid[])", [[a.jobId, b.jobId]])
  await bossDb(boss).executeSql(heartbeatSql('pgboss'), [QUEUES.sync, [a.jobId], 10])
  await boss.expire()
  const rows = await jobs(db, [a.jobId as string, b.jobId as string])
  assert.equal(rows.find(r => r.id === a.jobId)?.state, 'active')
  assert.equal(rows.find(r => r.id === b.jobId)?.state, 'retry')
  await boss.complete(QUEUES.sync, a.jobId as string)
})

test('schedules: every interval in whole minutes; due schedules are enqueued once', async () => {
  assert.equal(parseEvery('1h'), 3600)
  assert.equal(parseEvery('15m'), 900)
  assert.throws(() => parseEvery('90s'), { code: 'BRX_ERR_OPTIONS_INVALID' })
  assert.throws(() => parseEvery('soon'), { code: 'BRX_ERR_OPTIONS_INVALID' })
  const u = newUser()
  await scheduleSync({ userId: u, input, every: '1h', databaseUrl: PG_URL })
  assert.equal(await runDueSchedules(boss, 'pgboss'), 1)
  assert.equal(await runDueSchedules(boss, 'pgboss'), 0, 'next due in an hour')
  const queued = (await jobs(db)).filter(r => r.name === QUEUES.sync && r.data.scope.user_id === u)
  assert.equal(queued.length, 1)
  const { rows } = await db.query("SELECT name, cron FROM pgboss.schedule")
  assert.deepEqual(rows, [{ name: QUEUES.tick, cron: '* * * * *' }])
})

test('which failures retry; enqueue refuses bad options; tokens come from the provider, never the job', async () => {
  for (const c of ['BRX_ERR_DB_CONNECT', 'BRX_ERR_DB_TIMEOUT', 'BRX_ERR_SCOPE_BUSY', 'BRX_ERR_CANCELLED', 'BRX_ERR_CATALOG_UNAVAILABLE'] as const) {
    assert.equal(toFailure(new SyncError(c, 'x'), undefined).retryable, true, c)
  }
  for (const c of ['BRX_ERR_OPTIONS_INVALID', 'BRX_ERR_INPUT_MALFORMED', 'BRX_ERR_INPUT_UNREADABLE', 'BRX_ERR_WIPE_GUARD', 'BRX_ERR_DB_SCHEMA'] as const) {
    assert.equal(toFailure(new SyncError(c, 'x'), undefined).retryable, false, c)
  }
  assert.equal(toFailure(Object.assign(new Error('401'), { code: 'BRX_ERR_SOURCE_AUTH' }), undefined).retryable, false)
  await assert.rejects(enqueueSync({ userId: newUser(), input: '-', boss }), { code: 'BRX_ERR_OPTIONS_INVALID' })
  await assert.rejects(enqueueSync({ input, boss }), { code: 'BRX_ERR_OPTIONS_INVALID' })
  await assert.rejects(enqueueSync({ userId: newUser(), input, mode: 'wipe' as 'mirror', boss }), { code: 'BRX_ERR_OPTIONS_INVALID' })
  const u = newUser()
  const e = await enqueueSync({ userId: u, source: { kind: 'cardtrader', tokenRef: `seller-${u}` }, boss })
  const [row] = await jobs(db, [e.jobId as string])
  assert.deepEqual(row.data.source, { kind: 'cardtrader', tokenRef: `seller-${u}` })
  process.env[`BRX_TOKEN_SELLER_${u.toUpperCase().replace(/-/g, '_')}`] = 'secret-token'
  assert.equal(await envTokenProvider(`seller-${u}`, { id: 'j', scope: {} }), 'secret-token')
  assert.doesNotMatch(JSON.stringify(await jobs(db)), /secret-token/)
  assert.throws(() => envTokenProvider('nobody', { id: 'j', scope: {} }), { code: 'BRX_ERR_OPTIONS_INVALID' })
})

test('CLI: enqueue, schedule and worker parse through the one command runner', async () => {
  const io = (): { out: string, err: string, io: { out: (s: string) => void, err: (s: string) => void } } => {
    const r = { out: '', err: '', io: { out: (s: string) => { r.out += s }, err: (s: string) => { r.err += s } } }
    return r
  }
  const u = newUser()
  const ok = io()
  assert.equal(await runCommand(enqueueCommand, ['--user', u, '--input', input, '--mode', 'upsert', '--json', '--database-url', PG_URL], ok.io), 0, ok.err)
  const e = JSON.parse(ok.out) as { jobId: string, queue: string }
  assert.equal(e.queue, QUEUES.sync)
  const [row] = await jobs(db, [e.jobId])
  assert.deepEqual([row.data.scope, row.data.input, row.data.mode], [{ user_id: u }, input, 'upsert'])

  const src = io()
  assert.equal(await runCommand(enqueueCommand, ['--user', newUser(), '--source', 'cardtrader', '--json', '--database-url', PG_URL], src.io), 0, src.err)
  const [srcRow] = await jobs(db, [JSON.parse(src.out).jobId])
  assert.equal(srcRow.data.source.tokenRef, srcRow.data.scope.user_id, 'the token reference defaults to the user')

  for (const argv of [['--input', input], ['--user', u], ['--user', u, '--input', input, '--source', 'cardtrader'], ['--user', u, '--input', input, '--bogus']]) {
    const r = io()
    assert.equal(await runCommand(enqueueCommand, argv, r.io), 2, argv.join(' '))
    assert.match(r.err, /Usage: brx-sync enqueue/)
  }
  const sched = io()
  assert.equal(await runCommand(scheduleCommand, ['--user', u, '--input', input, '--every', '5s', '--database-url', PG_URL], sched.io), 2)
  assert.match(sched.err, /BRX_ERR_OPTIONS_INVALID: options\.every/)
  const noEvery = io()
  assert.equal(await runCommand(scheduleCommand, ['--user', u, '--input', input], noEvery.io), 2)
  assert.match(noEvery.err, /--every is required/)
  const w = io()
  assert.equal(await runCommand(workerCommand, ['--concurrency', 'two'], w.io), 2)
  assert.match(w.err, /--concurrency must be a number/)
  const help = io()
  assert.equal(await runCommand(workerCommand, ['--help'], help.io), 0)
  assert.match(help.out, /--shutdown-timeout-ms/)
})

test('a job without a mode takes its dataset\'s own default (upsert for catalog-snapshots); insert-new is a job mode; other modes are refused', () => {
  const base = { v: 1, scope: { csv_upload_id: 42 }, dataset: 'catalog-snapshots', input: '/tmp/upload.csv' }
  assert.equal(checkJobData(base).mode, undefined, 'absent stays absent: fillSyncOptions applies the preset default')
  assert.equal(checkJobData({ ...base, mode: 'insert-new' }).mode, 'insert-new')
  assert.throws(() => checkJobData({ ...base, mode: 'merge' }), (e: SyncError) => e.code === 'BRX_ERR_OPTIONS_INVALID' && /insert-new/.test(e.message))
})
