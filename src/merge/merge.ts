import fs from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { SyncMode } from '../dataset/types'
import { SyncError, cancelledError } from '../errors'
import type { MergeSql } from './sql'
import type { ChangeSql } from './changes-sql'
import { sampleChanges, type ChangesFile, type GuardVerdict, type Preview } from './changes'

/**
 * Change capture for a dry run and the changes file. Absent: the merge runs
 * exactly its plain statements (no capture cost).
 */
export interface MergeCapture {
  sql: ChangeSql
  /** Run every statement, report, then ROLLBACK (the run is recorded afterwards, outside the transaction). */
  dryRun: boolean
  /** Written before COMMIT to a temporary name, renamed after it. */
  changes?: ChangesFile
}

export interface MergeInput {
  sql: MergeSql
  scopeValues: Array<string | number>
  mode: SyncMode
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
  /** Staging is a TEMP table of the transaction already open (a small sync): no BEGIN, nothing to drop. */
  inTransaction?: boolean
  capture?: MergeCapture
  /** Engine diff: staging holds only new and changed rows; see src/diff. Never with capture or derived columns. */
  engineDiff?: EngineDiffInput
}

export interface EngineDiffInput {
  /** Rows left out of staging as equal to their existing row. */
  skipped: number
  /** Of those, rows whose key came again later in the input (duplicates). */
  repeatedSkipped: number
  /** Mirror: binary COPY of the keys of existing rows absent from the input. */
  gone: Buffer | null
  /** Rows the scope had when it was read, and how many of them are gone. */
  scopeRows: number
  goneRows: number
}

/**
 * Engine diff: when the rows to change are at most this share of the scope,
 * the update and the gone-keys delete probe the target's unique key once per
 * row (nested loop over the index) instead of hashing the whole scope: at
 * 250k rows with 12.5k updates and 2.5k gone, 235 ms instead of 364 for the
 * UPDATE and 25 ms instead of 131 for the DELETE. Above it, a scan of the
 * scope is the cheaper plan.
 */
export const LOOKUP_SHARE = 0.2

export interface MergeCounts {
  duplicates: number
  inserted: number
  updated: number
  unchanged: number
  deleted: number
  /** insert-new: staged keys already in the target, left exactly as they were. */
  existing: number
  fastPath: boolean
  /** Milliseconds per merge statement, for the log. */
  steps: Record<string, number>
  /** Dry run only: the guard's verdict and samples of each kind of change. */
  preview?: Preview
}

function checkAbort (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw cancelledError('during the merge; nothing was committed')
}

interface Finish { beforeCommit: (c: MergeCounts) => Promise<void>, signal?: AbortSignal, capture?: MergeCapture }

/**
 * Records the run (inside the transaction), drops staging if any, writes the
 * changes file's temporary copy, and commits — unless cancelled meanwhile.
 * A dry run instead samples the changes and rolls back; the run is then
 * recorded and staging dropped outside the transaction.
 */
async function commit (client: pg.ClientBase, m: Finish, counts: MergeCounts, dropStagingSql?: string): Promise<void> {
  checkAbort(m.signal)
  const cap = m.capture
  if (cap?.dryRun === true) {
    counts.preview = { ...(counts.preview as Preview), samples: await sampleChanges(client, cap.sql) }
    await client.query('ROLLBACK')
    if (dropStagingSql !== undefined) await client.query(dropStagingSql)
    await m.beforeCommit(counts)
    return
  }
  await m.beforeCommit(counts)
  if (dropStagingSql !== undefined) await client.query(dropStagingSql)
  if (cap?.changes !== undefined) await cap.changes.write(client, cap.sql)
  checkAbort(m.signal)
  await client.query('COMMIT')
}

