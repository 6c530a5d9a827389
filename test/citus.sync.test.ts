/**
 * The same engine on Citus (README "Running on Citus"): the sync suite's core
 * cases against `user_inventory_items` distributed by user_id on the local
 * three-node cluster of ../shared/citus (coordinator 5440, workers 5441/5442).
 *
 * Runs only with BRX_TEST_CITUS=1 (it starts the kit's cluster itself;
 * start-citus.sh is idempotent). Its database is CITUS_DB (default
 * brx_citus_test); its tables are dropped and created again by
 * `brx-sync migrate --citus` at the start.
 *
 *   - migrate --citus: the target is distributed by user_id, the bookkeeping tables stay local
 *   - randomized first syncs, re-syncs, mirror deletes, upserts, rejects and duplicates of
 *     several users equal the reference model (test/model.ts), others' rows untouched
 *   - small inputs take the light path (coordinator TEMP staging, no distributed DDL)
 *   - staging is a distributed table co-located with the target while a sync runs
 *   - a dry run rolls back; a changes file lists exactly the committed changes
 *   - two sellers whose shards are on different workers sync at once
 *   - SIGKILL of a CLI sync mid-merge: the seller's rows are the old or the new inventory
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import pino from 'pino'
import { createEngine, migrate, type Engine } from '../src'
import { applyExport, canonicalJson, identityViolations, parseElements, COMPARED, type ApplyResult, type Row, type State } from './model'
import { DATABASE_URL, Prng, evolveCatalog, productKey, changeProduct, freshId, randomProduct, readNdjson, readUserRows, removeTmp, renderExport, seedFromEnv, snapshotUser, tmpPath, toldFormat, writeExport, type Product } from './helpers'
import { appName, backends, blockStatement, closeEngine, phaseOf, runsOf, simpleProducts, spawnCli, stateHash, tableExists, waitFor, writeJson, writeProducts } from './fault-helpers'

const ENABLED = process.env.BRX_TEST_CITUS === '1'
const SKIP = ENABLED ? false : 'set BRX_TEST_CITUS=1 to run the Citus suite (it starts the local cluster of ../shared/citus: start-citus.sh)'
const seed = seedFromEnv()
const DB = process.env.CITUS_DB ?? 'brx_citus_test'
const ROOT = path.resolve(__dirname, '..', '..')
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js')
let URL = ''
let admin: pg.Pool | undefined
let engine: Engine | undefined

/** The kit: BRX_CITUS_KIT, else ../shared/citus beside the checkout (or beside its worktrees' parent). */
function kitDir (): string {
  const candidates = [process.env.BRX_CITUS_KIT, path.resolve(ROOT, '../shared/citus'), path.resolve(ROOT, '../../shared/citus'), '/work/shared/citus']
  const dir = candidates.find(d => d !== undefined && fs.existsSync(path.join(d, 'start-citus.sh')))
  if (dir === undefined) throw new Error(`BRX_TEST_CITUS=1 but no Citus kit found (looked in ${candidates.filter(Boolean).join(', ')}); set BRX_CITUS_KIT`)
  return dir
}

const tagged = (tag: string): string => `${URL}?application_name=${encodeURIComponent(appName(tag))}`
const db = (): pg.Pool => admin as pg.Pool

