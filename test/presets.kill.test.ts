/**
 * The order book under SIGKILL: the CLI re-syncs `carteira_principal` (a
 * whole-table mirror with derived balances) and is killed while its merge
 * runs — computing the balances (brx_src), classifying, updating, inserting,
 * deleting — or at a random time. After each kill the table is exactly the
 * old order book or exactly the new one; the new one only if the killed run
 * is recorded as succeeded. A rerun converges.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import pino from 'pino'
import { createEngine, migrate } from '../src'
import { orderBookSources } from '../tools/generate/presets'
import { writePresetSample } from '../tools/generate/presets-cli'
import { Prng, removeTmp, seedFromEnv, tmpPath } from './helpers'
import { PG_URL, appName, backends, spawnCli, taggedUrl, waitFor } from './fault-helpers'

const seed = seedFromEnv()
const N = 10_000
after(() => removeTmp())

async function hashOf (db: pg.Client): Promise<string> {
  return (await db.query("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY num_pedido, cod_produto)), '') AS h FROM carteira_principal t")).rows[0].h
}

/** Which statement of the merge a backend runs, by its SQL text (null: not in the merge). */
function mergeStep (q: string): string | null {
  if (q.startsWith('CREATE TEMP TABLE brx_src')) return 'derive'
  if (q.startsWith('CREATE TEMP TABLE brx_diff')) return 'classify'
  for (const s of ['UPDATE', 'INSERT INTO', 'DELETE FROM']) if (q.startsWith(`${s} "carteira_principal"`)) return s.split(' ')[0].toLowerCase()
  if (q.startsWith("UPDATE sync_runs SET status = 'succeeded'") || q === 'COMMIT') return 'commit'
  return null
}

test(`order book: SIGKILL during the merge leaves the old or the new table (seed ${seed})`, { timeout: 120_000 }, async () => {
  const r = new Prng(seed)
  await migrate({ databaseUrl: PG_URL, dataset: 'order-book' })
  const db = new pg.Client({ connectionString: PG_URL })
  await db.connect()
  const engine = createEngine({ databaseUrl: PG_URL, mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  try {
    await db.query('TRUNCATE carteira_principal, faturamento_produto, separacao')
    const src = orderBookSources(N, 3, seed % 1000)
    await db.query("INSERT INTO faturamento_produto SELECT split_part(l, E'\\t', 1), split_part(l, E'\\t', 2), split_part(l, E'\\t', 3)::numeric FROM unnest($1::text[]) l", [src.faturamento])
    await db.query("INSERT INTO separacao SELECT split_part(l, E'\\t', 1), split_part(l, E'\\t', 2), split_part(l, E'\\t', 3)::numeric FROM unnest($1::text[]) l", [src.separacao])
    const A = tmpPath('orders-a.ndjson'); const B = tmpPath('orders-b.ndjson')
    await writePresetSample('order-book', { rows: N, seed: 5 }, A)
    // B: 30% of the lines changed, the last 2% removed (the wipe guard allows it).
    await writePresetSample('order-book', { rows: Math.floor(N * 0.98), seed: 5, change: 0.3, changeSeed: seed % 1000 }, B)
    assert.ok(fs.statSync(B).size > 64 * 1024, 'big enough for the staged path')
    await engine.sync({ input: B, dataset: 'order-book' })
    const hashB = await hashOf(db)
    await engine.sync({ input: A, dataset: 'order-book' })
    const hashA = await hashOf(db)
    assert.notEqual(hashA, hashB)
    const landed = new Set<string>()
    for (let k = 0; k < 7; k++) {
      const tag = `presets-kill-${k}`
      const since = (await db.query('SELECT clock_timestamp() AS t')).rows[0].t as Date
      const child = spawnCli(['sync', '--dataset', 'order-book', '--input', B, '--database-url', taggedUrl(tag), '--log-level', 'warn'])
      const timed = k === 6
      let step: string | null = 'timed'
      if (timed) await sleep(r.int(50, 1500))
      else {
        const want = ['derive', 'classify', 'update', 'insert', 'delete', 'commit'][k]
        step = await waitFor(`the merge at ${want}`, async () => {
          for (const b of await backends(db, appName(tag))) {
            const s = mergeStep(b.query)
            if (b.state === 'active' && s !== null && (s === want || (want !== 'derive' && s !== 'derive'))) return s
          }
          return child.child.exitCode !== null ? 'exited' : undefined
        }, 30_000, 1).catch(() => 'missed')
      }
      child.child.kill('SIGKILL')
      await child.exited
      const h = await hashOf(db)
      const run = (await db.query("SELECT status FROM sync_runs WHERE dataset = 'order-book' AND started_at > $1 ORDER BY started_at DESC LIMIT 1", [since])).rows[0]?.status
      assert.ok(h === hashA || h === hashB, `kill ${k} at ${String(step)}: the table is a mix`)
      assert.equal(h === hashB, run === 'succeeded', `kill ${k} at ${String(step)}: new rows only with a succeeded run (run ${String(run)})`)
      if (step !== null && step !== 'missed' && step !== 'exited') landed.add(step)
      // Back to A for the next kill (the rerun also reaps the killed run).
      await engine.sync({ input: A, dataset: 'order-book' })
      assert.equal(await hashOf(db), hashA)
    }
    console.log(`# kills landed at: ${[...landed].join(', ')}`)
    assert.ok(landed.size >= 2, `kills landed inside the merge: ${[...landed].join(', ')}`)
    await engine.sync({ input: B, dataset: 'order-book' })
    assert.equal(await hashOf(db), hashB, 'a rerun converges')
    const abandoned = (await db.query("SELECT count(*)::int AS n FROM sync_runs WHERE dataset = 'order-book' AND status = 'running'")).rows[0].n
    assert.equal(abandoned, 0, 'no run left marked running')
  } finally {
    await engine.close()
    await db.end()
  }
})
