import type pg from 'pg'
import { checkout, hasRoom } from '../db/connections'
import { CopyWriter } from './copy-writer'
import { DirectSink, StagingSink } from './sinks'

export interface WriterPlan {
  pool: pg.Pool
  poolMax: number
  /** The sync's clients; [0] is the control connection. Extra writers' clients are appended. */
  clients: pg.PoolClient[]
  copySql: string
  wanted: number
  signal?: AbortSignal
}

/** First sync of a scope: one COPY straight into the target, on the control connection, inside its transaction. */
export async function openDirectSink (control: pg.PoolClient, directCopySql: string, runId: string): Promise<DirectSink> {
  await control.query('BEGIN')
  return new DirectSink(new CopyWriter(control, directCopySql), runId)
}

/**
 * A small input: its staging is a TEMP table of the merge transaction, opened
 * here, written by the control connection alone. `inTransaction` runs once
 * the transaction is open, before the COPY starts (the run's row).
 */
export async function openLightSink (control: pg.PoolClient, createTempSql: string, copySql: string, inTransaction: () => Promise<void>): Promise<StagingSink> {
  await control.query(`BEGIN; ${createTempSql}`)
  await inTransaction()
  return new StagingSink([new CopyWriter(control, copySql)])
}

/** The control connection writes; more writers only when the pool has room (never wait for one while holding one). */
export async function openStagingSink (plan: WriterPlan): Promise<StagingSink> {
  const writers = [new CopyWriter(plan.clients[0], plan.copySql)]
  try {
    for (let i = 1; i < plan.wanted && hasRoom(plan.pool, plan.poolMax); i++) {
      const c = await checkout(plan.pool, plan.signal)
      plan.clients.push(c)
      writers.push(new CopyWriter(c, plan.copySql))
    }
  } catch (err) {
    for (const w of writers) w.abort(err as Error)
    throw err
  }
  return new StagingSink(writers)
}