before(async () => {
  if (!ENABLED) return
  const t0 = performance.now()
  const out = execFileSync(path.join(kitDir(), 'start-citus.sh'), { env: { ...process.env, CITUS_DB: DB }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  URL = out.trim().split('\n').at(-1) as string
  assert.match(URL, /^postgres(ql)?:\/\//, `start-citus.sh printed ${out}`)
  admin = new pg.Pool({ connectionString: URL, max: 3, application_name: 'brx-citus-test' })
  await admin.query('DROP TABLE IF EXISTS user_inventory_items, catalog_snapshots, sync_runs, brx_migrations CASCADE; DROP SCHEMA IF EXISTS brx_staging CASCADE')
  const migrate = execFileSync(process.execPath, [CLI, 'migrate', '--citus', '--database-url', URL], { encoding: 'utf8' })
  assert.match(migrate, /distributed user_inventory_items by user_id/)
  engine = createEngine({ databaseUrl: URL, mapping: { source: 'none' }, logger: pino({ level: 'silent' }), partitionBytes: [4096, 65536, 1 << 20][seed % 3] })
  console.log(`# citus cluster up and migrated in ${Math.round(performance.now() - t0)} ms (${URL}), seed ${seed}`)
})

after(async () => {
  if (engine !== undefined) await closeEngine(engine)
  await admin?.end()
  removeTmp()
})

test('migrate --citus distributes user_inventory_items by user_id; the bookkeeping tables stay local', { skip: SKIP }, async () => {
  const { rows } = await db().query<{ name: string, type: string, col: string | null }>(
    "SELECT table_name::text AS name, citus_table_type AS type, distribution_column AS col FROM citus_tables ORDER BY 1")
  assert.deepEqual(rows, [{ name: 'user_inventory_items', type: 'distributed', col: 'user_id' }])
  const pk = await db().query<{ def: string }>("SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'user_inventory_items'::regclass AND contype = 'p'")
  assert.equal(pk.rows[0].def, 'PRIMARY KEY (user_id, id)')
  const workers = await db().query<{ n: number }>('SELECT count(DISTINCT nodeport)::int AS n FROM citus_shards WHERE table_name = \'user_inventory_items\'::regclass')
  assert.equal(workers.rows[0].n, 2, 'the shards are spread over both workers')
  // A second run changes nothing.
  const again = execFileSync(process.execPath, [CLI, 'migrate', '--citus', '--database-url', URL], { encoding: 'utf8' })
  assert.match(again, /schema up to date/)
})

// Runs on plain PostgreSQL (the suite's DATABASE_URL), with or without BRX_TEST_CITUS.
test('migrate --citus on a database without the citus extension fails with BRX_ERR_CITUS_LAYOUT', async () => {
  await assert.rejects(migrate({ databaseUrl: DATABASE_URL, citus: true }), (err: any) => {
    assert.equal(err.code, 'BRX_ERR_CITUS_LAYOUT')
    assert.match(err.message, /citus extension is not installed/)
    return true
  })
})

const csvFile = (rows: string[]): string => {
  const f = tmpPath('snapshots.csv')
  fs.writeFileSync(f, ['variant_id,sku,product_name,price,currency,stock,attributes', ...rows].join('\n') + '\n')
  return f
}

test('a dataset of its own on Citus: migrate --citus --dataset distributes it by its scope column; a reference table is refused', { skip: SKIP, timeout: 60_000 }, async () => {
  const out = execFileSync(process.execPath, [CLI, 'migrate', '--citus', '--dataset', 'catalog-snapshots', '--database-url', URL], { encoding: 'utf8' })
  assert.match(out, /distributed catalog_snapshots by csv_upload_id/)
  const scope = { csv_upload_id: 4242 }
  const rows = Array.from({ length: 3000 }, (_, i) => `v${i},s${i},Product ${i},${(i % 90) + 1}.50,EUR,${i % 7},`)
  const first = await (engine as Engine).sync({ input: csvFile(rows), dataset: 'catalog-snapshots', scope })
  assert.equal(first.rows.inserted, 3000)
  // A re-sync (under 1 MiB: the light path) with the engine diff.
  const changed = rows.filter((_, i) => i % 10 !== 0).map((r, i) => i % 20 === 0 ? r.replace(',EUR,', ',USD,') : r)
  const second = await (engine as Engine).sync({ input: csvFile([...changed, 'new1,n1,New,1.00,EUR,1,']), dataset: 'catalog-snapshots', scope, mode: 'mirror', diff: 'engine' })
  assert.deepEqual([second.rows.inserted, second.rows.updated, second.rows.deleted, second.diff], [1, 135, 300, 'engine'])
  const n = await db().query<{ n: number }>('SELECT count(*)::int AS n FROM catalog_snapshots WHERE csv_upload_id = 4242')
  assert.equal(n.rows[0].n, 2701)
  // The same table as a reference table: the engine refuses it before anything is written.
  await db().query('DROP TABLE catalog_snapshots')
  execFileSync(process.execPath, [CLI, 'migrate', '--dataset', 'catalog-snapshots', '--database-url', URL], { encoding: 'utf8' })
  await db().query("SELECT create_reference_table('catalog_snapshots')")
  const fresh = createEngine({ databaseUrl: URL, mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  try {
    await assert.rejects(fresh.sync({ input: csvFile(rows.slice(0, 5)), dataset: 'catalog-snapshots', scope }), (err: any) => {
      assert.equal(err.code, 'BRX_ERR_CITUS_LAYOUT')
      assert.match(err.message, /reference table/)
      return true
    })
  } finally {
    await closeEngine(fresh)
  }
  assert.equal((await db().query<{ n: number }>('SELECT count(*)::int AS n FROM catalog_snapshots')).rows[0].n, 0)
})

test('a dataset with derived columns on Citus: small syncs (the light path) store the derived values', { skip: SKIP, timeout: 60_000 }, async () => {
  const spec = {
    name: 'citus-derived', table: 'citus_derived_lines',
    scope: [{ name: 'shop_id', type: 'int8' }], key: ['line_id'],
    columns: [{ name: 'line_id', type: 'int8', nullable: false }, { name: 'qty', type: 'int4', nullable: false }, { name: 'price', type: 'int4', nullable: false }],
    derived: [{ name: 'total', type: 'int8', arithmetic: { op: '*', args: ['qty', 'price'] } }],
  }
  const specFile = tmpPath('derived.json')
  fs.writeFileSync(specFile, JSON.stringify(spec))
  await db().query('DROP TABLE IF EXISTS citus_derived_lines')
  execFileSync(process.execPath, [CLI, 'migrate', '--citus', '--dataset', specFile, '--database-url', URL], { encoding: 'utf8' })
  const scope = { shop_id: 77 }
  const lines = (n: number, bump: number): string => {
    const f = tmpPath('derived.ndjson')
    fs.writeFileSync(f, Array.from({ length: n }, (_, i) => JSON.stringify({ line_id: i, qty: 1 + (i % 5), price: 10 + i + (i % 3 === 0 ? bump : 0) })).join('\n') + '\n')
    return f
  }
  const want = async (n: number, bump: number): Promise<void> => {
    const { rows } = await db().query<{ line_id: string, total: string }>('SELECT line_id, total FROM citus_derived_lines WHERE shop_id = 77 ORDER BY line_id')
    assert.equal(rows.length, n)
    for (const r of rows) {
      const i = Number(r.line_id)
      assert.equal(Number(r.total), (1 + (i % 5)) * (10 + i + (i % 3 === 0 ? bump : 0)), `line ${i}`)
    }
  }
  const first = await (engine as Engine).sync({ input: lines(200, 0), dataset: spec as any, scope })
  assert.equal(first.rows.inserted, 200)
  await want(200, 0)
  // A re-sync and an upsert, both small (the light path over coordinator TEMP staging + brx_src).
  const second = await (engine as Engine).sync({ input: lines(150, 5), dataset: spec as any, scope, mode: 'mirror' })
  assert.deepEqual([second.rows.updated, second.rows.deleted, second.rows.inserted], [50, 50, 0])
  await want(150, 5)
  const third = await (engine as Engine).sync({ input: lines(160, 7), dataset: spec as any, scope, mode: 'upsert' })
  assert.deepEqual([third.rows.updated, third.rows.inserted], [50, 10])
  await want(160, 7)
  // Leave the cluster's table list as the other tests expect it.
  await db().query('DROP TABLE citus_derived_lines')
})

// ---------------------------------------------------------------------------
// Against the reference model
// ---------------------------------------------------------------------------

const COUNT_KEYS = ['read', 'valid', 'rejected', 'duplicates', 'unmapped', 'excluded', 'written', 'inserted', 'updated', 'unchanged', 'deleted'] as const

function diffTables (got: Map<string, Row>, want: Map<string, Row>): string[] {
  const out: string[] = []
  const onlyDb = [...got.keys()].filter(k => !want.has(k))
  const onlyModel = [...want.keys()].filter(k => !got.has(k))
  if (onlyDb.length > 0) out.push(`${onlyDb.length} rows in the table but not in the model, e.g. ${onlyDb.slice(0, 3).join(' ; ')}`)
  if (onlyModel.length > 0) out.push(`${onlyModel.length} rows in the model but not in the table, e.g. ${onlyModel.slice(0, 3).join(' ; ')}`)
  let differ = 0
  for (const [k, m] of want) {
    const d = got.get(k)
    if (d === undefined) continue
    const cols = COMPARED.filter(c => d[c] !== m[c])
    if (cols.length > 0 && differ++ < 3) out.push(`row ${k} differs in ${cols.join(', ')}`)
  }
  return out
}

interface Plan { user: string, texts: string[], mode: 'mirror' | 'upsert', format: 'json' | 'ndjson', diff: 'engine' | 'database', opts?: Record<string, unknown> }

/** One sync through the shared engine, checked against the model: rows, counts, rejects, diff, other users untouched. */
async function syncAndCheck (state: State, p: Plan, watch: string[], label: string): Promise<ApplyResult> {
  const expected = applyExport(state, p.user, parseElements(p.texts), p.mode, p.opts)
  const others = await Promise.all(watch.map(async u => [u, await snapshotUser(db(), u)] as const))
  const before = await snapshotUser(db(), p.user)
  const file = writeExport(p.texts, { format: p.format })
  const rejectsFile = tmpPath('rejects.ndjson')
  let report: any
  let error: any
  try {
    report = await (engine as Engine).sync({ input: file.path, userId: p.user, mode: p.mode, rejectsFile, diff: p.diff, ...toldFormat(p.format, p.texts), ...p.opts })
  } catch (err) { error = err }
  const problems: string[] = []
  if (expected.error !== undefined) {
    if (error?.code !== expected.error) problems.push(`expected ${expected.error}, got ${error === undefined ? 'success' : `${String(error.code)}: ${String(error.message)}`}`)
    if (canonicalJson(await snapshotUser(db(), p.user)) !== canonicalJson(before)) problems.push('a refused sync changed the rows')
  } else if (error !== undefined) {
    problems.push(`the sync failed: ${String(error.code)}: ${String(error.message)}`)
  } else {
    const wrong = COUNT_KEYS.filter(k => report.rows[k] !== expected.counts[k])
    if (wrong.length > 0) problems.push(`report.rows differ: ${wrong.map(k => `${k} ${report.rows[k] as number} (model ${expected.counts[k]})`).join(', ')}`)
    problems.push(...identityViolations(report.rows))
    const wantDiff = p.diff === 'engine' && before.length > 0 ? 'engine' : 'database'
    if (report.diff !== wantDiff) problems.push(`report.diff is ${String(report.diff)}, expected ${wantDiff}`)
    problems.push(...diffTables(await readUserRows(db(), p.user), state.get(p.user) ?? new Map()))
    const rejects = readNdjson(rejectsFile) as Array<{ row: number, reason: string }>
    const got = rejects.map(r => `${r.row}:${r.reason}`).sort().join(',')
    const want = expected.rejects.map(r => `${r.row}:${r.reason}`).sort().join(',')
    if (got !== want) problems.push(`rejects ${rejects.length} lines differ from the model's ${expected.rejects.length}`)
  }
  for (const [u, snap] of others) {
    if (canonicalJson(await snapshotUser(db(), u)) !== canonicalJson(snap)) problems.push(`syncing ${p.user} changed the rows of ${u}`)
  }
  if (problems.length > 0) throw new Error(`${label} (${p.mode}, ${p.texts.length} records, seed ${seed}):\n  - ${problems.join('\n  - ')}`)
  return expected
}

const evolve = (rng: Prng, catalog: Map<string, Product>): void => { evolveCatalog(rng, catalog, [0, 0.02, 0.1, 0.5], 300) }

test(`randomized first syncs, re-syncs, mirror deletes, upserts and rejects on Citus match the reference model (seed ${seed})`, { skip: SKIP, timeout: 180_000 }, async (t) => {
  const rng = new Prng(seed)
  const state: State = new Map()
  const users = [randomUUID(), randomUUID(), randomUUID()]
  const catalogs = new Map(users.map(u => [u, new Map<string, Product>()]))
  const shared = Array.from({ length: 80 }, () => randomProduct(rng, freshId(rng)))
  for (const [i, u] of users.entries()) {
    const c = catalogs.get(u) as Map<string, Product>
    for (const p of shared) if (rng.chance(0.6)) c.set(productKey(p), rng.chance(0.5) ? changeProduct(rng, p) : p)
    // One small inventory (what takes the light path on plain PostgreSQL), the others larger.
    for (let n = i === 0 ? rng.int(20, 120) : rng.int(1500, 4000); n > 0; n--) {
      const p = randomProduct(rng, freshId(rng))
      c.set(productKey(p), p)
    }
  }
  const guarded = new Set<string>()
  let syncs = 0
  for (let round = 0; round < 4; round++) {
    for (const u of rng.shuffle([...users])) {
      const catalog = catalogs.get(u) as Map<string, Product>
      if (round > 0) evolve(rng, catalog)
      const format = rng.chance(0.6) ? 'json' as const : 'ndjson' as const
      const texts = renderExport(rng, rng.shuffle([...catalog.values()]), { oneLine: format === 'ndjson', rejectRate: rng.pick([0, 0.03, 0.1]), dupRate: rng.pick([0, 0.03]) })
      const p: Plan = { user: u, texts, format, mode: round === 0 || rng.chance(0.65) ? 'mirror' : 'upsert', diff: rng.chance(0.5) ? 'engine' : 'database' }
      if (guarded.has(u)) p.opts = { allowMassDelete: true }
      const label = `round ${round} user ${users.indexOf(u)}`
      const res = await syncAndCheck(state, p, users.filter(x => x !== u), label)
      if (res.error !== undefined) guarded.add(u); else guarded.delete(u)
      syncs++
      t.diagnostic(`${label} ${p.mode} ${p.format} diff=${p.diff}: ${res.error ?? JSON.stringify(res.counts)}`)
    }
  }
  assert.ok(syncs >= 12)
})

/** Shard ids handed out so far: a sync that creates a distributed staging table takes 32 more. */
async function shardIds (): Promise<string> {
  return (await db().query<{ v: string }>('SELECT last_value::text AS v FROM pg_dist_shardid_seq')).rows[0].v
}

test('small inputs take the light path on Citus (coordinator TEMP staging, no distributed DDL) and equal the model', { skip: SKIP, timeout: 60_000 }, async () => {
  const user = randomUUID()
  const state: State = new Map()
  const v1 = simpleProducts(120, 1)
  const v2 = [...simpleProducts(100, 1, i => i % 7 === 0 ? { quantity: 50 + i, price_cents: 9 } : {}), ...simpleProducts(15, 500)]
  const v3 = simpleProducts(30, 480, i => ({ name_en: `renamed ${i}` }))
  const shards0 = await shardIds()
  for (const [i, [records, mode]] of ([[v1, 'mirror'], [v2, 'mirror'], [v3, 'upsert'], [v2, 'mirror'], [v1, 'mirror'], [v3, 'upsert']] as const).entries()) {
    await syncAndCheck(state, { user, texts: records.map(r => JSON.stringify(r)), format: 'json', mode, diff: i % 2 === 0 ? 'database' : 'engine' }, [], `light sync ${i}`)
  }
  assert.equal(await shardIds(), shards0, 'no staging table was distributed: every sync took the light path')
  // insert-new: existing keys untouched, new ones inserted.
  const before = await snapshotUser(db(), user)
  const rep = await (engine as Engine).sync({ input: writeJson([...simpleProducts(10, 1, () => ({ quantity: 999 })), ...simpleProducts(5, 900)]), userId: user, mode: 'insert-new' })
  assert.deepEqual([rep.rows.inserted, rep.rows.existing, rep.rows.updated, rep.rows.deleted], [5, 10, 0, 0])
  const after = await snapshotUser(db(), user)
  assert.equal(after.length, before.length + 5)
  assert.deepEqual(after.filter(r => before.includes(r)).length, before.length, 'existing rows are untouched (xmin and values)')
  assert.equal(await shardIds(), shards0)
})

// ---------------------------------------------------------------------------
// Staging on the cluster
// ---------------------------------------------------------------------------

test('a re-sync stages into a distributed table co-located with the target, dropped at COMMIT', { skip: SKIP, timeout: 60_000 }, async () => {
  const user = randomUUID()
  const A = writeProducts({ products: 3000, seed: seed ^ 0x11 }, 'coloc-a')
  const B = writeProducts({ products: 3000, seed: seed ^ 0x11, change: 0.1, add: 0.02, remove: 0.02 }, 'coloc-b')
  await (engine as Engine).sync({ input: A.path, userId: user })
  // The re-sync reads a stream held open halfway: its staging exists and is being written.
  const bytes = fs.readFileSync(B.path)
  const input = new PassThrough()
  input.write(bytes.subarray(0, bytes.length >> 1))
  const sync = (engine as Engine).sync({ input, userId: user })
  sync.catch(() => {})
  const staging = await waitFor('the staging table', async () => {
    const { rows } = await db().query<{ t: string }>("SELECT staging_table AS t FROM sync_runs WHERE scope->>'user_id' = $1 AND status = 'running'", [user])
    return rows[0] !== undefined && await tableExists(db(), rows[0].t) ? rows[0].t : undefined
  }, 20_000, 20)
  const { rows } = await db().query<{ rel: string, method: string, col: string, coloc: boolean }>(
    `SELECT p.logicalrelid::text AS rel, p.partmethod AS method, column_to_column_name(p.logicalrelid, p.partkey) AS col,
            p.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'user_inventory_items'::regclass) AS coloc
       FROM pg_dist_partition p WHERE p.logicalrelid = to_regclass($1)`, [staging])
  input.end(bytes.subarray(bytes.length >> 1))
  const report = await sync
  assert.deepEqual(rows, [{ rel: staging, method: 'h', col: 'user_id', coloc: true }], `staging ${staging} is hash-distributed by user_id in the target's co-location group`)
  assert.equal(report.status, 'succeeded')
  assert.deepEqual(await stateHash(db(), user), await expectedHash(B.records), 'the re-sync equals the new export')
  assert.equal(await tableExists(db(), staging), false, 'staging is dropped by the merge transaction')
  const shards = await db().query<{ n: number }>("SELECT count(*)::int AS n FROM pg_dist_shard WHERE logicalrelid::text LIKE 'brx_staging.%'")
  assert.equal(shards.rows[0].n, 0, 'no staging shard metadata is left')
})

test('a dry run changes nothing; a changes file lists exactly the committed changes', { skip: SKIP, timeout: 60_000 }, async () => {
  const user = randomUUID()
  const A = writeProducts({ products: 2000, seed: seed ^ 0x44 }, 'changes-a')
  const B = writeProducts({ products: 2000, seed: seed ^ 0x44, change: 0.1, add: 0.03, remove: 0.03 }, 'changes-b')
  await (engine as Engine).sync({ input: A.path, userId: user })
  const before = await snapshotUser(db(), user)
  const dry = await (engine as Engine).sync({ input: B.path, userId: user, dryRun: true })
  assert.equal(dry.dryRun, true)
  assert.ok(dry.rows.updated > 0 && dry.rows.inserted > 0 && dry.rows.deleted > 0)
  assert.deepEqual(await snapshotUser(db(), user), before, 'the dry run rolled back')
  const changesFile = tmpPath('changes.ndjson')
  const rep = await (engine as Engine).sync({ input: B.path, userId: user, changesFile })
  assert.deepEqual([rep.rows.inserted, rep.rows.updated, rep.rows.deleted], [dry.rows.inserted, dry.rows.updated, dry.rows.deleted], 'the dry run predicted the sync')
  const lines = readNdjson(changesFile) as Array<{ op: string }>
  const count = (op: string): number => lines.filter(l => l.op === op).length
  assert.deepEqual([count('insert'), count('update'), count('delete')], [rep.rows.inserted, rep.rows.updated, rep.rows.deleted])
  assert.deepEqual(await stateHash(db(), user), await expectedHash(B.records))
})

/** The hash of what a mirror sync of `records` leaves, from a plain one-user sync on the cluster (checked against the model elsewhere). */
async function expectedHash (records: unknown[]): Promise<{ n: number, hash: string }> {
  const ref = randomUUID()
  await (engine as Engine).sync({ input: writeJsonFile(records), userId: ref })
  const h = await stateHash(db(), ref)
  await db().query('DELETE FROM user_inventory_items WHERE user_id = $1', [ref])
  return h
}

function writeJsonFile (records: unknown[]): string {
  const f = tmpPath('records.json')
  fs.writeFileSync(f, JSON.stringify(records))
  return f
}

/** Users whose rows live on different workers. */
async function usersOnDifferentWorkers (): Promise<[string, string]> {
  const port = async (u: string): Promise<number> => (await db().query<{ p: number }>(
    "SELECT nodeport AS p FROM citus_shards WHERE shardid = get_shard_id_for_distribution_column('user_inventory_items', $1::uuid)", [u])).rows[0].p
  const a = randomUUID()
  const pa = await port(a)
  for (;;) {
    const b = randomUUID()
    if (await port(b) !== pa) return [a, b]
  }
}

test('two sellers on different workers sync at once; each equals the model, neither touches the other', { skip: SKIP, timeout: 90_000 }, async () => {
  const [a, b] = await usersOnDifferentWorkers()
  const rng = new Prng(seed ^ 0x2222)
  const state: State = new Map()
  const catalogs = [a, b].map(() => {
    const c = new Map<string, Product>()
    for (let n = 4000; n > 0; n--) { const p = randomProduct(rng, freshId(rng)); c.set(productKey(p), p) }
    return c
  })
  const plans = (round: number): Plan[] => [a, b].map((u, i) => {
    if (round > 0) {
      for (const [k, p] of [...catalogs[i]]) { if (rng.chance(0.05)) catalogs[i].delete(k); else if (rng.chance(0.1)) catalogs[i].set(k, changeProduct(rng, p)) }
      for (let n = 200; n > 0; n--) { const p = randomProduct(rng, freshId(rng)); catalogs[i].set(productKey(p), p) }
    }
    return { user: u, texts: renderExport(rng, [...catalogs[i].values()], { rejectRate: 0.02, dupRate: 0.02 }), format: 'json', mode: 'mirror', diff: (i + round) % 2 === 0 ? 'engine' : 'database' }
  })
  for (let round = 0; round < 2; round++) {
    const [pa, pb] = plans(round)
    await Promise.all([syncAndCheck(state, pa, [], `round ${round} seller A`), syncAndCheck(state, pb, [], `round ${round} seller B`)])
  }
  const runs = [...await runsOf(db(), a), ...await runsOf(db(), b)]
  assert.equal(runs.length, 4)
  assert.ok(runs.every(r => r.status === 'succeeded'))
  // The last round's two runs overlapped in time: they really ran at once.
  const [ra, rb] = [(await runsOf(db(), a)).at(-1), (await runsOf(db(), b)).at(-1)] as [any, any]
  assert.ok(ra.started_at < rb.finished_at && rb.started_at < ra.finished_at, 'the two syncs overlapped')
})

// ---------------------------------------------------------------------------
// SIGKILL mid-merge
// ---------------------------------------------------------------------------

test(`SIGKILL of a CLI sync mid-merge leaves the old or the new inventory (seed ${seed})`, { skip: SKIP, timeout: 150_000 }, async () => {
  const rng = new Prng(seed ^ 0x3333)
  const n = 10_000
  const s = rng.int(1, 1_000_000)
  const A = writeProducts({ products: n, seed: s }, 'kill-old')
  const B = writeProducts({ products: n, seed: s, change: 0.3, add: 0.03, remove: 0.03 }, 'kill-new')
  const user = randomUUID()
  await (engine as Engine).sync({ input: A.path, userId: user })
  const hashes = new Map([[A.path, await stateHash(db(), user)], [B.path, await expectedHash(B.records)]])
  assert.notEqual(hashes.get(A.path)?.hash, hashes.get(B.path)?.hash)
  const points = rng.shuffle(['classify', 'update', 'insert', 'delete', 'succeed'])
  const seen: string[] = []
  let current = A
  const holder = await db().connect()
  try {
  for (const [i, point] of points.entries()) {
    const target = current === A ? B : A
    const tag = `citus-kill-${i}`
    const app = appName(tag)
    // Every other kill runs the engine diff.
    // A merge statement on 10k rows can end between two polls, and so can every one after it (CI once
    // saw a child commit before its delete was seen): lock a row the statement must touch, so that it
    // waits visibly until the kill. A classify kill holds an update row, its next statement.
    const hold = point === 'succeed' ? undefined : point === 'classify' ? 'update' : point as 'update' | 'insert' | 'delete'
    if (hold !== undefined) await blockStatement(holder, user, hold, current.records, target.records)
    const child = spawnCli(['sync', '--input', target.path, '--user', user, '--no-mapping', '--database-url', tagged(tag), '--log-level', 'warn', '--diff', i % 2 === 0 ? 'engine' : 'database'])
    let exited = false
    void child.exited.then(() => { exited = true })
    const order = ['classify', 'update', 'insert', 'delete', 'succeed']
    const seenAt = await waitFor(`the merge's ${point}`, async () => {
      if (exited) throw new Error(`the child exited before its ${point}`)
      const ph = (await backends(db(), app)).filter(b => b.state === 'active').map(b => phaseOf(b.query))
      // A statement too quick to see: the next one will do.
      // 'succeed' is held below: any merge statement will do.
      return point === 'succeed' ? ph.find(p => order.includes(p)) : ph.find(p => order.indexOf(p) >= order.indexOf(point))
    }, 60_000, 2)
    const at = point === 'succeed' ? 'succeed' : seenAt
    if (point === 'succeed') {
      // Too quick to see: hold the run's row, so the sync's last statement before COMMIT (marking
      // the run succeeded) waits on it, and kill the child while it waits.
      const run = await waitFor('the run row', async () => (await runsOf(db(), user)).find(r => r.pid === child.child.pid && r.status === 'running'), 20_000, 2)
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM sync_runs WHERE id = $1 FOR UPDATE', [run.id])
      await waitFor('the run row update to wait', async () => (await backends(db(), app)).some(b => phaseOf(b.query) === 'succeed' && b.wait_event_type === 'Lock') ? true : undefined, 60_000, 2)
    } else if (rng.chance(0.5)) await sleep(rng.int(0, 5))
    child.child.kill('SIGKILL')
    await holder.query('ROLLBACK')
    const exit = await child.exited
    assert.equal(exit.signal, 'SIGKILL', `kill #${i}: the child was killed (${exit.stderr})`)
    await waitFor('the killed backends to end', async () => (await backends(db(), app)).length === 0 ? true : undefined, 20_000, 10)
    const h = await stateHash(db(), user)
    const old = hashes.get(current.path) as { hash: string }
    const neu = hashes.get(target.path) as { hash: string }
    assert.ok(h.hash === old.hash || h.hash === neu.hash, `kill #${i} at ${at}: the ${h.n} rows are neither the old nor the new inventory`)
    const killed = (await runsOf(db(), user)).filter(r => r.pid === child.child.pid).at(-1)
    assert.equal(h.hash === neu.hash, killed?.status === 'succeeded', `kill #${i} at ${at}: data and run row commit together`)
    // Killed during classify, update or insert (the delete, the run row, the staging DROP and COMMIT still
    // to come), or while its run-row update waited: before COMMIT.
    if (['classify', 'update', 'insert', 'succeed'].includes(at)) assert.equal(h.hash, old.hash, `kill #${i} at ${at}: killed inside the merge, the old inventory remains`)
    // No transaction is left prepared on any node (2PC finished or rolled back).
    const prepared = await db().query<{ n: number }>("SELECT (SELECT count(*) FROM pg_prepared_xacts)::int + coalesce((SELECT sum(c)::int FROM (SELECT (run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts')).result::int AS c) x), 0) AS n")
    assert.equal(prepared.rows[0].n, 0, `kill #${i}: no prepared transaction left on the cluster`)
    seen.push(`${point}@${at}${h.hash === neu.hash ? '(committed)' : ''}`)
    const rerun = await (engine as Engine).sync({ input: target.path, userId: user, lockTimeoutMs: 30_000 })
    assert.equal(rerun.status, 'succeeded')
    assert.deepEqual(await stateHash(db(), user), hashes.get(target.path), `kill #${i}: the rerun converges`)
    if (killed !== undefined) {
      const k = (await runsOf(db(), user)).find(r => r.id === killed.id)
      if (killed.status === 'running') assert.equal(k?.error_code, 'BRX_ERR_ABANDONED', `kill #${i}: the killed run is marked abandoned`)
      if (k?.staging_table != null) assert.equal(await tableExists(db(), k.staging_table), false, `kill #${i}: its staging is dropped`)
    }
    current = target
  }
  } finally {
    holder.release()
  }
  console.log(`# citus kills survived: ${seen.join(', ')}`)
})
