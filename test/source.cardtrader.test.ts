/**
 * Syncing from a (fake) CardTrader: each injected fault either ends in a sync
 * that holds exactly the served export, or in a failure with its code and the
 * target untouched — within a bounded time, and without the token anywhere.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import util from 'node:util'
import pino from 'pino'
import { createEngine, type Engine } from '../src'
import { fillEngineOptions, fillSyncOptions } from '../src/options'
import type { CardTraderOptions } from '../src/source/cardtrader'
import { FakeCardTrader, type Fault } from './fake-cardtrader'
import { DATABASE_URL, makePool, randomUser, readUserRows, removeTmp, snapshotUser, tmpPath } from './helpers'
import { applyExport, type State } from './model'

const pool = makePool(2)
const lines: string[] = []
const logger = pino({ level: 'trace' }, new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } }))
let fake: FakeCardTrader
let engine: Engine
let n = 0
const tokens: string[] = []

before(async () => {
  fake = await FakeCardTrader.start()
  engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' }, workers: 1, logger })
})
after(async () => {
  await engine.close(); await fake.close(); await pool.end()
  // No token in any log line, whatever the test did.
  const all = lines.join('')
  for (const t of tokens) assert.ok(!all.includes(t), 'a token appeared in the logs')
  removeTmp()
})

function newToken (): string {
  const t = `ct-secret-${process.pid}-${++n}-${Math.random().toString(36).slice(2)}`
  tokens.push(t)
  return t
}

function ct (token: string, extra: Partial<CardTraderOptions> = {}): { cardtrader: CardTraderOptions } {
  return {
    cardtrader: {
      token,
      baseUrl: fake.url,
      retries: 4,
      retryBaseMs: 10,
      retryMaxMs: 10_000,
      headersTimeoutMs: 1_000,
      bodyTimeoutMs: 1_000,
      rateLimit: { redisUrl: null, backoffMs: 100 },
      ...extra,
    },
  }
}

async function expectExact (user: string, products: unknown[]): Promise<void> {
  const state: State = new Map()
  applyExport(state, user, products, 'mirror', { allowMassDelete: true })
  assert.deepEqual(await readUserRows(pool, user), state.get(user) ?? new Map())
}

/** Everything a user or operator can see of a run: none may hold the token. */
async function assertNoToken (token: string, ...outputs: unknown[]): Promise<void> {
  const runs = await pool.query("SELECT row_to_json(r)::text AS j FROM sync_runs r WHERE started_at > now() - interval '10 minutes'")
  const text = [...outputs.map(o => o instanceof Error ? `${o.message} ${JSON.stringify(o)} ${String(o.stack)}` : JSON.stringify(o)), ...runs.rows.map(r => r.j as string)].join('\n')
  assert.ok(!text.includes(token), 'the token appeared in an error, report or sync_runs')
}

// undici's timers tick about once a second: a fault that must outlast a 1 s timeout lasts 4 s.
interface Case { name: string, faults: Fault[], seller?: { gzip?: boolean }, options?: Partial<CardTraderOptions>, attempts?: number, exportRequests?: number }

const recovers: Case[] = [
  { name: '429 with Retry-After', faults: [{ kind: '429', retryAfter: 1 }] },
  { name: '429 without Retry-After (backoff with jitter)', faults: [{ kind: '429' }, { kind: '429', path: '/info' }] },
  { name: '500, 502 and 503 before the body', faults: [{ kind: 'status', status: 500 }, { kind: 'status', status: 502 }, { kind: 'status', status: 503, path: '/info' }] },
  { name: 'a 502 HTML page from a proxy', faults: [{ kind: 'html', status: 502 }] },
  { name: 'a slow first byte within the headers timeout', faults: [{ kind: 'slowFirstByte', ms: 400 }] },
  { name: 'a slow first byte beyond the headers timeout, once', faults: [{ kind: 'slowFirstByte', ms: 4_000 }], exportRequests: 2 },
  { name: 'a slow trickle', faults: [{ kind: 'trickle', chunkBytes: 4096, intervalMs: 5 }] },
  { name: 'gzip', faults: [], seller: { gzip: true } },
  { name: 'a reset mid-body restarts the whole fetch', faults: [{ kind: 'reset', afterBytes: 20_000 }], attempts: 2 },
  { name: 'a reset mid-body of a gzip export', faults: [{ kind: 'reset', afterBytes: 3_000 }], seller: { gzip: true }, attempts: 2 },
  { name: 'a truncated JSON array (clean close, no closing bracket)', faults: [{ kind: 'truncate', afterBytes: 30_000 }], attempts: 2 },
  { name: 'an idle gap beyond the body timeout, once', faults: [{ kind: 'trickle', chunkBytes: 40_000, intervalMs: 4_000 }], attempts: 2 },
]

