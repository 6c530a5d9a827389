/**
 * The orchestrator's contracts: options filled once (a misplaced engine-level
 * option is an error naming it), private engine internals with stats(), one
 * retry policy, one connection-loss classifier, pgCode only for SQLSTATEs,
 * the scope shorthand declared by the preset, and the one CLI parser.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import pino from 'pino'
import { createEngine, migrate, presets, sync, SyncError, type DatasetSpec } from '../src'
import { cancelledError, isConnectionLoss, isTransient, syncError, ERROR_CODES } from '../src/errors'
import { backoffMs, withRetry } from '../src/sync/retry'
import { runCommand, UsageError, type Command, type Io } from '../src/cli/command'
import { generateCommand } from '../tools/generate'
import { DATABASE_URL, makePool, randomUser, removeTmp, tmpPath } from './helpers'
import { spawnCli } from './fault-helpers'

const pool = makePool(2)
before(async () => { await migrate({ databaseUrl: DATABASE_URL }) })
after(async () => { await pool.end(); removeTmp() })

const product = (id: number): string => JSON.stringify({ id, blueprint_id: 5, quantity: 1, price_cents: 100 })

test('engine.sync() refuses each engine-level option, naming it; the one-shot sync() takes both kinds', async () => {
  const engine = createEngine({ databaseUrl: DATABASE_URL, workers: 1, mapping: { source: 'none' } })
  const file = tmpPath('one.json')
  fs.writeFileSync(file, `[${product(1)}]`)
  try {
    const misplaced: Record<string, unknown> = { databaseUrl: DATABASE_URL, workers: 2, pgPool: pool, logger: pino({ level: 'silent' }), pgPoolSize: 3, mapping: { source: 'none' }, workerNice: 0 }
    for (const [k, v] of Object.entries(misplaced)) {
      await assert.rejects(engine.sync({ input: file, userId: randomUser(), [k]: v } as any), (e: SyncError) => {
        assert.equal(e.code, 'BRX_ERR_OPTIONS_INVALID')
        assert.equal(e.option, k)
        assert.match(e.message, new RegExp(`options\\.${k} configures the engine`))
        return true
      })
    }
    const r = await sync({ input: file, userId: randomUser(), databaseUrl: DATABASE_URL, workers: 1, mapping: { source: 'none' } })
    assert.equal(r.rows.inserted, 1)
  } finally {
    await engine.close()
  }
})

test('the engine hides its pools and connection string; stats() reports connections, queue and active syncs', async () => {
  const url = new URL(DATABASE_URL)
  url.password = 'hunter2-secret'
  const engine = createEngine({ databaseUrl: url.toString(), workers: 1, pgPoolSize: 3, mapping: { source: 'none' } })
  try {
    const json = JSON.stringify(engine)
    assert.ok(!json.includes('hunter2'), json)
    assert.ok(!json.includes('127.0.0.1'), json)
    assert.deepEqual(Object.keys(engine), [])
    for (const k of ['pgPool', 'piscina', 'resolver', 'options', 'settings']) assert.equal((engine as any)[k], undefined, k)
    const idle = engine.stats()
    assert.deepEqual(idle, { pg: { total: 0, idle: 0, inUse: 0, waiting: 0, max: 3 }, queuedPartitions: 0, workers: 1, activeSyncs: 0 })
  } finally {
    await engine.close()
  }
  const e2 = createEngine({ databaseUrl: DATABASE_URL, workers: 1, mapping: { source: 'none' } })
  try {
    const file = tmpPath('two.json')
    fs.writeFileSync(file, `[${product(1)},${product(2)}]`)
    const p = e2.sync({ input: file, userId: randomUser() })
    assert.equal(e2.stats().activeSyncs, 1)
    await p
    const s = e2.stats()
    assert.equal(s.activeSyncs, 0)
    assert.equal(s.pg.inUse, 0, 'every connection is back in the pool')
  } finally {
    await e2.close()
  }
})

test('a missing input file: sysCode ENOENT, no pgCode', async () => {
  const err: SyncError = await sync({ input: '/nonexistent/brx.json', userId: randomUser(), databaseUrl: DATABASE_URL, mapping: { source: 'none' } }).then(() => { throw new Error('no error') }, e => e)
  assert.equal(err.code, 'BRX_ERR_INPUT_UNREADABLE')
  assert.equal(err.pgCode, undefined)
  assert.equal(err.sysCode, 'ENOENT')
  assert.equal(err.toJSON().sysCode, 'ENOENT')
})

test('a pg error keeps its SQLSTATE as pgCode; Node codes never land there', () => {
  assert.equal(new SyncError('BRX_ERR_DB_QUERY', 'x', { cause: Object.assign(new Error('e'), { code: '23505' }) }).pgCode, '23505')
  const sys = new SyncError('BRX_ERR_DB_CONNECT', 'x', { cause: Object.assign(new Error('e'), { code: 'ECONNREFUSED' }) })
  assert.equal(sys.pgCode, undefined)
  assert.equal(sys.sysCode, 'ECONNREFUSED')
})

test('connection loss is classified in one place: SQLSTATE 08/57P0x, socket codes, pg messages, through causes', () => {
  for (const code of ['08006', '08003', '57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']) assert.ok(isConnectionLoss(Object.assign(new Error('x'), { code })), code)
  assert.ok(isConnectionLoss(new Error('Connection terminated unexpectedly')))
  assert.ok(isConnectionLoss(new SyncError('BRX_ERR_DB_QUERY', 'wrapped', { cause: new Error('Client has encountered a connection error and is not queryable') })))
  for (const code of ['23505', '42P01', 'ENOENT', '57014']) assert.ok(!isConnectionLoss(Object.assign(new Error('x'), { code })), code)
  assert.ok(isTransient(Object.assign(new Error('x'), { code: '40001' })))
  assert.ok(isTransient(Object.assign(new Error('x'), { code: '40P01' })))
  assert.ok(!isTransient(Object.assign(new Error('x'), { code: '23505' })))
})

test('messages come from the code table; the cancelled error names the step and the reason', () => {
  for (const [code, { exit, message }] of Object.entries(ERROR_CODES)) {
    assert.ok(Number.isInteger(exit), code)
    assert.equal(typeof message, 'string', code)
  }
  assert.equal(syncError('BRX_ERR_DB_SCHEMA', ['t, sync_runs']).message, 'PostgreSQL is missing t, sync_runs; run `brx-sync migrate` first.')
  const ac = new AbortController()
  ac.abort(new Error('received SIGINT'))
  const e = cancelledError('during the merge', ac.signal)
  assert.equal(e.code, 'BRX_ERR_CANCELLED')
  assert.equal(e.exitCode, 130)
  assert.equal(e.message, 'The sync was cancelled during the merge: received SIGINT.')
  assert.equal(cancelledError().message, 'The sync was cancelled.')
})

test('withRetry: transient failures retried up to `retries`, others at once, never after an abort', async () => {
  for (let a = 1; a < 12; a++) { const d = backoffMs(a); assert.ok(d >= 0 && d <= 5000) }
  let calls = 0
  const transient = Object.assign(new Error('x'), { code: '40001' })
  await assert.rejects(withRetry({ retries: 2, maxMs: 60_000 }, async () => { calls++; throw transient }), transient)
  assert.equal(calls, 3)
  calls = 0
  const other = Object.assign(new Error('x'), { code: '23505' })
  await assert.rejects(withRetry({ retries: 5, maxMs: 60_000 }, async () => { calls++; throw other }), other)
  assert.equal(calls, 1)
  calls = 0
  assert.equal(await withRetry({ retries: 3, maxMs: 60_000 }, async a => { calls++; if (a < 3) throw transient; return a }), 3)
  calls = 0
  await assert.rejects(withRetry({ retries: 3, maxMs: 60_000, allowed: () => false }, async () => { calls++; throw transient }))
  assert.equal(calls, 1)
  const ac = new AbortController()
  ac.abort()
  calls = 0
  await assert.rejects(withRetry({ retries: 3, maxMs: 60_000, signal: ac.signal }, async () => { calls++; throw transient }))
  assert.equal(calls, 1)
})

test('userId is the preset\'s shorthand: a dataset that does not declare it refuses it; a uuid scope is canonical', async () => {
  const inv = presets['cardtrader-inventory']
  assert.deepEqual(inv.scopeAlias, { userId: 'user_id' })
  const noAlias: DatasetSpec = { ...inv, scopeAlias: undefined }
  const file = tmpPath('a.json')
  fs.writeFileSync(file, `[${product(1)}]`)
  const base = { input: file, databaseUrl: DATABASE_URL, mapping: { source: 'none' as const } }
  await assert.rejects(sync({ ...base, dataset: noAlias, userId: randomUser() }), (e: SyncError) => e.code === 'BRX_ERR_OPTIONS_INVALID' && e.option === 'userId')
  const user = randomUser()
  const r = await sync({ ...base, dataset: noAlias, scope: { user_id: user.toUpperCase() } })
  assert.deepEqual(r.scope, { user_id: user })
  await assert.rejects(sync({ ...base, userId: user, scope: { user_id: randomUser() } }), (e: SyncError) => e.option === 'userId')
})

test('one CLI parser: --help, unknown flags and usage errors exit 2 with the usage, SyncErrors exit with their code', async () => {
  let out = ''
  let err = ''
  const io: Io = { out: s => { out += s }, err: s => { err += s } }
  const cmd: Command = {
    name: 'demo', summary: 's', usage: 'Usage: brx-sync demo --n N\n', options: { n: { type: 'string' } },
    run: async v => {
      if (v.n === undefined) throw new UsageError('--n is required.')
      if (v.n === 'bad') throw syncError('BRX_ERR_WIPE_GUARD', ['everything'])
      return 0
    },
  }
  assert.equal(await runCommand(cmd, ['--help'], io), 0)
  assert.equal(out, 'Usage: brx-sync demo --n N\n')
  assert.equal(await runCommand(cmd, ['--bogus'], io), 2)
  assert.match(err, /brx-sync demo: Unknown option '--bogus'[\s\S]*Usage: brx-sync demo/)
  err = ''
  assert.equal(await runCommand(cmd, [], io), 2)
  assert.match(err, /--n is required\.[\s\S]*Usage/)
  err = ''
  assert.equal(await runCommand(cmd, ['--n', 'bad'], io), 5)
  assert.match(err, /^brx-sync demo: BRX_ERR_WIPE_GUARD: Mirror would delete everything/)
  assert.equal(await runCommand(cmd, ['--n', '1'], io), 0)
})

test('migrate uses the same parser: --help exits 0, an unknown flag exits 2, --database-url is honoured', async () => {
  const help = await spawnCli(['migrate', '--help']).exited
  assert.equal(help.code, 0)
  assert.match(help.stdout, /^Usage: brx-sync migrate/)
  const bad = await spawnCli(['migrate', '--bogus']).exited
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /Unknown option '--bogus'/)
  const ok = await spawnCli(['migrate', '--database-url', DATABASE_URL]).exited
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.stdout, /schema up to date|applied/)
  const top = await spawnCli(['--help']).exited
  for (const c of ['sync', 'migrate', 'generate', 'catalog']) assert.match(top.stdout, new RegExp(`^  ${c} `, 'm'))
})

test('generate --from works on an export that generate did not write (no .meta.json)', async () => {
  const a = tmpPath('a.json')
  assert.equal(await generateCommand(['--products', '2000', '--seed', '3', '--out', a]), 0)
  const plain = tmpPath('plain.json')
  fs.copyFileSync(a, plain) // no sidecar
  const b = tmpPath('b.ndjson')
  assert.equal(await generateCommand(['--from', plain, '--change', '10%', '--add', '2%', '--remove', '2%', '--out', b, '--format', 'ndjson']), 0)
  const before = JSON.parse(fs.readFileSync(plain, 'utf8')) as Array<Record<string, unknown>>
  const after = fs.readFileSync(b, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>)
  const byId = new Map(before.map(r => [String(r.id), r]))
  const kept = after.filter(r => byId.has(String(r.id)))
  const added = after.length - kept.length
  const removed = before.length - kept.length
  const changed = kept.filter(r => JSON.stringify(r) !== JSON.stringify(byId.get(String(r.id)))).length
  assert.ok(added >= 20 && added <= 60, `added ${added}`)
  assert.ok(removed > 10 && removed < 100, `removed ${removed}`)
  assert.ok(changed > 100 && changed < 320, `changed ${changed}`)
  // Deterministic: the same command gives the same bytes.
  const c = tmpPath('c.ndjson')
  assert.equal(await generateCommand(['--from', plain, '--change', '10%', '--add', '2%', '--remove', '2%', '--out', c, '--format', 'ndjson']), 0)
  assert.equal(fs.readFileSync(c, 'utf8'), fs.readFileSync(b, 'utf8'))
  assert.equal(await generateCommand(['--from', tmpPath('missing.json')]), 2)
})

test('sync --scope COL=VALUE is the general form of --user; --user with another scope value is refused', async () => {
  const user = randomUser()
  const file = tmpPath('cli.json')
  fs.writeFileSync(file, `[${product(1)},${product(2)}]`)
  const env = { DATABASE_URL, MYSQL_URL: '' }
  const ok = await spawnCli(['sync', '--input', file, '--scope', `user_id=${user}`, '--no-mapping', '--json', '--log-level', 'silent'], env).exited
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(JSON.parse(ok.stdout).rows.inserted, 2)
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM user_inventory_items WHERE user_id = $1', [user])
  assert.equal(rows[0].n, 2)
  const clash = await spawnCli(['sync', '--input', file, '--user', user, '--scope', `user_id=${randomUser()}`, '--no-mapping', '--log-level', 'silent'], env).exited
  assert.equal(clash.code, 2)
  assert.match(clash.stderr, /BRX_ERR_OPTIONS_INVALID: options\.userId and options\.scope\.user_id disagree/)
  const bad = await spawnCli(['sync', '--input', file, '--scope', 'user_id'], env).exited
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--scope must be COLUMN=VALUE/)
})
