import fs from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { SyncError, cancelledError } from '../errors'
import type { MergeSql } from './sql'

export interface MergeInput {
  sql: MergeSql
  scopeValues: Array<string | number>
  mode: 'mirror' | 'upsert'
  /** Rows in staging before dedup. */
  staged: number
  /** The main thread saw a repeated key hash: run the exact dedup. */
  maybeDuplicates: boolean
  maxDeleteRatio: number
  allowMassDelete: boolean
  statementTimeoutMs: number
  workMem: string
  /** Runs inside the transaction just before COMMIT (records the run as succeeded). */
  beforeCommit: (counts: MergeCounts) => Promise<void>
  /** Checked between statements and before COMMIT: an abort between two statements must not commit. */
  signal?: AbortSignal
  /** Engine diff: staging holds only new and changed rows; see src/diff. */
  engineDiff?: EngineDiffInput
}

export interface EngineDiffInput {
  /** Rows left out of staging as equal to their existing row. */
  skipped: number
  /** Of those, rows whose key came again later in the input (duplicates). */
  repeatedSkipped: number
  /** Mirror: binary COPY of the keys of existing rows absent from the input. */
  gone: Buffer | null
}

export interface MergeCounts {
  duplicates: number
  inserted: number
  updated: number
  unchanged: number
  deleted: number
  fastPath: boolean
  /** Milliseconds per merge statement, for the log. */
  steps: Record<string, number>
}

function checkAbort (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw cancelledError('during the merge; nothing was committed')
}

/** Records the run (inside the transaction), drops staging if any, and commits — unless cancelled meanwhile. */
async function commit (client: pg.ClientBase, m: { beforeCommit: (c: MergeCounts) => Promise<void>, signal?: AbortSignal }, counts: MergeCounts, dropStagingSql?: string): Promise<void> {
  checkAbort(m.signal)
  await m.beforeCommit(counts)
  if (dropStagingSql !== undefined) await client.query(dropStagingSql)
  checkAbort(m.signal)
  await client.query('COMMIT')
}

/** Runs one statement (unless the sync was cancelled) and records how long it took under `name`. */
async function timed (steps: Record<string, number>, name: string, run: () => Promise<pg.QueryResult>, signal?: AbortSignal): Promise<number> {
  checkAbort(signal)
  const t = performance.now()
  const res = await run()
  steps[name] = Math.round(performance.now() - t)
  return res.rowCount ?? 0
}

/**
 * One transaction: readers see the old rows or the new ones, never a mix.
 * The staging table is dropped inside the same transaction, so a crash before
 * COMMIT leaves it for the next run to reap and a COMMIT leaves nothing.
 */
