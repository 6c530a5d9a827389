import type { Readable } from 'node:stream'
import type pg from 'pg'
import type * as copyStreams from 'pg-copy-streams'
import type { Logger } from 'pino'
import { cancelledError } from '../errors'

/**
 * The one place brx-sync creates PostgreSQL connections: the engine's pool,
 * checked-out clients and the one-off cancel connection. Each gets its
 * 'error' listener the moment it exists: a pg Client emits 'error' when its
 * server goes away between queries (a restart sends 57P01 to every session),
 * and an 'error' with no listener is an uncaught exception that takes the
 * host process down. (The failure itself surfaces at the client's next
 * query, or the statement in flight fails with it.)
 *
 * A listener added after `await pool.connect()` is too late: pg-pool removes
 * its idle listener when it hands a client out, synchronously, from inside
 * the parser's dispatch of the connection's ReadyForQuery; whoever awaited
 * pool.connect() can only attach one a microtask later, while the parser
 * goes on, synchronously, with the rest of the same TCP read, which during
 * a restart holds the 57P01. So the listener is attached on the pool's
 * 'connect' event (emitted before the idle listener is removed) and stays
 * for the client's life.
 */

const swallow = (): void => {}

export interface OpenPoolOptions {
  /** The host's pool to adopt (given the same listeners), or null to create the engine's own. */
  pool: pg.Pool | null
  connectionString: string | undefined
  max: number
  logger: Logger
  applicationName?: string
  /** Bound on opening a connection (a frozen or unreachable server), ms; 0 = none. */
  connectTimeoutMs: number
  /** Client-side bound on one statement's answer (a frozen server cannot run statement_timeout), ms; 0 = none. */
  queryTimeoutMs: number
}

/**
 * pg and pg-copy-streams are required on first use, not on import: the worker
 * threads import this module through the engine diff (src/diff/read) but
 * never connect, and loading pg cost each worker ~130 ms of CPU at start.
 */
const pgDriver = (): typeof pg => require('pg') as typeof pg
const copyTo = (sql: string): ReturnType<typeof copyStreams.to> => (require('pg-copy-streams') as typeof copyStreams).to(sql)

// The connect bound of each pool we created, for the cancel connection opened beside it.
const connectBounds = new WeakMap<pg.Pool, number>()

/** The engine's pool, or the host's pool adopted: the pool and every client it creates or holds have 'error' listeners. */
export function openPool (o: OpenPoolOptions): pg.Pool {
  if (o.pool !== null) return guardPool(o.pool, o.logger)
  const connectTimeoutMs = o.connectTimeoutMs
  const pg = pgDriver()
  // The bound goes on the client, not the pool: pg-pool's connectionTimeoutMillis also bounds the
  // wait for a free pooled client, which concurrent syncs of one engine legitimately do for long.
  class BoundedClient extends pg.Client {
    constructor (config?: pg.ClientConfig) { super({ ...config, connectionTimeoutMillis: connectTimeoutMs }) }
  }
  const pool = new pg.Pool({
    connectionString: o.connectionString,
    max: o.max,
    application_name: o.applicationName ?? 'brx-sync',
    Client: BoundedClient as unknown as new () => pg.ClientBase,
    query_timeout: o.queryTimeoutMs > 0 ? o.queryTimeoutMs : undefined,
    // Detects a peer host that vanished (not a stopped process: its kernel still answers).
    keepAlive: true,
  })
  connectBounds.set(pool, connectTimeoutMs)
  return guardPool(pool, o.logger)
}

const GUARDED = Symbol('brx-sync guarded')
type Guardable = { [GUARDED]?: true }

/**
 * Gives a pool (ours, or the host's) and all its clients 'error' listeners:
 * future clients on 'connect', clients already open now. Idempotent.
 */
export function guardPool (pool: pg.Pool, logger: Logger): pg.Pool {
  if ((pool as Guardable)[GUARDED] === true) return pool
  ;(pool as Guardable)[GUARDED] = true
  // An idle client's failure (pg-pool removes it and re-emits here).
  pool.on('error', err => logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'))
  pool.on('connect', client => guardClient(client))
  for (const c of (pool as unknown as { _clients?: pg.Client[] })._clients ?? []) guardClient(c)
  return pool
}

/** A listener for a client's whole life; its errors surface at its next (or current) query. */
function guardClient<T extends pg.ClientBase> (client: T): T {
  if ((client as Guardable)[GUARDED] === true) return client
  ;(client as Guardable)[GUARDED] = true
  client.on('error', swallow)
  return client
}

/**
 * A pooled client, abortable while waiting for one: a client that arrives
 * after the abort goes straight back. Clients of a guarded pool already have
 * their listener; guarding again covers a host pool's client created before
 * the engine adopted the pool.
 */
export async function checkout (pool: pg.Pool, signal?: AbortSignal): Promise<pg.PoolClient> {
  if (signal === undefined) return guardClient(await pool.connect())
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
      resolve(guardClient(c))
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
 * with the pool's settings and connect bound, guarded before it connects.
 */
export async function cancelBackend (pool: pg.Pool, client: pg.PoolClient): Promise<void> {
  const pid = (client as unknown as { processID?: number }).processID
  if (pid === undefined) return
  const bound = connectBounds.get(pool)
  const c = guardClient(new (pgDriver().Client)({
    ...pool.options,
    application_name: 'brx-sync-cancel',
    ...(bound !== undefined ? { connectionTimeoutMillis: bound } : {}),
  }))
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

/**
 * `COPY … TO STDOUT` as a stream. pg arms a `query_timeout` timer for every
 * query and clears it only through the query's callback, which pg-copy-streams'
 * COPY TO never calls (COPY FROM does): left alone, each COPY TO keeps a timer
 * that holds the process open for `pgQueryTimeoutMs` and then fails a finished
 * query. Calling the callback once the stream ends or fails clears it.
 */
export function copyOut (client: pg.ClientBase, sql: string): Readable {
  const stream = client.query(copyTo(sql))
  const settle = (err?: Error): void => { (stream as unknown as { callback?: (e?: Error) => void }).callback?.(err) }
  stream.once('end', () => settle())
  stream.once('error', settle)
  return stream
}
