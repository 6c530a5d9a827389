/**
 * Dry run and changes file against the reference model, on randomized pairs
 * of exports: a dry run's counts and samples equal what the model says the
 * sync would do and leave the target byte for byte unchanged (row text and
 * xmin); the real sync right after reports the same counts, and its changes
 * file equals the model's change set. Both merge paths: the first sync of a
 * scope (direct COPY) and the staged merge. BRX_SEED replays a run.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { createEngine, migrate, type Engine, type ChangeLine, type SyncReport } from '../src'
import { applyExport, canonicalJson, parseElements, COMPARED, type Row, type State } from './model'
import { DATABASE_URL, Prng, changeProduct, freshId, makePool, randomProduct, randomUser, readNdjson, removeTmp, renderExport, seedFromEnv, snapshotUser, tmpPath, writeExport, type Product } from './helpers'

const seed = seedFromEnv()
const pool = makePool()
let engine: Engine

before(async () => {
  await migrate({ databaseUrl: DATABASE_URL })
  engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' }, workers: 2, partitionBytes: [4096, 1 << 20][seed % 2] })
})

after(async () => {
  await engine.close()
  await pool.end()
  removeTmp()
})

const COUNTS = ['read', 'valid', 'rejected', 'duplicates', 'written', 'inserted', 'updated', 'unchanged', 'deleted'] as const

interface ModelChanges {
  inserted: Map<string, Row>
  deleted: Map<string, Row>
  /** key -> column -> [old, new] */
  updated: Map<string, Record<string, [unknown, unknown]>>
}

function modelChanges (before: Map<string, Row>, after: Map<string, Row>): ModelChanges {
  const out: ModelChanges = { inserted: new Map(), deleted: new Map(), updated: new Map() }
  for (const [k, row] of after) {
    const old = before.get(k)
    if (old === undefined) { out.inserted.set(k, row); continue }
    const cols = COMPARED.filter(c => old[c] !== row[c])
    if (cols.length > 0) out.updated.set(k, Object.fromEntries(cols.map(c => [c, [old[c], row[c]]])))
  }
  for (const [k, row] of before) if (!after.has(k)) out.deleted.set(k, row)
  return out
}

const keyOf = (c: ChangeLine): string => `${String(c.key.blueprint_id)}|${String(c.key.external_stock_id)}`
/** A value from a change line as the model holds it (properties as canonical JSON text). */
const asModel = (col: string, v: unknown): unknown => col === 'properties' ? canonicalJson(v) : v

function rowProblems (label: string, line: Record<string, unknown> | undefined, want: Row): string[] {
  if (line === undefined) return [`${label}: no row`]
  const bad = (Object.keys(want) as Array<keyof Row>).filter(c => asModel(c, line[c]) !== want[c])
  return bad.length === 0 ? [] : [`${label}: ${bad.map(c => `${c} ${JSON.stringify(line[c])} (model ${JSON.stringify(want[c])})`).join(', ')}`]
}

function updateProblems (label: string, got: Record<string, [unknown, unknown]> | undefined, want: Record<string, [unknown, unknown]>): string[] {
  const g = Object.fromEntries(Object.entries(got ?? {}).map(([c, [a, b]]) => [c, [asModel(c, a), asModel(c, b)]]))
  return canonicalJson(g) === canonicalJson(want) ? [] : [`${label}: changed ${JSON.stringify(g)}, model ${JSON.stringify(want)}`]
}

/** Every line of `lines` is a change the model makes (and, with `complete`, every model change is there). */
function changeProblems (lines: ChangeLine[], m: ModelChanges, complete: boolean): string[] {
  const out: string[] = []
  const seen = { insert: new Set<string>(), update: new Set<string>(), delete: new Set<string>() }
  for (const c of lines) {
    const k = keyOf(c)
    seen[c.op].add(k)
    if (c.op === 'insert') out.push(...(m.inserted.has(k) ? rowProblems(`insert ${k}`, c.row, m.inserted.get(k) as Row) : [`insert ${k} is not new in the model`]))
    else if (c.op === 'delete') out.push(...(m.deleted.has(k) ? rowProblems(`delete ${k}`, c.row, m.deleted.get(k) as Row) : [`delete ${k} is not deleted in the model`]))
    else out.push(...(m.updated.has(k) ? updateProblems(`update ${k}`, c.changed, m.updated.get(k) as Record<string, [unknown, unknown]>) : [`update ${k} is not changed in the model`]))
  }
  if (complete) {
    const sizes = { insert: m.inserted.size, update: m.updated.size, delete: m.deleted.size }
    for (const op of ['insert', 'update', 'delete'] as const) {
      if (seen[op].size !== sizes[op]) out.push(`${seen[op].size} distinct ${op} keys, model ${sizes[op]}`)
    }
    if (lines.length !== seen.insert.size + seen.update.size + seen.delete.size) out.push(`${lines.length} lines for ${seen.insert.size + seen.update.size + seen.delete.size} distinct changes`)
  }
  return out.slice(0, 8)
}