export async function runMerge (client: pg.ClientBase, m: MergeInput, dropStagingSql: string): Promise<MergeCounts> {
  await client.query('BEGIN')
  try {
    await setLocals(client, m.statementTimeoutMs, m.workMem)
    // The engine diff's classify is a forced key lookup per staged row: its plan carries
    // enable_nestloop's penalty cost, which would otherwise wake the JIT (0.16 s of compiling).
    if (m.engineDiff !== undefined) await client.query('SET LOCAL jit = off')
    const steps: Record<string, number> = {}
    let duplicates = m.maybeDuplicates ? await timed(steps, 'dedup', async () => await client.query(m.sql.dedup), m.signal) : 0
    const written = m.staged - duplicates
    // Fresh statistics inside the transaction: the anti-joins below are hash joins only if the
    // planner knows how many rows staging holds (see README, "The merge").
    await timed(steps, 'analyze', async () => await client.query(m.sql.analyze), m.signal)
    const has = m.engineDiff !== undefined || (await client.query<{ has: boolean }>(m.sql.scopeHasRows, m.scopeValues)).rows[0].has
    let inserted = 0; let updated = 0; let deleted = 0
    if (!has) {
      inserted = await timed(steps, 'insert', async () => await client.query(m.sql.insertAll, m.scopeValues), m.signal)
    } else {
      await timed(steps, 'classify', async () => await client.query(m.engineDiff !== undefined ? m.sql.classifyLookup : m.sql.classify, m.scopeValues), m.signal)
      updated = await timed(steps, 'update', async () => await client.query(m.sql.update, m.scopeValues), m.signal)
      inserted = await timed(steps, 'insert', async () => await client.query(m.sql.insert, m.scopeValues), m.signal)
      if (m.mode === 'mirror') deleted = m.engineDiff !== undefined ? await deleteGone(client, m, steps) : await timed(steps, 'delete', async () => await client.query(m.sql.delete, m.scopeValues), m.signal)
    }
    const skipped = m.engineDiff !== undefined ? m.engineDiff.skipped - m.engineDiff.repeatedSkipped : 0
    const unchanged = written - inserted - updated + skipped
    if (m.engineDiff !== undefined) duplicates += m.engineDiff.repeatedSkipped
    const existing = updated + unchanged + deleted
    if (deleted > 0 && !m.allowMassDelete && deleted > m.maxDeleteRatio * existing) {
      throw new SyncError('BRX_ERR_WIPE_GUARD',
        `Mirror mode would delete ${deleted} of the scope's ${existing} rows (${(100 * deleted / existing).toFixed(1)}%), more than maxDeleteRatio ${m.maxDeleteRatio}; nothing was changed. Check the export, or pass allowMassDelete.`)
    }
    const counts = { duplicates, inserted, updated, unchanged, deleted, fastPath: !has, steps }
    await commit(client, m, counts, dropStagingSql)
    return counts
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

/** Engine diff, mirror: the absent keys, copied into a temp table and deleted by key in the merge transaction. */
async function deleteGone (client: pg.ClientBase, m: MergeInput, steps: Record<string, number>): Promise<number> {
  const gone = m.engineDiff?.gone ?? null
  if (gone === null) return 0
  checkAbort(m.signal)
  const t = performance.now()
  await client.query(m.sql.goneTable)
  const copy = client.query(copyFrom(m.sql.goneCopy))
  await pipeline(Readable.from([gone]), copy)
  steps.gone = Math.round(performance.now() - t)
  return await timed(steps, 'delete', async () => await client.query(m.sql.goneDelete, m.scopeValues), m.signal)
}

export interface DirectInput {
  sql: MergeSql
  scopeValues: Array<string | number>
  /** Rows copied into the target (first occurrences of their keys). */
  copied: number
  /** Rows spilled as later occurrences of a key, and the file holding them. */
  spilled: number
  spillPath: string
  statementTimeoutMs: number
  workMem: string
  beforeCommit: (counts: MergeCounts) => Promise<void>
  signal?: AbortSignal
}

/**
 * Completes a first sync whose rows were COPYed straight into the target in
 * the open transaction: applies the spilled later occurrences last-wins
 * (a spilled row whose key was not copied — a hash collision — is inserted),
 * records the run, and commits.
 */
export async function finishDirect (client: pg.ClientBase, m: DirectInput): Promise<MergeCounts> {
  try {
    await setLocals(client, m.statementTimeoutMs, m.workMem)
    let lateInserted = 0
    if (m.spilled > 0) {
      checkAbort(m.signal)
      await client.query(m.sql.lateTable)
      await pipeline(fs.createReadStream(m.spillPath), client.query(copyFrom(m.sql.lateCopy)))
      await client.query(m.sql.lateUpdate, m.scopeValues)
      lateInserted = (await client.query(m.sql.lateInsert, m.scopeValues)).rowCount ?? 0
    }
    const counts: MergeCounts = { duplicates: m.spilled - lateInserted, inserted: m.copied + lateInserted, updated: 0, unchanged: 0, deleted: 0, fastPath: true, steps: {} }
    await commit(client, m, counts)
    return counts
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

/**
 * Both values are validated options (an integer; a size matching /^\d+\s*(kB|MB|GB)$/), never input data.
 *
 * Nested loops are off for the merge: its statistics for the scope are often stale (a user's
 * rows loaded since the last ANALYZE look like one row), and a nested-loop anti-join over
 * that estimate is quadratic — 20 s instead of 0.1 s for 25k rows, seen here. Every statement
 * joins whole scopes, so a hash or merge join is always the linear choice.
 */
export async function setLocals (client: pg.ClientBase, statementTimeoutMs: number, workMem: string): Promise<void> {
  await client.query(`SET LOCAL work_mem = '${workMem}'`)
  await client.query('SET LOCAL enable_nestloop = off')
  if (statementTimeoutMs > 0) await client.query(`SET LOCAL statement_timeout = ${Math.floor(statementTimeoutMs)}`)
}