for (const c of recovers) {
  test(`recovers: ${c.name} — the target holds exactly the served export`, { timeout: 30_000 }, async () => {
    const token = newToken()
    const user = randomUser()
    fake.addSeller(token, { products: 200, seed: n, ...c.seller })
    await engine.sync({ source: ct(token), userId: user })
    const served = fake.addSeller(token, { products: 200, seed: n, change: 0.2, ...c.seller })
    fake.inject(token, ...c.faults)
    const rejectsFile = tmpPath('rejects.ndjson')
    const report = await engine.sync({ source: ct(token, c.options), userId: user, rejectsFile })
    await expectExact(user, served.products)
    assert.equal(report.rows.read, served.products.length)
    assert.equal(report.attempts, c.attempts ?? 1)
    // The baseline sync's request, then the fault's and the retries'.
    if (c.exportRequests !== undefined) assert.equal(fake.count(token, '/products/export') - 1, c.exportRequests)
    await assertNoToken(token, report, fs.readFileSync(rejectsFile, 'utf8'))
  })
}

const failures: Array<Case & { code: string, detail?: string }> = [
  { name: 'an unknown token (401)', faults: [], code: 'BRX_ERR_SOURCE_AUTH' },
  { name: '403 on /info', faults: [{ kind: 'status', status: 403, path: '/info' }], code: 'BRX_ERR_SOURCE_AUTH' },
  { name: '404 with an error_code', faults: [{ kind: 'status', status: 404, body: '{"error_code":"not_found","message":"No such export"}' }], code: 'BRX_ERR_SOURCE_REQUEST', detail: 'not_found' },
  { name: '422 with an error_code', faults: [{ kind: 'status', status: 422, body: '{"error_code":"invalid_params","message":"expansion_id is not valid"}' }], code: 'BRX_ERR_SOURCE_REQUEST', detail: 'invalid_params' },
  { name: 'an HTML page with status 200', faults: [{ kind: 'html', status: 200 }], code: 'BRX_ERR_SOURCE_NOT_JSON' },
  { name: 'a JSON error object with status 200', faults: [{ kind: 'status', status: 200, body: '{"error":"maintenance"}' }], code: 'BRX_ERR_SOURCE_NOT_JSON' },
  { name: '503 on every attempt', faults: [{ kind: 'status', status: 503, times: 100 }], code: 'BRX_ERR_SOURCE_UNAVAILABLE' },
  { name: '429 on every attempt', faults: [{ kind: '429', retryAfter: 0, times: 100 }], code: 'BRX_ERR_SOURCE_UNAVAILABLE' },
  { name: 'a first byte that never comes in time', faults: [{ kind: 'slowFirstByte', ms: 4_000, times: 100 }], options: { retries: 1 }, code: 'BRX_ERR_SOURCE_UNAVAILABLE' },
  { name: 'a reset mid-body on every attempt (mirror deletes nothing)', faults: [{ kind: 'reset', afterBytes: 10_000, times: 100 }], code: 'BRX_ERR_SOURCE_INTERRUPTED' },
  { name: 'a truncated array on every attempt', faults: [{ kind: 'truncate', afterBytes: 10_000, times: 100 }], code: 'BRX_ERR_SOURCE_INTERRUPTED' },
]

for (const c of failures) {
  test(`fails cleanly: ${c.name} → ${c.code}, target untouched`, { timeout: 30_000 }, async () => {
    const token = newToken()
    const user = randomUser()
    fake.addSeller(token, { products: 150, seed: n })
    await engine.sync({ source: ct(token), userId: user })
    const before = await snapshotUser(pool, user)
    fake.addSeller(token, { products: 40, seed: n + 1000 })
    fake.inject(token, ...c.faults)
    const wrong = c.name.startsWith('an unknown token') ? newToken() : token
    const err = await engine.sync({ source: ct(wrong, c.options), userId: user, retryMaxMs: 5_000 }).then(() => null, (e: unknown) => e)
    assert.ok(err !== null, 'the sync should have failed')
    assert.equal((err as { code?: string }).code, c.code, (err as Error).message)
    if (c.detail !== undefined) assert.equal((err as { detail?: string }).detail, c.detail)
    assert.deepEqual(await snapshotUser(pool, user), before)
    await assertNoToken(wrong, err)
  })
}

test('split by expansion: one sync of every expansion; a broken request is retried alone', { timeout: 30_000 }, async () => {
  const token = newToken()
  const user = randomUser()
  const served = fake.addSeller(token, { products: 300, seed: 77 })
  assert.ok(served.expansions.length >= 5, 'the generator should spread products over several expansions')
  const victim = served.expansions[2]
  fake.inject(token,
    { kind: 'reset', afterBytes: 200, path: `/products/export?expansion_id=${victim}` },
    { kind: 'status', status: 502, path: `/products/export?expansion_id=${served.expansions[0]}` },
    { kind: 'truncate', afterBytes: 100, path: `/products/export?expansion_id=${served.expansions[1]}` })
  const report = await engine.sync({ source: ct(token, { splitBy: 'expansion' }), userId: user })
  await expectExact(user, served.products)
  assert.equal(report.attempts, 1, 'the sync itself was not restarted')
  assert.equal(fake.count(token, `/products/export?expansion_id=${victim}`), 2)
  assert.equal(fake.count(token, `/products/export?expansion_id=${served.expansions[3]}`), 1)
  assert.equal(fake.count(token, '/products/export'), served.expansions.length + 3)
})

