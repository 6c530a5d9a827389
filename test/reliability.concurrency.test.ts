/**
 * Concurrent syncs. Two syncs of one user serialize on the scope lock ('wait':
 * both succeed, one after the other, the later export wins) or one of them
 * refuses at once ('fail': BRX_ERR_SCOPE_BUSY, the table holds the other's
 * result). Many users through one engine: every sync succeeds with exactly its
 * own export, and the engine never holds more PostgreSQL connections than
 * pgPoolSize.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import pino from 'pino'
import { createEngine } from '../src'
import { generateProducts } from '../tools/generate'
import { Prng, removeTmp, seedFromEnv, tmpPath } from './helpers'
import { tryNormalize, type Row } from './model'
import {
  adminPool, closeEngine, appName, leftoverStaging, modelMirror, ms, runsOf, scalarHashDb, scalarHashModel, settle, taggedUrl, within, writeProducts, newUser, forgetUsers } from './fault-helpers'

const seed = seedFromEnv()
const rng = new Prng(seed)
const admin = adminPool()

after(async () => {
  await forgetUsers(admin).catch(err => console.log(`# cleanup: ${String(err)}`))
  await admin.end()
  removeTmp()
})

function expected (records: unknown[]): { n: number, hash: string } {
  return scalarHashModel(modelMirror(records).values())
}

async function pair (): Promise<{ user: string, first: ReturnType<typeof writeProducts>, second: ReturnType<typeof writeProducts> }> {
  const s = rng.int(1, 1_000_000)
  const user = newUser()
  const old = writeProducts({ products: 15_000, seed: s }, 'old')
  const first = writeProducts({ products: 15_000, seed: s, change: 0.2, changeSeed: s + 11 }, 'first')
  const second = writeProducts({ products: 15_000, seed: s, change: 0.2, changeSeed: s + 22 }, 'second')
  const e = createEngine({ databaseUrl: taggedUrl('conc-setup'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  try {
    await e.sync({ input: old.path, userId: user })
  } finally {
    await closeEngine(e)
  }
  return { user, first, second }
}

test(`two syncs of one user with lock "wait" both succeed, serialized; the later one's export wins (seed ${seed})`, { timeout: 90_000 }, async () => {
  const { user, first, second } = await pair()
  const engine = createEngine({ databaseUrl: taggedUrl('conc-wait'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  try {
    const [a, b] = await within(60_000, 'two waiting syncs', Promise.all([
      settle(engine.sync({ input: first.path, userId: user, lock: 'wait' })),
      settle(engine.sync({ input: second.path, userId: user, lock: 'wait' })),
    ]))
    assert.ok(a.ok && b.ok, `both must succeed: ${a.ok ? '' : a.error?.code} ${b.ok ? '' : b.error?.code}`)
    const runs = (await runsOf(admin, user)).filter(r => r.id === a.value.runId || r.id === b.value.runId)
    assert.equal(runs.length, 2)
    for (const r of runs) assert.equal(r.status, 'succeeded')
    const [r1, r2] = runs // by started_at
    assert.ok(r1.finished_at !== null && r1.finished_at.getTime() <= r2.started_at.getTime(),
      `sync_runs intervals overlap: first ${r1.started_at.toISOString()}..${r1.finished_at?.toISOString()}, second started ${r2.started_at.toISOString()}`)
    const later = r2.id === a.value.runId ? first : second
    assert.deepEqual(await scalarHashDb(admin, user), expected(later.records), 'the table holds the export of the sync that ran second')
    assert.deepEqual(await leftoverStaging(admin, runs), [])
  } finally {
    await closeEngine(engine)
  }
})

test('two syncs of one user with lock "fail": one fails with BRX_ERR_SCOPE_BUSY, the table holds the other\'s export', { timeout: 90_000 }, async () => {
  const { user, first, second } = await pair()
  const before = await runsOf(admin, user)
  // Two engines: two hosts racing for the same seller.
  const e1 = createEngine({ databaseUrl: taggedUrl('conc-fail-1'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  const e2 = createEngine({ databaseUrl: taggedUrl('conc-fail-2'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  try {
    const [a, b] = await within(60_000, 'two failing-fast syncs', Promise.all([
      settle(e1.sync({ input: first.path, userId: user, lock: 'fail' })),
      settle(e2.sync({ input: second.path, userId: user, lock: 'fail' })),
    ]))
    const ok = [a, b].filter(x => x.ok)
    const failed = [a, b].filter(x => !x.ok)
    assert.equal(ok.length, 1, `exactly one sync must win: ${[a, b].map(x => x.ok ? 'ok' : x.error?.code).join(', ')}`)
    const f = failed[0] as { ok: false, error: any }
    assert.equal(f.error.code, 'BRX_ERR_SCOPE_BUSY', f.error.message)
    const winner = a.ok ? first : second
    assert.deepEqual(await scalarHashDb(admin, user), expected(winner.records))
    const runs = (await runsOf(admin, user)).filter(r => !before.some(x => x.id === r.id))
    assert.deepEqual(runs.map(r => r.status), ['succeeded'], 'the refused sync records no run and changes nothing')
  } finally {
    await closeEngine(e1)
    await closeEngine(e2)
  }
})

test('one user spelled in upper case or without hyphens is the same scope: same lock, same sync_runs scope', { timeout: 60_000 }, async () => {
  // PostgreSQL reads all three spellings as one uuid, so all three must serialize on one scope lock.
  const user = newUser()
  const engine = createEngine({ databaseUrl: taggedUrl('conc-spelling'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  const holder = await admin.connect()
  const file = writeProducts({ products: 50, seed: rng.int(1, 1000) }, 'spelling').path
  try {
    // The lock a sync of the canonical spelling holds (src/runs/runs.ts: hashtext(table), hashtext(scope json)).
    await holder.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', ['user_inventory_items', JSON.stringify({ user_id: user })])
    const spellings = [user.toUpperCase(), user.replace(/-/g, ''), user.replace(/-/g, '').toUpperCase()]
    const results = []
    for (const s of spellings) results.push(await settle(engine.sync({ input: file, userId: s, lock: 'fail' })))
    await holder.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', ['user_inventory_items', JSON.stringify({ user_id: user })])
    assert.deepEqual(results.map(r => r.ok ? 'succeeded while the user was locked' : r.error?.code), spellings.map(() => 'BRX_ERR_SCOPE_BUSY'),
      'a sync of the same user spelled differently must wait for (or refuse on) the same scope lock')
    await engine.sync({ input: file, userId: user.toUpperCase() })
    const runs = await runsOf(admin, user)
    assert.equal(runs.length, 1, 'sync_runs.scope holds the canonical (lower-case, hyphenated) uuid')
  } finally {
    await holder.query('SELECT pg_advisory_unlock_all()').catch(() => {})
    holder.release()
    await closeEngine(engine)
  }
})

test(`many users through one engine: all succeed with their own exports, connections <= pgPoolSize (seed ${seed})`, { timeout: 180_000 }, async () => {
  const users = Number(process.env.BRX_CONC_USERS ?? 20)
  const products = Number(process.env.BRX_CONC_PRODUCTS ?? 25_000)
  const poolSize = 6
  const tGen = performance.now()
  // One generated inventory, made distinct per user (quantities, prices, a share of products
  // dropped): a sync that wrote another user's rows would not match.
  const base = [...generateProducts({ products, seed: rng.int(1, 1_000_000) })]
  const baseRows = base.map(p => {
    const r = tryNormalize(p)
    assert.ok(r.row !== undefined, `generated products are valid, got ${r.reason ?? ''}`)
    return r.row
  })
  // Each record's JSON once, split around its quantity: a user's export is then only concatenation.
  const MARK = '"\\u0001quantity"'
  const halves = base.map(p => JSON.stringify({ ...p, quantity: '\u0001quantity' }).split(MARK))
  const exports = Array.from({ length: users }, (_, k) => {
    const parts: string[] = []
    const rows: Row[] = []
    base.forEach((p, i) => {
      if ((i * 7 + k) % 23 === 0) return
      const quantity = (Number(p.quantity) + k) % 40
      parts.push(halves[i][0] + String(quantity) + halves[i][1])
      rows.push({ ...baseRows[i], quantity })
    })
    const file = tmpPath(`user-${k}.json`)
    fs.writeFileSync(file, '[' + parts.join(',\n') + ']')
    return { user: newUser(), file, expected: scalarHashModel(rows) }
  })
  const genMs = ms(tGen)
  const tag = `conc-many-${seed}`
  const engine = createEngine({ databaseUrl: taggedUrl(tag), pgPoolSize: poolSize, workers: 2, mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  const sampler = await admin.connect()
  let maxConns = 0
  let samples = 0
  let sampling = true
  const sampling$ = (async () => {
    while (sampling) {
      const { rows } = await sampler.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [appName(tag)])
      maxConns = Math.max(maxConns, rows[0].n)
      samples++
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })()
  try {
    // Round 1: every scope empty (the direct path). Round 2: every user re-synced with another
    // user's variant (staging, extra writers, set-based merge with updates, inserts and deletes).
    const syncMs: number[] = []
    for (const round of [0, 1]) {
      const tRound = performance.now()
      const results = await within(120_000, `${users} concurrent syncs (round ${round + 1})`,
        Promise.all(exports.map(async (x, k) => await settle(engine.sync({ input: exports[(k + round) % users].file, userId: x.user })))))
      syncMs.push(ms(tRound))
      const failures = results.flatMap((r, i) => r.ok ? [] : [`user ${i}: ${r.error?.code as string}: ${r.error?.message as string}`])
      assert.deepEqual(failures, [], `round ${round + 1}`)
      for (const [k, x] of exports.entries()) {
        assert.deepEqual(await scalarHashDb(admin, x.user), exports[(k + round) % users].expected, `round ${round + 1}: user ${k}'s rows must match the export it was given`)
      }
    }
    sampling = false
    await sampling$
    for (const x of exports) {
      const runs = await runsOf(admin, x.user)
      assert.deepEqual(runs.map(r => r.status), ['succeeded', 'succeeded'])
      assert.deepEqual(await leftoverStaging(admin, runs), [])
    }
    console.log(`# ${users} users x ${products} products through one engine, twice: ${syncMs.join(' ms + ')} ms (+ ${genMs} ms generating), max ${maxConns} brx-sync connections over ${samples} samples (pgPoolSize ${poolSize})`)
    assert.ok(samples > 0)
    assert.ok(maxConns <= poolSize, `the engine held ${maxConns} connections, more than pgPoolSize ${poolSize}`)
    for (const x of exports) await admin.query('DELETE FROM user_inventory_items WHERE user_id = $1', [x.user])
  } finally {
    sampling = false
    await sampling$.catch(() => {})
    sampler.release()
    await closeEngine(engine)
  }
})
