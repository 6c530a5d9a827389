/**
 * Rate limits across processes and sellers: three processes sharing one
 * token through Redis stay under the fake CardTrader's window; with their
 * Redis killed mid-run they finish on the in-process fallback; twenty
 * sellers with their own tokens through one engine are limited
 * independently, with bounded pools. Plus the CLI path and its outputs.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Redis from 'ioredis'
import pino from 'pino'
import { createEngine } from '../src'
import { MAX_CONNECTIONS } from '../src/source/cardtrader/http'
import { FakeCardTrader } from './fake-cardtrader'
import { DATABASE_URL, makePool, randomUser, readUserRows } from './helpers'
import { applyExport, type State } from './model'

const CHILD = path.join(__dirname, 'cardtrader-child.js')
const CLI = path.join(__dirname, '../src/cli/main.js')
const SHARED_REDIS = process.env.BRX_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const PREFIX = `brx-test-ct:${process.pid}`
const pool = makePool(2)
const limit = { requests: 60, windowMs: 2_000 }
let fake: FakeCardTrader

before(async () => { fake = await FakeCardTrader.start({ windowLimit: limit.requests, windowMs: limit.windowMs }) })
after(async () => {
  await fake.close(); await pool.end()
  const r = new Redis(SHARED_REDIS, { lazyConnect: true })
  r.on('error', () => {})
  await r.connect().catch(() => {})
  const keys = await r.keys(`${PREFIX}*`).catch(() => [] as string[])
  if (keys.length > 0) await r.del(...keys)
  r.disconnect()
})

interface Run { child: ChildProcess, out: Promise<{ code: number | null, stdout: string, stderr: string }> }

function child (users: string[], source: Record<string, unknown>): Run {
  const c = spawn(process.execPath, [CHILD, JSON.stringify({ users, source, databaseUrl: DATABASE_URL })], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''; let stderr = ''
  c.stdout.on('data', d => { stdout += String(d) })
  c.stderr.on('data', d => { stderr += String(d) })
  return { child: c, out: new Promise(resolve => c.on('close', code => resolve({ code, stdout, stderr }))) }
}

async function expectExact (user: string, products: unknown[]): Promise<void> {
  const state: State = new Map()
  applyExport(state, user, products, 'mirror')
  assert.deepEqual(await readUserRows(pool, user), state.get(user))
}

async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise(resolve => s.close(resolve))
  return port
}

async function threeProcesses (token: string, redisUrl: string, redisTimeoutMs: number, whileRunning?: () => Promise<void>): Promise<{ stderr: string[], users: string[] }> {
  const users = Array.from({ length: 6 }, randomUser)
  const source = { token, baseUrl: fake.url, splitBy: 'expansion', retryBaseMs: 50, rateLimit: { ...limit, redisUrl, redisKeyPrefix: PREFIX, backoffMs: 500, redisTimeoutMs } }
  const runs = [0, 1, 2].map(i => child(users.slice(i * 2, i * 2 + 2), source))
  await whileRunning?.()
  const outs = await Promise.all(runs.map(async r => await r.out))
  for (const o of outs) {
    assert.equal(o.code, 0, o.stderr)
    for (const res of JSON.parse(o.stdout) as Array<{ ok: boolean, code?: string, message?: string }>) assert.ok(res.ok, `${res.code}: ${res.message}`)
    assert.ok(!o.stdout.includes(token) && !o.stderr.includes(token), 'the token appeared in a child\'s output')
  }
  return { stderr: outs.map(o => o.stderr), users }
}

test('three processes, six sellers, one token shared through Redis: never over the window', { timeout: 60_000 }, async () => {
  const token = `shared-secret-${process.pid}-a`
  const served = fake.addSeller(token, { products: 20, seed: 11 })
  const { users, stderr } = await threeProcesses(token, SHARED_REDIS, 5_000) // the shared Redis may be slow under other tests' load: no fallback here
  const requests = fake.count(token)
  assert.ok(requests >= 6 * (served.expansions.length + 2), `only ${requests} requests: the test did not load the limiter`)
  assert.ok(fake.maxInWindow(token) <= limit.requests, `${fake.maxInWindow(token)} requests in one ${limit.windowMs} ms window`)
  assert.equal(fake.requests.filter(r => r.status === 429).length, 0, 'the fake had to answer 429')
  for (const s of stderr) assert.ok(!s.includes('in-process bucket'), 'fell back although Redis was up')
  for (const u of users) await expectExact(u, served.products)
})

test('Redis killed mid-run: the syncs finish on the in-process fallback, one warning per process', { timeout: 60_000 }, async () => {
  const port = await freePort()
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  try {
    const url = `redis://127.0.0.1:${port}`
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => 50 })
    probe.on('error', () => {})
    for (let i = 0; i < 100 && probe.status !== 'ready'; i++) { await probe.connect().catch(() => {}); await sleep(50) }
    probe.disconnect()
    const token = `shared-secret-${process.pid}-b`
    const served = fake.addSeller(token, { products: 20, seed: 12 })
    const { users, stderr } = await threeProcesses(token, url, 300, async () => {
      for (let i = 0; i < 400 && fake.count(token) < 15; i++) await sleep(25)
      redis.kill('SIGKILL')
    })
    assert.ok(fake.count(token) > 20, 'the kill came after the syncs')
    for (const s of stderr) assert.ok(s.split('in-process bucket').length - 1 <= 1, 'warned more than once in one process')
    assert.ok(stderr.some(s => s.includes('in-process bucket')), 'no process noticed Redis was gone')
    for (const u of users) await expectExact(u, served.products)
  } finally {
    redis.kill('SIGKILL')
  }
})

test('20 sellers with their own tokens through one engine: independent limits, bounded pools', { timeout: 60_000 }, async () => {
  const engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' }, workers: 1, pgPoolSize: 4, logger: pino({ level: 'silent' }) })
  try {
    const sellers = Array.from({ length: 20 }, (_, i) => ({ token: `own-secret-${process.pid}-${i}`, user: randomUser() }))
    const served = sellers.map((s, i) => fake.addSeller(s.token, { products: 30, seed: 100 + i }))
    // A 429 with a long Retry-After pauses seller 0 only.
    fake.inject(sellers[0].token, { kind: '429', retryAfter: 2 })
    let peakPg = 0
    fake.resetPeak()
    const sampler = setInterval(() => { peakPg = Math.max(peakPg, engine.stats().pg.total) }, 5)
    await Promise.all(sellers.map(async s => {
      await engine.sync({ source: { cardtrader: { token: s.token, baseUrl: fake.url, rateLimit: { requests: 6, windowMs: 2_000, redisUrl: null } } }, userId: s.user })
    }))
    clearInterval(sampler)
    // While seller 0 sat out its Retry-After, the others kept going: a shared bucket (1 request/s) or a
    // shared pause would have let through at most 2 of their requests.
    const [limited, retried] = fake.requestsOf(sellers[0].token, '/products/export')
    assert.equal(limited.status, 429)
    assert.ok(retried.at - limited.at >= 1_900, 'Retry-After was not honoured')
    const others = sellers.slice(1).flatMap(s => fake.requestsOf(s.token)).filter(r => r.at > limited.at && r.at < retried.at)
    assert.ok(others.length > 2, `only ${others.length} requests of other sellers during seller 0's pause`)
    for (const [i, s] of sellers.entries()) {
      assert.ok(fake.maxInWindow(s.token, 2_000) <= 6)
      await expectExact(s.user, served[i].products)
    }
    assert.ok(peakPg <= 4, `${peakPg} PostgreSQL connections`)
    assert.ok(fake.peakConnections <= MAX_CONNECTIONS, `${fake.peakConnections} sockets to CardTrader`)
  } finally {
    await engine.close()
  }
})

async function cli (env: Record<string, string>, ...args: string[]): Promise<{ code: number | null, out: string }> {
  const c = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  c.stdout.on('data', d => { out += String(d) })
  c.stderr.on('data', d => { out += String(d) })
  return await new Promise(resolve => c.on('close', code => resolve({ code, out })))
}

test('CLI: --source cardtrader with CARDTRADER_TOKEN; a rejected token exits 9; the token is never printed', { timeout: 30_000 }, async () => {
  const token = `cli-secret-${process.pid}`
  const user = randomUser()
  const served = fake.addSeller(token, { products: 40, seed: 21 })
  const env = { CARDTRADER_TOKEN: token, CARDTRADER_API_URL: fake.url, DATABASE_URL }
  const ok = await cli(env, 'sync', '--source', 'cardtrader', '--user', user, '--no-mapping', '--json', '--log-level', 'trace')
  assert.equal(ok.code, 0, ok.out)
  assert.ok(!ok.out.includes(token))
  await expectExact(user, served.products)
  const bad = await cli({ ...env, CARDTRADER_TOKEN: `${token}-revoked` }, 'sync', '--source', 'cardtrader', '--user', user, '--no-mapping', '--json', '--log-level', 'trace')
  assert.equal(bad.code, 9, bad.out)
  assert.match(bad.out, /BRX_ERR_SOURCE_AUTH/)
  assert.ok(!bad.out.includes(token))
  const flag = await cli(env, 'sync', '--source', 'cardtrader', '--user', user, '--token', token)
  assert.equal(flag.code, 2)
  assert.ok(!flag.out.includes(token), 'a token passed on the command line was echoed')
})