function sampleProblems (rep: SyncReport, m: ModelChanges): string[] {
  const s = rep.preview?.samples
  if (s === undefined) return ['the dry run has no samples']
  const out: string[] = []
  if (s.inserted.length !== Math.min(10, m.inserted.size)) out.push(`${s.inserted.length} insert samples for ${m.inserted.size} inserts`)
  if (s.updated.length !== Math.min(10, m.updated.size)) out.push(`${s.updated.length} update samples for ${m.updated.size} updates`)
  if (s.deleted.length !== Math.min(10, m.deleted.size)) out.push(`${s.deleted.length} delete samples for ${m.deleted.size} deletes`)
  return [...out, ...changeProblems([...s.inserted, ...s.updated, ...s.deleted], m, false)]
}

function cloneState (s: State): State {
  return new Map([...s].map(([u, rows]) => [u, new Map(rows)]))
}

async function checksum (userId: string): Promise<string> {
  const { rows } = await pool.query("SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text || xmin::text, ',' ORDER BY id)), '') AS h FROM user_inventory_items t WHERE user_id = $1", [userId])
  return rows[0].h as string
}

/** Dry run, then the real sync with a changes file; both checked against the model. */
async function pair (state: State, userId: string, texts: string[], mode: 'mirror' | 'upsert', label: string, rng: Prng): Promise<void> {
  const file = writeExport(texts, { format: rng.pick(['json', 'ndjson'] as const) }, label)
  const records = parseElements(texts)
  const beforeRows = new Map(state.get(userId) ?? [])
  const predicted = cloneState(state)
  const expected = applyExport(predicted, userId, records, mode)
  const changes = modelChanges(beforeRows, predicted.get(userId) as Map<string, Row>)
  const snap = await snapshotUser(pool, userId)
  const sum = await checksum(userId)
  const where = `${label} (seed ${seed}, ${mode}, ${texts.length} records)`

  // Change capture reads staging for every row: asked for the engine diff, the sync takes the database diff (src/diff/when.ts).
  const diff = rng.pick(['engine', 'database'] as const)
  const dry = await engine.sync({ input: file.path, userId, mode, dryRun: true, diff })
  assert.equal(dry.dryRun, true, where)
  assert.equal(dry.diff, 'database', `${where}: a dry run asked for the ${diff} diff`)
  assert.deepEqual(COUNTS.map(k => dry.rows[k]), COUNTS.map(k => expected.counts[k]), `${where}: dry-run counts (${COUNTS.join(',')}) differ from the model`)
  assert.deepEqual(sampleProblems(dry, changes), [], `${where}: dry-run samples`)
  assert.equal(dry.preview?.guard.wouldRefuse, false, where)
  assert.deepEqual(await snapshotUser(pool, userId), snap, `${where}: the dry run changed the target (row text or xmin)`)
  assert.equal(await checksum(userId), sum, `${where}: checksum after the dry run`)

  const changesFile = tmpPath(`${label}-changes.ndjson`)
  const real = await engine.sync({ input: file.path, userId, mode, changesFile, diff })
  assert.equal(real.dryRun, false)
  assert.equal(real.diff, 'database', `${where}: a changes file asked for the ${diff} diff`)
  assert.deepEqual(COUNTS.map(k => real.rows[k]), COUNTS.map(k => dry.rows[k]), `${where}: the real sync's counts differ from the dry run's`)
  applyExport(state, userId, records, mode)
  const lines = readNdjson(changesFile) as ChangeLine[]
  assert.equal(lines.length, real.rows.inserted + real.rows.updated + real.rows.deleted, `${where}: changes file line count`)
  assert.deepEqual(changeProblems(lines, changes, true), [], `${where}: changes file vs the model's change set`)
  assert.deepEqual(fs.readdirSync(path.dirname(changesFile)).filter(f => f.endsWith('.tmp')), [], `${where}: a temporary changes file was left behind`)
}

function mutate (rng: Prng, products: Product[]): Product[] {
  const kept = products.filter(() => !rng.chance(rng.pick([0.02, 0.1, 0.3])))
  const changed = kept.map(p => rng.chance(rng.pick([0.05, 0.2, 0.6])) ? changeProduct(rng, p) : p)
  const added = Array.from({ length: rng.int(0, 30) }, () => randomProduct(rng, freshId(rng)))
  return rng.shuffle([...changed, ...added])
}