/** After a failure inside the transaction. */
async function rollback (client: pg.ClientBase, capture: MergeCapture | undefined): Promise<void> {
  capture?.changes?.discard()
  await client.query('ROLLBACK').catch(() => {})
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
export async function runMerge (client: pg.ClientBase, m: MergeInput, dropStagingSql?: string): Promise<MergeCounts> {
  // Capture reads staging for every row and for deletes; the engine diff stages only changes (see src/diff/when.ts).
  if (m.engineDiff !== undefined && (m.capture !== undefined || m.sql.derive !== null)) throw new Error('runMerge: the engine diff with change capture or derived columns')
  if (m.inTransaction !== true) await client.query('BEGIN')
  let counts: MergeCounts
  try {
    const small = m.staged <= SMALL_MERGE_ROWS
    await setLocals(client, m.statementTimeoutMs, m.workMem, small, m.sql.citus)
    // The engine diff's classify is a forced key lookup per staged row: its plan carries
    // enable_nestloop's penalty cost, which would otherwise wake the JIT (0.16 s of compiling).
    if (m.engineDiff !== undefined) await client.query('SET LOCAL jit = off')
    const cap = m.capture
    if (cap !== undefined) await client.query(cap.sql.table)
    const steps: Record<string, number> = {}
    let duplicates = m.maybeDuplicates ? await timed(steps, 'dedup', async () => await client.query(m.sql.dedup), m.signal) : 0
    const written = m.staged - duplicates
    // Fresh statistics inside the transaction: the anti-joins below are hash joins only if the
    // planner knows how many rows staging holds (see README, "The merge"). A small staging
    // table needs none: see SMALL_MERGE_ROWS.
    if (!small) await timed(steps, 'analyze', async () => await client.query(m.sql.analyze), m.signal)
    if (m.sql.derive !== null) await timed(steps, 'derive', async () => await client.query(m.sql.derive as string), m.signal)
    // The engine diff runs only when it read rows of the scope.
    const has = m.engineDiff !== undefined || (await client.query<{ has: boolean }>(m.sql.scopeHasRows, m.scopeValues)).rows[0].has
    let inserted = 0; let updated = 0; let deleted = 0; let existing = 0
    if (!has) {
      inserted = await timed(steps, 'insert', async () => await client.query(cap?.sql.insert(m.sql.insertAll) ?? m.sql.insertAll, m.scopeValues), m.signal)
    } else if (m.mode === 'insert-new') {
      inserted = await timed(steps, 'insert', async () => await client.query(cap?.sql.insert(m.sql.insertNew) ?? m.sql.insertNew, m.scopeValues), m.signal)
      existing = written - inserted
    } else {
      ({ inserted, updated, deleted } = await mergeIntoScope(client, m, steps))
    }
    // Engine diff: rows left out of staging were unchanged, but for those whose key came again (duplicates).
    const skipped = m.engineDiff !== undefined ? m.engineDiff.skipped - m.engineDiff.repeatedSkipped : 0
    if (m.engineDiff !== undefined) duplicates += m.engineDiff.repeatedSkipped
    const unchanged = written - inserted - updated - existing + skipped
    const before = updated + unchanged + deleted
    const guard: GuardVerdict = { wouldRefuse: deleted > 0 && !m.allowMassDelete && deleted > m.maxDeleteRatio * before, deleted, existing: before, maxDeleteRatio: m.maxDeleteRatio, allowMassDelete: m.allowMassDelete }
    // A dry run reports the verdict; a real sync stops on it.
    if (guard.wouldRefuse && cap?.dryRun !== true) {
      throw new SyncError('BRX_ERR_WIPE_GUARD',
        `Mirror mode would delete ${deleted} of the scope's ${before} rows (${(100 * deleted / before).toFixed(1)}%), more than maxDeleteRatio ${m.maxDeleteRatio}; nothing was changed. Check the export, or pass allowMassDelete.`)
    }
    counts = { duplicates, inserted, updated, unchanged, deleted, existing, fastPath: !has, steps }
    if (cap?.dryRun === true) counts.preview = { dryRun: true, guard, samples: { inserted: [], updated: [], deleted: [] } }
    await commit(client, m, counts, dropStagingSql)
  } catch (err) {
    await rollback(client, m.capture)
    throw err
  }
  m.capture?.changes?.publish()
  return counts
}

/** Mirror or upsert into a scope that has rows: classify, update the changed, insert the new, delete the absent (mirror). */
async function mergeIntoScope (client: pg.ClientBase, m: MergeInput, steps: Record<string, number>): Promise<{ inserted: number, updated: number, deleted: number }> {
  const cap = m.capture
  await timed(steps, 'classify', async () => await client.query(m.engineDiff !== undefined ? m.sql.classifyLookup : m.sql.classify, m.scopeValues), m.signal)
  // After the classify: the dedup before it joins staging with itself, where a nested loop would be quadratic.
  const e = m.engineDiff
  if (e !== undefined && !m.sql.citus && m.staged + e.goneRows <= LOOKUP_SHARE * e.scopeRows) {
    await client.query('SET LOCAL enable_nestloop = on; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off')
  }
  // Old values exist only before the UPDATE.
  if (cap !== undefined) await timed(steps, 'capture', async () => await client.query(cap.sql.captureUpdates, m.scopeValues), m.signal)
  const updated = await timed(steps, 'update', async () => await client.query(m.sql.update, m.scopeValues), m.signal)
  const inserted = await timed(steps, 'insert', async () => await client.query(cap?.sql.insert(m.sql.insert) ?? m.sql.insert, m.scopeValues), m.signal)
  let deleted = 0
  if (m.mode === 'mirror') {
    deleted = m.engineDiff !== undefined
      ? await deleteGone(client, m, steps)
      : await timed(steps, 'delete', async () => await client.query(cap?.sql.delete(m.sql.delete) ?? m.sql.delete, m.scopeValues), m.signal)
  }
  return { inserted, updated, deleted }
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
  capture?: MergeCapture
}

/**
 * Completes a first sync whose rows were COPYed straight into the target in
 * the open transaction: applies the spilled later occurrences last-wins
 * (a spilled row whose key was not copied — a hash collision — is inserted),
 * records the run, and commits.
 */
export async function finishDirect (client: pg.ClientBase, m: DirectInput): Promise<MergeCounts> {
  let counts: MergeCounts
  try {
    await setLocals(client, m.statementTimeoutMs, m.workMem, false, m.sql.citus)
    let lateInserted = 0
    if (m.spilled > 0) {
      checkAbort(m.signal)
      await client.query(m.sql.lateTable)
      await pipeline(fs.createReadStream(m.spillPath), client.query(copyFrom(m.sql.lateCopy)))
      await client.query(m.sql.lateUpdate, m.scopeValues)
      lateInserted = (await client.query(m.sql.lateInsert, m.scopeValues)).rowCount ?? 0
    }
    counts = { duplicates: m.spilled - lateInserted, inserted: m.copied + lateInserted, updated: 0, unchanged: 0, deleted: 0, existing: 0, fastPath: true, steps: {} }
    const cap = m.capture
    if (cap !== undefined) {
      // The scope was empty when the transaction began (checked under the scope lock): all its rows are new.
      await client.query(cap.sql.table)
      await client.query(cap.sql.captureScopeInserts, m.scopeValues)
      if (cap.dryRun) counts.preview = { dryRun: true, guard: { wouldRefuse: false, deleted: 0, existing: 0, maxDeleteRatio: 0, allowMassDelete: false }, samples: { inserted: [], updated: [], deleted: [] } }
    }
    await commit(client, m, counts)
  } catch (err) {
    await rollback(client, m.capture)
    throw err
  }
  m.capture?.changes?.publish()
  return counts
}

/**
 * Both values are validated options (an integer; a size matching /^\d+\s*(kB|MB|GB)$/), never input data.
 *
 * Nested loops are off for the merge: its statistics for the scope are often stale (a user's
 * rows loaded since the last ANALYZE look like one row), and a nested-loop anti-join over
 * that estimate is quadratic — 20 s instead of 0.1 s for 25k rows, seen here. Every statement
 * joins whole scopes, so a hash or merge join is always the linear choice.
 */
export async function setLocals (client: pg.ClientBase, statementTimeoutMs: number, workMem: string, small = false, citus = false): Promise<void> {
  // One round trip: a small sync's fixed cost is mostly round trips.
  const sets = [`SET LOCAL work_mem = '${workMem}'`]
  // On Citus the shard queries are planned by the workers: the settings below go there too (the
  // scope's shard statistics are as stale on a worker as on one server).
  if (citus) sets.unshift("SET LOCAL citus.propagate_set_commands = 'local'")
  if (!small) sets.push('SET LOCAL enable_nestloop = off')
  if (statementTimeoutMs > 0) sets.push(`SET LOCAL statement_timeout = ${Math.floor(statementTimeoutMs)}`)
  await client.query(sets.join('; '))
}

/**
 * At most this many staged rows: no ANALYZE, nested loops allowed. The
 * quadratic plan that enable_nestloop = off prevents needs both sides large;
 * with a few hundred staged rows (whose count the planner reads from the
 * table's size even unanalyzed) the best plan is one index probe of the
 * target per staged row — a hash join would read the whole scope (for an
 * unscoped dataset, the whole table) on every small sync.
 */
export const SMALL_MERGE_ROWS = 1000
