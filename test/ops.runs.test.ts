/**
 * The operator's commands against real runs: a succeeded, a dry, a failed
 * (mass-delete guard) and a cancelled sync, plus one still running while we
 * look — `status` and `history` (library and CLI, text and --json), `sweep`
 * (closes a crashed run and drops its staging, leaves the live one alone),
 * and the engine's metrics, which must say exactly what happened.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { PassThrough } from 'node:stream'
import { createEngine, listRuns, migrate, runningRuns, sweep, type Engine } from '../src'
import { DATABASE_URL, makePool, randomUser, removeTmp, tmpPath } from './helpers'
import { simpleProducts, spawnCli, waitFor, writeJson } from './fault-helpers'

const pool = makePool()
let engine: Engine
const env = { DATABASE_URL }

before(async () => {
  await migrate({ databaseUrl: DATABASE_URL })
  engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' }, workers: 2, pgPoolSize: 3 })
})

after(async () => {
  await engine.close()
  await pool.end()
  removeTmp()
})

test('status, history, sweep and metrics over succeeded, dry, failed, cancelled and running syncs', { timeout: 60_000 }, async () => {
  const user = randomUser()
  const full = writeJson(simpleProducts(40))
  const first = await engine.sync({ input: full, userId: user })
  const dry = await engine.sync({ input: writeJson(simpleProducts(45)), userId: user, dryRun: true })
  await assert.rejects(engine.sync({ input: writeJson(simpleProducts(5)), userId: user }), { code: 'BRX_ERR_WIPE_GUARD' })

  // A sync that stalls mid-input: running, holding its scope lock, with a staging table.
  const input = new PassThrough()
  input.write('[' + simpleProducts(10).map(p => JSON.stringify(p)).join(',') + ',')
  const ac = new AbortController()
  const stalled = engine.sync({ input, userId: user, signal: ac.signal, format: 'json' })
  stalled.catch(() => {})
  const live = await waitFor('the stalled sync in status', async () => (await runningRuns(pool, { userId: user }))[0])
  assert.equal(live.dataset, 'cardtrader-inventory')
  assert.deepEqual(live.scope, { user_id: user })
  assert.equal(live.pid, process.pid)
  assert.equal(typeof live.host, 'string')
  assert.equal(typeof live.phase, 'string')
  const cliStatus = await spawnCli(['status', '--json'], env).exited
  assert.equal(cliStatus.code, 0, cliStatus.stderr)
  assert.ok((JSON.parse(cliStatus.stdout) as Array<{ id: string }>).some(r => r.id === live.id), 'brx-sync status --json lists the running sync')
  const cliStatusText = await spawnCli(['status'], env).exited
  assert.match(cliStatusText.stdout, new RegExp(`cardtrader-inventory\\s+user_id=${user}`))

  // A crashed run of another scope: recorded running, nobody holds its lock, its staging left behind.
  const crashed = randomUUID()
  const crashedUser = randomUser()
  const staging = `brx_staging.s_${crashed.replace(/-/g, '')}`
  await pool.query(`CREATE UNLOGGED TABLE ${staging} (x int)`)
  await pool.query("INSERT INTO sync_runs (id, dataset, scope, mode, status, pid, host, staging_table) VALUES ($1, 'cardtrader-inventory', $2::jsonb, 'mirror', 'running', 999999, 'gone', $3)",
    [crashed, JSON.stringify({ user_id: crashedUser }), staging])
  const swept = await sweep(pool)
  assert.ok(swept.abandoned.includes(crashed), 'the crashed run is marked abandoned')
  assert.ok(swept.dropped.includes(staging), 'its staging table is dropped')
  assert.ok(!swept.abandoned.includes(live.id), 'a running sync (its lock held) is left alone')
  assert.equal((await pool.query('SELECT to_regclass($1) AS t', [staging])).rows[0].t, null)
  const liveRow = (await pool.query('SELECT status, to_regclass(staging_table) AS staging FROM sync_runs WHERE id = $1', [live.id])).rows[0]
  assert.equal(liveRow.status, 'running')
  assert.notEqual(liveRow.staging, null, 'the live sync keeps its staging table')
  const crashedRow = (await pool.query('SELECT status, error_code FROM sync_runs WHERE id = $1', [crashed])).rows[0]
  assert.deepEqual(crashedRow, { status: 'failed', error_code: 'BRX_ERR_ABANDONED' })

  ac.abort()
  await assert.rejects(stalled, { code: 'BRX_ERR_CANCELLED' })

  // history, newest first: cancelled, failed (guard), dry run, succeeded
  const runs = await engine.runs({ userId: user })
  assert.deepEqual(runs.map(r => [r.status, r.dryRun, r.errorCode]), [
    ['cancelled', false, 'BRX_ERR_CANCELLED'], ['failed', false, 'BRX_ERR_WIPE_GUARD'], ['succeeded', true, null], ['succeeded', false, null]])
  assert.equal(runs[3].id, first.runId)
  assert.equal(runs[2].id, dry.runId)
  assert.deepEqual(runs[3].rows, { ...first.rows })
  assert.equal(runs[2].rows?.inserted, 5)
  for (const r of runs) assert.ok(r.durationMs !== null && r.durationMs >= 0 && r.finishedAt !== null)
  assert.deepEqual((await listRuns(pool, { dataset: 'cardtrader-inventory', scope: { user_id: user }, limit: 2 })).map(r => r.id), runs.slice(0, 2).map(r => r.id))
  assert.deepEqual((await listRuns(pool, { userId: user, status: 'failed' })).map(r => r.id), [runs[1].id])

  const cli = await spawnCli(['history', '--user', user, '--json'], env).exited
  assert.equal(cli.code, 0, cli.stderr)
  assert.deepEqual((JSON.parse(cli.stdout) as Array<{ id: string }>).map(r => r.id), runs.map(r => r.id))
  const text = await spawnCli(['history', '--dataset', 'cardtrader-inventory', '--scope', `user_id=${user}`, '--limit', '3'], env).exited
  assert.equal(text.code, 0, text.stderr)
  const lines = text.stdout.trimEnd().split('\n')
  assert.equal(lines.length, 4, text.stdout)
  assert.match(lines[0], /^started\s+status\s+scope\s+read\s+ins\s+upd\s+del\s+rej\s+duration\s+error\s+run$/)
  assert.match(lines[1], /cancelled .*BRX_ERR_CANCELLED/)
  assert.match(lines[2], /failed .*BRX_ERR_WIPE_GUARD/)
  assert.match(lines[3], /succeeded \(dry\)/)
  const bad = await spawnCli(['history', '--limit', 'x'], env).exited
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /brx-sync history: --limit must be a number/)
  const big = await spawnCli(['history', '--limit', '2000'], env).exited
  assert.equal(big.code, 2)
  assert.match(big.stderr, /BRX_ERR_OPTIONS_INVALID: options.limit must be an integer from 1 to 1000/)

  const m = await engine.metrics()
  assert.deepEqual(m.syncs, { succeeded: 1, failed: 1, cancelled: 1, dry_run: 1 })
  assert.equal(m.running, 0)
  assert.equal(m.duration.count, 4)
  assert.deepEqual(m.rows, { ...first.rows }, 'rows count committed syncs only')
  assert.equal(m.pg.max, 3)
  assert.ok(m.pg.inUse + m.pg.idle <= 3 && m.pg.inUse >= 0, JSON.stringify(m.pg))
  assert.equal(m.mysql, null)
  assert.equal(m.workers.threads, 2)
  assert.ok(m.workers.utilization >= 0 && m.workers.utilization <= 1)
  assert.match(m.text, /^brx_syncs_total\{status="failed"\} 1$/m)
  assert.match(m.text, /^brx_syncs_total\{status="dry_run"\} 1$/m)
  assert.match(m.text, new RegExp(`^brx_rows_total\\{kind="inserted"\\} ${first.rows.inserted}$`, 'm'))
  assert.match(m.text, /^brx_sync_duration_seconds_count\{status="cancelled"\} 1$/m)
  assert.match(m.text, /^brx_pg_pool_connections\{state="max"\} 3$/m)
  assert.match(m.text, /^# TYPE brx_worker_utilization gauge$/m)
  // one registry per engine: another engine starts from zero
  const other = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' }, workers: 1 })
  try {
    assert.equal((await other.metrics()).syncs.succeeded, 0)
  } finally {
    await other.close()
  }
})

test('brx-sync sync --metrics-file writes the exposition; migrate sweeps', { timeout: 30_000 }, async () => {
  const user = randomUser()
  const file = tmpPath('metrics.prom')
  const r = await spawnCli(['sync', '--input', writeJson(simpleProducts(25)), '--user', user, '--no-mapping', '--metrics-file', file, '--log-level', 'warn'], env).exited
  assert.equal(r.code, 0, r.stderr)
  const text = fs.readFileSync(file, 'utf8')
  assert.match(text, /^brx_syncs_total\{status="succeeded"\} 1$/m)
  assert.match(text, /^brx_rows_total\{kind="inserted"\} 25$/m)
  assert.match(text, /^brx_sync_duration_seconds_count\{status="succeeded"\} 1$/m)
  const mig = await spawnCli(['migrate'], env).exited
  assert.equal(mig.code, 0, mig.stderr)
  assert.match(mig.stdout, /marked \d+ abandoned run\(s\) failed \(BRX_ERR_ABANDONED\); dropped \d+ staging table\(s\)/)
})