test(`dry run and changes file equal the reference model on randomized pairs of exports (seed ${seed})`, { timeout: 60_000 }, async () => {
  console.log(`# ops.dry-run seed=${seed} (rerun with BRX_SEED=${seed})`)
  const rng = new Prng(seed)
  const state: State = new Map()
  for (let u = 0; u < 3; u++) {
    const userId = randomUser()
    let products = Array.from({ length: rng.int(40, 400) }, () => randomProduct(rng, freshId(rng)))
    // The first sync of a scope takes the direct path (COPY into the target inside the transaction).
    await pair(state, userId, renderExport(rng, products, { rejectRate: 0.03, dupRate: 0.05 }), 'mirror', `u${u}-first`, rng)
    for (let i = 0; i < 2; i++) {
      products = mutate(rng, products)
      await pair(state, userId, renderExport(rng, products, { rejectRate: 0.03, dupRate: 0.05 }), rng.chance(0.7) ? 'mirror' : 'upsert', `u${u}-next${i}`, rng)
    }
  }
})

test('a dry run reports the mass-delete guard refusing; the real sync then fails with it and writes no changes file', async () => {
  const rng = new Prng(seed ^ 0x5eed)
  const userId = randomUser()
  const products = Array.from({ length: 50 }, () => randomProduct(rng, freshId(rng)))
  const first = writeExport(renderExport(rng, products, { rejectRate: 0, dupRate: 0, malformedRate: 0 }), { format: 'json' })
  await engine.sync({ input: first.path, userId })
  const few = writeExport(renderExport(rng, products.slice(0, 10), { rejectRate: 0, dupRate: 0, malformedRate: 0 }), { format: 'json' })
  const sum = await checksum(userId)
  const dry = await engine.sync({ input: few.path, userId, dryRun: true })
  assert.equal(dry.rows.deleted, 40)
  assert.deepEqual(dry.preview?.guard, { wouldRefuse: true, deleted: 40, existing: 50, maxDeleteRatio: 0.5, allowMassDelete: false })
  assert.equal(dry.preview?.samples.deleted.length, 10)
  const changesFile = tmpPath('guard-changes.ndjson')
  await assert.rejects(engine.sync({ input: few.path, userId, changesFile }), { code: 'BRX_ERR_WIPE_GUARD' })
  assert.equal(fs.existsSync(changesFile), false)
  assert.deepEqual(fs.readdirSync(path.dirname(changesFile)).filter(f => f.includes('guard-changes')), [])
  assert.equal(await checksum(userId), sum)
  const { rows } = await pool.query('SELECT dry_run, status, error_code FROM sync_runs WHERE scope @> $1::jsonb ORDER BY started_at', [JSON.stringify({ user_id: userId })])
  assert.deepEqual(rows.map(r => [r.dry_run, r.status, r.error_code]), [[false, 'succeeded', null], [true, 'succeeded', null], [false, 'failed', 'BRX_ERR_WIPE_GUARD']])
})

test('a changes file that cannot be written fails the sync before COMMIT: nothing changes', async () => {
  const rng = new Prng(seed ^ 0xf11e)
  const userId = randomUser()
  const products = Array.from({ length: 30 }, () => randomProduct(rng, freshId(rng)))
  const a = writeExport(renderExport(rng, products, { rejectRate: 0, dupRate: 0, malformedRate: 0 }), { format: 'json' })
  await engine.sync({ input: a.path, userId })
  const b = writeExport(renderExport(rng, products.map(p => changeProduct(rng, p)), { rejectRate: 0, dupRate: 0, malformedRate: 0 }), { format: 'json' })
  const sum = await checksum(userId)
  await assert.rejects(engine.sync({ input: b.path, userId, changesFile: '/nonexistent-dir/changes.ndjson' }), { code: 'BRX_ERR_LOCAL_IO' })
  assert.equal(await checksum(userId), sum)
  const failed = (await pool.query("SELECT status, error_code, to_regclass(staging_table) AS staging FROM sync_runs WHERE scope @> $1::jsonb AND status <> 'succeeded'", [JSON.stringify({ user_id: userId })])).rows
  assert.deepEqual(failed, [{ status: 'failed', error_code: 'BRX_ERR_LOCAL_IO', staging: null }])
  // the run is recorded as failed and a later sync goes through
  const ok = await engine.sync({ input: b.path, userId })
  assert.equal(ok.rows.updated, 30)
})

test('dryRun with changesFile is refused; dryRun must be a boolean', async () => {
  await assert.rejects(engine.sync({ input: '/dev/null', userId: randomUser(), dryRun: true, changesFile: tmpPath('x') }), { code: 'BRX_ERR_OPTIONS_INVALID', message: /changesFile cannot be combined with dryRun/ })
  await assert.rejects(engine.sync({ input: '/dev/null', userId: randomUser(), dryRun: 'yes' as unknown as boolean }), { code: 'BRX_ERR_OPTIONS_INVALID', message: /dryRun must be a boolean/ })
})
