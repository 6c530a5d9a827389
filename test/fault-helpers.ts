/**
 * Fault injection for the reliability tests: a tagged connection string so a
 * test finds *its* sync's backends in pg_stat_activity (other test files may
 * run syncs against the same database), a hash of a user's rows computed by
 * PostgreSQL, the sync_runs rows of a user, the CLI as a child process, and
 * bounded waiting. Everything talks to the real server; nothing is mocked.
 */
import { engineInternals, type Engine } from '../src/engine'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import pino from 'pino'
import { guardPool } from '../src/db/connections'
import { generateProducts, type GenerateOptions } from '../tools/generate'
import { applyExport, keyOf, sameValues, type Row } from './model'
import { tmpPath } from './helpers'

export const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** The CLI entry point (dist/src/cli/main.js). */
export const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js')

/**
 * The engine names its connections 'brx-sync'; a connection string's own
 * application_name wins over the pool's, so `brx-sync:<tag>@<run>` marks the
 * backends of one test's engine or child process.
 */
export function taggedUrl (tag: string): string {
  return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${encodeURIComponent(appName(tag))}`
}

// pg_stat_activity and pg_terminate_backend see the whole cluster, and the cluster is shared: other
// worktrees (other databases) and parallel test files run the same tests with the same tags at the
// same time. A tag alone found, and terminated, another process's backend while this test's sync
// went on and succeeded. The token makes the name this process's own.
const RUN_TOKEN = randomUUID().slice(0, 8)

export function appName (tag: string): string {
  // application_name is cut at 63 bytes; a longer one would never match in pg_stat_activity.
  const name = `brx-sync:${tag}@${RUN_TOKEN}`
  if (Buffer.byteLength(name) > 63) throw new Error(`test tag too long for application_name: ${tag}`)
  return name
}

export function adminPool (max = 4): pg.Pool {
  // Idle and checked-out admin connections dying (terminations, restarts) is not the test's subject.
  return guardPool(new pg.Pool({ connectionString: PG_URL, max, application_name: 'brx-reliability-admin' }), pino({ level: 'silent' }))
}

export interface StateHash { n: number, hash: string }

/** Every compared column of every row of a user, hashed by PostgreSQL in key order (byte order). */
export async function stateHash (db: pg.Pool | pg.ClientBase, userId: string): Promise<StateHash> {
  const { rows } = await db.query<{ n: number, hash: string }>(`
    SELECT count(*)::int AS n,
           md5(coalesce(string_agg(concat_ws(E'\\x1f', blueprint_id, external_stock_id, coalesce(print_id::text, '~'), coalesce(print_table, '~'),
             coalesce(name_en, '~'), quantity, price_cents, coalesce(price_currency, '~'), properties::text, coalesce(description, '~'),
             coalesce(user_data_field, '~'), coalesce(graded::text, '~'), coalesce(tag, '~'), coalesce(game_id::text, '~'), coalesce(expansion_code, '~')),
             E'\\x1e' ORDER BY blueprint_id, external_stock_id COLLATE "C"), '')) AS hash
      FROM user_inventory_items WHERE user_id = $1`, [userId])
  return rows[0]
}

/** The scalar columns of a user's rows, hashed by PostgreSQL in a form the model can reproduce. */
export async function scalarHashDb (db: pg.Pool | pg.ClientBase, userId: string): Promise<StateHash> {
  const { rows } = await db.query<{ n: number, hash: string }>(`
    SELECT count(*)::int AS n,
           md5(coalesce(string_agg(concat_ws('|', blueprint_id, external_stock_id, quantity, price_cents, coalesce(price_currency, '~'),
             coalesce(name_en, '~'), coalesce(graded::text, '~'), coalesce(game_id::text, '~'), coalesce(expansion_code, '~'), coalesce(tag, '~'),
             coalesce(user_data_field, '~'), coalesce(description, '~')), E'\\n' ORDER BY blueprint_id, external_stock_id COLLATE "C"), '')) AS hash
      FROM user_inventory_items WHERE user_id = $1`, [userId])
  return rows[0]
}

/** The same hash over the model's rows. */
export function scalarHashModel (rows: Iterable<Row>): StateHash {
  const list = [...rows].sort((a, b) => a.blueprint_id - b.blueprint_id || (a.external_stock_id < b.external_stock_id ? -1 : a.external_stock_id > b.external_stock_id ? 1 : 0))
  const t = (v: unknown): string => v === null ? '~' : typeof v === 'boolean' ? String(v) : String(v)
  const text = list.map(r => [r.blueprint_id, r.external_stock_id, r.quantity, r.price_cents, t(r.price_currency), t(r.name_en), t(r.graded),
    t(r.game_id), t(r.expansion_code), t(r.tag), t(r.user_data_field), t(r.description)].join('|')).join('\n')
  return { n: list.length, hash: createHash('md5').update(text, 'utf8').digest('hex') }
}

/** What a mirror sync of `records` into an empty scope leaves, according to the reference model. */
export function modelMirror (records: readonly unknown[]): Map<string, Row> {
  const state = new Map<string, Map<string, Row>>()
  applyExport(state, 'u', records, 'mirror', { allowMassDelete: true })
  return state.get('u') ?? new Map()
}

export interface RunRow {
  id: string
  status: string
  error_code: string | null
  error_message: string | null
  staging_table: string | null
  pid: number | null
  started_at: Date
  finished_at: Date | null
  report: any
}

export async function runsOf (db: pg.Pool | pg.ClientBase, userId: string): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>(
    "SELECT id, status, error_code, error_message, staging_table, pid, started_at, finished_at, report FROM sync_runs WHERE scope = jsonb_build_object('user_id', $1::text) ORDER BY started_at, id",
    [userId])
  return rows
}

export async function runById (db: pg.Pool | pg.ClientBase, id: string): Promise<RunRow | undefined> {
  const { rows } = await db.query<RunRow>('SELECT id, status, error_code, error_message, staging_table, pid, started_at, finished_at, report FROM sync_runs WHERE id = $1', [id])
  return rows[0]
}

export async function tableExists (db: pg.Pool | pg.ClientBase, name: string): Promise<boolean> {
  const { rows } = await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name])
  return rows[0].t !== null
}

/** brx_staging tables of the given runs that still exist. */
export async function leftoverStaging (db: pg.Pool | pg.ClientBase, runs: RunRow[]): Promise<string[]> {
  const out: string[] = []
  for (const r of runs) if (r.staging_table !== null && await tableExists(db, r.staging_table)) out.push(r.staging_table)
  return out
}

export interface Backend { pid: number, state: string | null, query: string, wait_event_type: string | null, xact: boolean }

export async function backends (db: pg.Pool | pg.ClientBase, app: string): Promise<Backend[]> {
  const { rows } = await db.query<Backend>(
    'SELECT pid, state, query, wait_event_type, xact_start IS NOT NULL AS xact FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [app])
  return rows
}

/** The statement a sync is in, by its SQL text. */
export function phaseOf (q: string): 'copy' | 'analyze' | 'classify' | 'update' | 'insert' | 'delete' | 'succeed' | 'other' {
  if (q.startsWith('COPY ')) return 'copy'
  if (q.startsWith('ANALYZE brx_staging')) return 'analyze'
  if (q.startsWith('CREATE TEMP TABLE brx_diff')) return 'classify'
  if (q.startsWith('UPDATE "user_inventory_items"')) return 'update'
  if (q.startsWith('INSERT INTO "user_inventory_items"')) return 'insert'
  if (q.startsWith('DELETE FROM "user_inventory_items"')) return 'delete'
  if (q.startsWith("UPDATE sync_runs SET status = 'succeeded'")) return 'succeed'
  return 'other'
}

export const MERGE_PHASES = new Set(['analyze', 'classify', 'update', 'insert', 'delete'])

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T> (what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Rejects if `p` has not settled within `ms`: a hang is a failure, not a stuck test run. */
export async function within<T> (ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms) })
  try {
    return await Promise.race([p, t])
  } finally {
    clearTimeout(timer)
  }
}

/** Settles a sync into its report or its error, measuring when it settled. */
export async function settle<T> (p: Promise<T>): Promise<{ ok: true, value: T, at: number } | { ok: false, error: any, at: number }> {
  try {
    const value = await p
    return { ok: true, value, at: performance.now() }
  } catch (error) {
    return { ok: false, error, at: performance.now() }
  }
}

export interface Exited { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

export interface Child { child: ChildProcess, exited: Promise<Exited> }

/** `node dist/src/cli/main.js ...args` with its output collected. */
export function spawnCli (args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = new Promise<Exited>(resolve => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, exited }
}

/**
 * Collects errors that reach process 'uncaughtException' while `fn` runs.
 * Outside node:test such an error kills the host process (and every other
 * sync in it), so the reliability tests treat one as a failure.
 */
export async function catchUncaught<T> (fn: () => Promise<T>): Promise<{ value: T, uncaught: Error[] }> {
  const uncaught: Error[] = []
  const on = (err: Error): void => { uncaught.push(err) }
  process.on('uncaughtException', on)
  try {
    return { value: await fn(), uncaught }
  } finally {
    // Late 'error' events of destroyed clients arrive on the next ticks.
    await sleep(50)
    process.off('uncaughtException', on)
  }
}

/** A deterministic CardTrader export written to a temp file (json array). */
export function writeProducts (o: GenerateOptions, name = 'export', transform?: (p: Record<string, unknown>, i: number) => Record<string, unknown> | null): { path: string, records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = []
  let i = 0
  for (const p of generateProducts(o)) {
    const q = transform === undefined ? p : transform(p, i)
    i++
    if (q !== null) records.push(q)
  }
  const file = tmpPath(`${name}.json`)
  fs.writeFileSync(file, '[\n' + records.map(r => JSON.stringify(r)).join(',\n') + '\n]\n')
  return { path: file, records }
}

/** A small export of plain, valid products (ids id0..id0+n-1). */
export function simpleProducts (n: number, id0 = 1, extra: (i: number) => Record<string, unknown> = () => ({})): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({
    id: id0 + i,
    blueprint_id: 1000 + ((id0 + i) % 97),
    name_en: `Card ${id0 + i}`,
    quantity: 1 + (i % 5),
    price_cents: 100 + i,
    price_currency: 'EUR',
    properties_hash: { condition: 'Near Mint', mtg_foil: i % 2 === 0 },
    graded: false,
    game_id: 1,
    expansion: { id: 5, code: 'KHM', name_en: 'Kaldheim' },
    ...extra(i),
  }))
}

export function writeJson (records: unknown[], name = 'export'): string {
  const file = tmpPath(`${name}.json`)
  fs.writeFileSync(file, JSON.stringify(records))
  return file
}

export function writeBytes (bytes: Buffer | string, name: string): string {
  const file = tmpPath(name)
  fs.writeFileSync(file, bytes)
  return file
}

export function ms (t0: number): number {
  return Math.round(performance.now() - t0)
}

/**
 * engine.close(), bounded: a sync that hangs holds a pooled client forever and pool.end() would
 * wait for it, keeping the test process alive. After `ms` the remaining sockets are destroyed.
 */
export async function closeEngine (engine: Engine, ms = 10_000): Promise<void> {
  try {
    await within(ms, 'engine.close()', engine.close())
  } catch {
    for (const c of ((engineInternals(engine).pool as unknown as { _clients?: pg.Client[] })._clients ?? [])) {
      (c as unknown as { connection?: { stream?: { destroy: () => void } } }).connection?.stream?.destroy()
    }
    console.log('# engine.close() hung (a sync never released its connection); its sockets were destroyed')
  }
}

/**
 * Makes a merge statement of `user`'s sync (old export -> new export) wait on a lock held by
 * `holder` (inside a transaction the caller ends): a changed row locked for update (UPDATE), a
 * removed row locked (DELETE), an uncommitted row with a key the new export adds (INSERT).
 */
export async function blockStatement (holder: pg.ClientBase, user: string, stmt: 'update' | 'insert' | 'delete', oldRecords: unknown[], newRecords: unknown[]): Promise<void> {
  const a = modelMirror(oldRecords)
  const b = modelMirror(newRecords)
  const row = stmt === 'update'
    ? [...b.values()].find(r => a.has(keyOf(r)) && !sameValues(a.get(keyOf(r)) as Row, r))
    : stmt === 'delete' ? [...a.values()].find(r => !b.has(keyOf(r))) : [...b.values()].find(r => !a.has(keyOf(r)))
  if (row === undefined) throw new Error(`the exports have no row to ${stmt}`)
  await holder.query('BEGIN')
  if (stmt === 'insert') {
    await holder.query('INSERT INTO user_inventory_items (user_id, blueprint_id, external_stock_id, quantity, price_cents) VALUES ($1, $2, $3, 1, 1)', [user, row.blueprint_id, row.external_stock_id])
  } else {
    const { rowCount } = await holder.query('SELECT 1 FROM user_inventory_items WHERE user_id = $1 AND blueprint_id = $2 AND external_stock_id = $3 FOR UPDATE', [user, row.blueprint_id, row.external_stock_id])
    if (rowCount !== 1) throw new Error(`the row to ${stmt} is not there`)
  }
}

const created: string[] = []

/** A fresh random user id, remembered so that `forgetUsers` can remove its rows afterwards. */
export function newUser (): string {
  const u = randomUUID()
  created.push(u)
  return u
}

/** Deletes the rows and sync_runs of every user made by `newUser` in this process (the database is shared). */
export async function forgetUsers (db: pg.Pool): Promise<void> {
  const users = created.splice(0)
  if (users.length === 0) return
  await db.query('DELETE FROM user_inventory_items WHERE user_id = ANY($1::uuid[])', [users])
  await db.query("DELETE FROM sync_runs WHERE scope->>'user_id' = ANY($1::text[])", [users])
}
