import pg from 'pg'
import type { Logger } from 'pino'

/**
 * Where every PostgreSQL connection brx-sync uses gets its 'error' listener,
 * from the moment it exists: a pg Client emits 'error' when its server goes
 * away between queries (a restart sends 57P01 to every session), and an
 * 'error' with no listener is an uncaught exception that takes the host
 * process down.
 *
 * pg-pool is not enough on its own: it removes its idle listener when it
 * hands a client out, synchronously, from inside the parser's dispatch of the
 * connection's ReadyForQuery; whoever awaited pool.connect() can only attach
 * a listener a microtask later, while the parser goes on, synchronously, with
 * the rest of the same TCP read — which, during a restart, holds the 57P01.
 * So the listener is attached here, on the pool's 'connect' event (emitted
 * before the idle listener is removed), and stays for the client's life. The
 * failure is not lost: the client is unqueryable and its next query, or the
 * statement in flight, fails with it.
 */
export interface PgConnectionOptions {
  connectionString?: string
  max: number
  applicationName: string
  /** Bound on opening a connection (a frozen or unreachable server), ms; 0 = none. */
  connectTimeoutMs: number
  /** Client-side bound on one statement's answer (a frozen server cannot run statement_timeout), ms; 0 = none. */
  queryTimeoutMs: number
}

/** A pg.Pool whose every client has an 'error' listener from its creation; the pool itself too. */
export function createPgPool (o: PgConnectionOptions, logger: Logger): pg.Pool {
  const connectTimeoutMs = o.connectTimeoutMs
  // The bound goes on the client, not the pool: pg-pool's connectionTimeoutMillis also bounds the
  // wait for a free pooled client, which concurrent syncs of one engine legitimately do for long.
  class BoundedClient extends pg.Client {
    constructor (config?: pg.ClientConfig) { super({ ...config, connectionTimeoutMillis: connectTimeoutMs }) }
  }
  const pool = new pg.Pool({
    connectionString: o.connectionString,
    max: o.max,
    application_name: o.applicationName,
    Client: BoundedClient as unknown as new () => pg.ClientBase,
    query_timeout: o.queryTimeoutMs > 0 ? o.queryTimeoutMs : undefined,
    // Detects a peer host that vanished (not a stopped process: its kernel still answers).
    keepAlive: true,
  })
  return guardPool(pool, logger)
}

/**
 * Gives a pool (ours, or the host's) and all its clients 'error' listeners:
 * future clients on 'connect', clients already open now.
 */
export function guardPool (pool: pg.Pool, logger: Logger): pg.Pool {
  if ((pool as { [GUARDED]?: true })[GUARDED] === true) return pool
  ;(pool as { [GUARDED]?: true })[GUARDED] = true
  // An idle client's failure (pg-pool removes it and re-emits here).
  pool.on('error', err => logger.warn({ err: err.message }, 'idle PostgreSQL connection failed'))
  pool.on('connect', client => guardClient(client))
  for (const c of (pool as unknown as { _clients?: pg.Client[] })._clients ?? []) guardClient(c)
  return pool
}

const GUARDED = Symbol('brx-sync guarded')

/** A listener for a client's whole life; its errors surface at its next (or current) query. */
export function guardClient<T extends pg.ClientBase> (client: T): T {
  if ((client as { [GUARDED]?: true })[GUARDED] === true) return client
  ;(client as { [GUARDED]?: true })[GUARDED] = true
  client.on('error', () => {})
  return client
}

/** A one-off client (e.g. to cancel a backend while the pool is saturated), guarded before it connects. */
export function newClient (config: pg.ClientConfig): pg.Client {
  return guardClient(new pg.Client(config))
}
