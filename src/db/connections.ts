import pg from 'pg'
import type { Logger } from 'pino'
import { cancelledError } from '../errors'

/**
 * The one place brx-sync creates PostgreSQL connections: the engine's pool,
 * checked-out clients and the one-off cancel connection. Each gets its
 * 'error' listener the moment it exists: an idle or checked-out client whose
 * server goes away emits 'error', and without a listener that crashes the
 * host process. (The failure itself surfaces at the client's next query.)
 */

const swallow = (): void => {}

/** The engine's pool, or the host's pool adopted (given a listener too). */
export function openPool (opts: { pool: pg.Pool | null, connectionString: string | undefined, max: number, logger: Logger }): pg.Pool {
  const pool = opts.pool ?? new pg.Pool({ connectionString: opts.connectionString, max: opts.max, application_name: 'brx-sync' })
  pool.on('error', err => opts.logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'))
  return pool
}

function ready (client: pg.PoolClient): pg.PoolClient {
  if (client.listenerCount('error') === 0) client.on('error', swallow)
  return client
}

/** A pooled client, abortable while waiting for one: a client that arrives after the abort goes straight back. */
export async function checkout (pool: pg.Pool, signal?: AbortSignal): Promise<pg.PoolClient> {
  if (signal === undefined) return ready(await pool.connect())
  if (signal.aborted) throw cancelledError('while waiting for a connection', signal)
  const pending = pool.connect()
  return await new Promise<pg.PoolClient>((resolve, reject) => {
    const onAbort = (): void => {
      pending.then(c => c.release(), swallow)
      reject(cancelledError('while waiting for a connection', signal))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    pending.then(c => {
      signal.removeEventListener('abort', onAbort)
      if (signal.aborted) return // onAbort's own handler on `pending` gives the client back
      resolve(ready(c))
    }, err => {
      signal.removeEventListener('abort', onAbort)
      reject(err)
    })
  })
}

/** Whether one more client can be had without waiting (extra COPY writers never wait while holding one). */
export function hasRoom (pool: pg.Pool, max: number): boolean {
  return pool.idleCount > 0 || pool.totalCount < max
}

/**
 * Cancels the statement in flight on `client`. pg has no in-band cancel for a
 * busy connection, and the pool may be saturated: a connection of its own,
 * with the pool's settings.
 */
export async function cancelBackend (pool: pg.Pool, client: pg.PoolClient): Promise<void> {
  const pid = (client as unknown as { processID?: number }).processID
  if (pid === undefined) return
  const c = new pg.Client({ ...pool.options, application_name: 'brx-sync-cancel' })
  c.on('error', swallow)
  try {
    await c.connect()
    await c.query('SELECT pg_cancel_backend($1)', [pid])
  } catch { /* the statement ends anyway; the merge checks the signal between statements */ } finally {
    await c.end().catch(swallow)
  }
}

/** Gives clients back; a client that saw an error is discarded (its session may hold a lock or be mid-protocol). */
export function releaseAll (clients: pg.PoolClient[], discard: boolean): void {
  for (const c of clients.splice(0)) c.release(discard ? true : undefined)
}