test('the token is read from CARDTRADER_TOKEN or a token file, and validated without being echoed', { timeout: 30_000 }, async () => {
  const token = newToken()
  const user = randomUser()
  const served = fake.addSeller(token, { products: 50, seed: 5 })
  const file = tmpPath('token')
  fs.writeFileSync(file, token + '\n')
  await engine.sync({ source: { cardtrader: { tokenFile: file, baseUrl: fake.url, rateLimit: { redisUrl: null } } }, userId: user })
  await expectExact(user, served.products)
  const saved = process.env.CARDTRADER_TOKEN
  process.env.CARDTRADER_TOKEN = `${token} x`
  try {
    const err = await engine.sync({ source: { cardtrader: { baseUrl: fake.url } }, userId: user }).then(() => null, (e: unknown) => e) as Error & { code: string }
    assert.equal(err?.code, 'BRX_ERR_OPTIONS_INVALID')
    assert.ok(!err.message.includes(token))
  } finally {
    if (saved === undefined) delete process.env.CARDTRADER_TOKEN; else process.env.CARDTRADER_TOKEN = saved
  }
  await assert.rejects(engine.sync({ source: ct(token), input: '/tmp/x.json', userId: user }), { code: 'BRX_ERR_OPTIONS_INVALID' })
})

test('the token is never visible on the engine mid-sync nor on the filled options, serialized or logged', { timeout: 30_000 }, async () => {
  const token = newToken()
  const user = randomUser()
  const served = fake.addSeller(token, { products: 200, seed: 9 })
  // A trickled body keeps the sync running while the engine is looked at.
  fake.inject(token, { kind: 'trickle', chunkBytes: 2048, intervalMs: 20 })
  const running = engine.sync({ source: ct(token), userId: user })
  for (let i = 0; i < 500 && fake.count(token, '/products/export') === 0; i++) await sleep(10)
  assert.equal(fake.count(token, '/products/export'), 1, 'the export request never started')
  assert.equal(engine.stats().activeSyncs, 1)
  const views = [JSON.stringify(engine), util.inspect(engine, { depth: Infinity })]
  await running
  await expectExact(user, served.products)

  const filled = fillSyncOptions({ source: ct(token), userId: user }, fillEngineOptions({}))
  assert.equal(filled.source?.cardtrader.token, token, 'the filled options still carry the token for the source')
  const logged: string[] = []
  const capture = pino({ level: 'trace' }, new Writable({ write (c, _e, cb) { logged.push(String(c)); cb() } }))
  capture.info({ options: filled }, 'filled options')
  capture.info({ source: filled.source }, 'source')
  views.push(JSON.stringify(filled), util.inspect(filled, { depth: Infinity }), JSON.stringify({ ...filled.source?.cardtrader }), ...logged)
  assert.ok(logged.join('').includes(fake.url), 'the logger did not write the options at all')
  for (const v of views) assert.ok(!v.includes(token), `the token is visible in: ${v.slice(0, 200)}`)
})

test('a file sync loads neither the HTTP client nor the Redis client nor the rate limiter', { timeout: 60_000 }, async () => {
  const file = tmpPath('export.json')
  fs.writeFileSync(file, fake.addSeller(newToken(), { products: 30, seed: 3 }).body)
  // In a fresh process: this one has loaded them for the other tests. The second line proves the check can see them.
  const script = `
    const heavy = () => Object.keys(require.cache).filter(k => /node_modules[\\/](undici|ioredis|rate-limiter-flexible)[\\/]/.test(k)).length
    const { sync } = require(${JSON.stringify(path.join(__dirname, '../src/index.js'))})
    sync({ input: ${JSON.stringify(file)}, userId: ${JSON.stringify(randomUser())}, databaseUrl: ${JSON.stringify(DATABASE_URL)}, mapping: { source: 'none' }, workers: 1 })
      .then(r => {
        const afterFile = heavy()
        require(${JSON.stringify(path.join(__dirname, '../src/source/cardtrader/index.js'))})
        process.stdout.write(JSON.stringify({ written: r.rows.written, afterFile, afterRequire: heavy() }))
      }, e => { process.stderr.write(String(e)); process.exitCode = 1 })`
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 50_000 }, (err, stdout, stderr) => err !== null ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout))
  })
  const r = JSON.parse(out) as { written: number, afterFile: number, afterRequire: number }
  assert.equal(r.written, 30)
  assert.equal(r.afterFile, 0, 'a file sync loaded undici, ioredis or rate-limiter-flexible')
  assert.ok(r.afterRequire > 0, 'the check cannot see the modules it looks for')
})
