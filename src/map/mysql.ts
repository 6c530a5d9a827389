import { LRUCache } from 'lru-cache'
import type mysql from 'mysql2/promise'

/** mysql2 costs ~0.15 s to load: only a sync that maps through MySQL pays it. */
const mysqlDriver = (): typeof mysql => require('mysql2/promise') as typeof mysql
import type { Logger } from 'pino'
import { SyncError } from '../errors'
import { describeMysql, quoteMysqlIdent } from './config'
import type { MappingConfig } from './config'
import { Guard } from './guard'
import { catalogError } from './mysql-errors'
import { codeOf, pack, printIdOf } from './pack'
import type { BlueprintResolver, MappingStats, PoolStats, Resolution } from './types'

/** Ids per IN-list: keeps one statement well under max_allowed_packet and the optimizer happy. */
export const IN_CHUNK = 5000

/** Misses being fetched by one resolve(); concurrent resolves wait on it instead of asking again. */
interface Batch {
  found: Map<number, number>
  done: Promise<void>
}

/**
 * Resolves blueprints against the operator's MySQL catalog.
 *
 *   ids ──► LRU (hits, incl. cached "maps nowhere") ──► in-flight batches of other resolves
 *                                                  └──► misses: table 1 IN (…) → leftovers: table 2 IN (…) → …
 *
 * One pool per engine: connectionLimit = poolSize bounds MySQL connections
 * whatever the number of concurrent syncs; beyond it requests queue.
 */
export class MysqlResolver implements BlueprintResolver {
  readonly source = 'mysql' as const
  readonly kinds: string[]
  readonly excluded: Uint8Array
  private readonly where: string
  private readonly selects: string[]
  private readonly cache: LRUCache<number, number>
  private readonly inflight = new Map<number, Batch>()
  private pool?: mysql.Pool
  private generation = 0
  private closed = false

  constructor (private readonly cfg: MappingConfig, private readonly log?: Logger) {
    this.kinds = cfg.kinds
    this.excluded = cfg.excluded
    this.where = describeMysql(cfg.mysqlUrl as string)
    this.selects = cfg.tables.map((t, i) => {
      const at = `mapping.tables[${i}]`
      return `SELECT ${quoteMysqlIdent(t.externalColumn, at + '.externalColumn')}, ${quoteMysqlIdent(t.idColumn, at + '.idColumn')} ` +
        `FROM ${quoteMysqlIdent(t.table, at + '.table')} WHERE ${quoteMysqlIdent(t.externalColumn, at + '.externalColumn')} IN (`
    })
    this.cache = new LRUCache<number, number>({ max: cfg.cacheSize })
  }

  /** mysql2 exposes no counters: its (stable since 2.x) internal queues are read, never modified. */
  poolStats (): PoolStats | null {
    const core = (this.pool as unknown as { pool?: { _allConnections?: { length: number }, _freeConnections?: { length: number }, _connectionQueue?: { length: number } } } | undefined)?.pool
    if (core === undefined) return null
    return { total: core._allConnections?.length ?? 0, idle: core._freeConnections?.length ?? 0, waiting: core._connectionQueue?.length ?? 0 }
  }

  private getPool (): mysql.Pool {
    if (this.closed) throw new SyncError('BRX_ERR_CATALOG_UNAVAILABLE', `The blueprint resolver for ${this.where} is closed.`)
    if (this.pool !== undefined) return this.pool
    this.pool = mysqlDriver().createPool({
      uri: this.cfg.mysqlUrl,
      connectionLimit: this.cfg.poolSize,
      maxIdle: this.cfg.poolSize,
      queueLimit: 0,
      waitForConnections: true,
      connectTimeout: this.cfg.lookupTimeoutMs,
      enableKeepAlive: true,
    })
    // MariaDB (>= 10.3) rewrites an IN-list of 1,000+ constants as a semi-join
    // over a table value constructor; on a freshly loaded catalog its plan may
    // scan the whole index once per query (measured on a 60k-row table: 40-55 ms
    // per 5,000 ids, against ~15 ms as index range lookups; equal on an analyzed
    // 1M-row table). Plain range lookups never scan, so we keep them. The
    // variable does not exist on MySQL, where the error is ignored. Queued on
    // each new connection before its first query.
    this.pool.on('connection', (conn) => {
      // mysql2's own listener on a pool connection is a once('error'): a second error after a fatal one would be uncaught.
      conn.on('error', () => {})
      // The event hands over the callback-style core connection, whatever the typings say.
      const r = (conn as unknown as { query: (sql: string, cb: (err: unknown) => void) => unknown })
        .query('SET SESSION in_predicate_conversion_threshold = 0', () => {})
      if (r instanceof Promise) r.catch(() => {})
    })
    return this.pool
  }

  /** One statement on a pooled connection, bounded by the guard. A connection we gave up on is destroyed, not reused. */
  private async query (sql: string, values: unknown[], guard: Guard, table: string | undefined, rowsAsArray: boolean): Promise<unknown[]> {
    let conn: mysql.PoolConnection
    try {
      conn = await guard.race(this.getPool().getConnection(), c => c.release())
    } catch (e) {
      throw catalogError(e, this.where)
    }
    let reusable = false
    try {
      const [rows] = await guard.race(conn.query({ sql, values, rowsAsArray }))
      reusable = true
      return rows as unknown[]
    } catch (e) {
      reusable = e instanceof SyncError ? false : (e as { fatal?: boolean }).fatal !== true
      throw catalogError(e, this.where, table)
    } finally {
      if (reusable) conn.release()
      else conn.destroy()
    }
  }

  private timeout (what: string): () => SyncError {
    const ms = this.cfg.lookupTimeoutMs
    return () => new SyncError('BRX_ERR_CATALOG_TIMEOUT', `${what} at ${this.where} exceeded mapping.lookupTimeoutMs (${ms} ms).`, { option: 'mapping.lookupTimeoutMs' })
  }

  async check (signal?: AbortSignal): Promise<void> {
    const t0 = performance.now()
    const guard = new Guard(this.cfg.lookupTimeoutMs, this.timeout('The catalog check'), signal)
    try {
      for (const [i, t] of this.cfg.tables.entries()) {
        // LIMIT 0 proves the table and both columns exist without reading a row.
        await this.query(this.selects[i].replace(/ WHERE .*$/, ' LIMIT 0'), [], guard, t.table, true)
        const idx = await this.query(`SHOW INDEX FROM ${quoteMysqlIdent(t.table, 'table')}`, [], guard, t.table, false) as Array<{ Column_name?: string, Seq_in_index?: number }>
        if (!idx.some(r => r.Column_name === t.externalColumn && Number(r.Seq_in_index) === 1)) {
          this.log?.warn({ table: t.table, column: t.externalColumn }, 'catalog table has no index starting with its external column: every lookup scans the table')
        }
      }
    } finally {
      guard.dispose()
    }
    this.log?.debug({ where: this.where, tables: this.cfg.tables.length, ms: Math.round(performance.now() - t0) }, 'catalog check passed')
  }

  async resolve (ids: Int32Array, stats: MappingStats, signal?: AbortSignal): Promise<Resolution> {
    const t0 = performance.now()
    const n = ids.length
    const printIds = new Int32Array(n)
    const kinds = new Uint8Array(n)
    const guard = new Guard(this.cfg.lookupTimeoutMs, this.timeout(`The lookup of ${n} blueprints`), signal)
    try {
      guard.throwIfDone()
      this.getPool() // fails at once when closed
      let todo: ArrayLike<number> = { length: n }
      for (let round = 0; ; round++) {
        let own: Batch | undefined
        const misses: number[] = []
        const waitAt: number[] = []
        const waitOn: Batch[] = []
        for (let k = 0; k < todo.length; k++) {
          const i = round === 0 ? k : todo[k]
          const id = ids[i]
          const v = this.cache.get(id)
          if (v !== undefined) {
            if (v !== 0) { printIds[i] = printIdOf(v); kinds[i] = codeOf(v) }
            continue
          }
          let b = this.inflight.get(id)
          if (b === undefined) {
            b = own ??= { found: new Map(), done: Promise.resolve() }
            this.inflight.set(id, b)
            misses.push(id)
          }
          waitAt.push(i)
          waitOn.push(b)
        }
        if (round === 0) {
          stats.cacheHits += n - waitAt.length
          stats.cacheMisses += waitAt.length
        }
        if (waitAt.length === 0) break
        if (own !== undefined) own.done = this.fetch(own, misses, stats)
        const batches = [...new Set(waitOn)]
        const settled = await guard.race(Promise.allSettled(batches.map(b => b.done)))
        const failed = new Set<Batch>()
        for (const [j, r] of settled.entries()) {
          if (r.status === 'rejected') {
            if (batches[j] === own) throw r.reason
            failed.add(batches[j])
          }
        }
        // Another resolve's batch failed (its deadline, not ours): fetch those ids ourselves.
        const retry: number[] = []
        for (let k = 0; k < waitAt.length; k++) {
          const i = waitAt[k]
          if (failed.has(waitOn[k])) { retry.push(i); continue }
          const v = waitOn[k].found.get(ids[i])
          if (v !== undefined) { printIds[i] = printIdOf(v); kinds[i] = codeOf(v) }
        }
        if (retry.length === 0) break
        todo = retry
      }
      return { printIds, kinds }
    } finally {
      guard.dispose()
      stats.lookupMs += performance.now() - t0
    }
  }

  /**
   * Fetches one batch of misses, tables in priority order, only the ids not yet
   * found going on to the next table. It has its own deadline and ignores the
   * caller's AbortSignal: other resolves may be waiting on it, and finishing
   * it fills the cache.
   */
  private async fetch (batch: Batch, ids: number[], stats: MappingStats): Promise<void> {
    const guard = new Guard(this.cfg.lookupTimeoutMs, this.timeout(`The lookup of ${ids.length} blueprints`))
    const generation = this.generation
    const found = batch.found
    try {
      let remaining = ids
      for (const [ti, t] of this.cfg.tables.entries()) {
        if (remaining.length === 0) break
        const chunks: number[][] = []
        for (let s = 0; s < remaining.length; s += IN_CHUNK) chunks.push(remaining.slice(s, s + IN_CHUNK))
        stats.roundTrips += chunks.length
        const results = await Promise.all(chunks.map(c =>
          this.query(this.selects[ti] + '?,'.repeat(c.length - 1) + '?)', c, guard, t.table, true)))
        for (const rows of results as unknown[][][]) {
          stats.rowsFetched += rows.length
          for (const r of rows) {
            const ct = Number(r[0])
            const pid = Number(r[1])
            if (!(Number.isInteger(pid) && pid >= -2147483648 && pid <= 2147483647)) {
              throw new SyncError('BRX_ERR_CATALOG_UNAVAILABLE', `The catalog table ${t.table} at ${this.where} has ${t.idColumn} ${String(r[1])} for ${t.externalColumn} ${ct}, which does not fit a 32-bit print id.`, { table: t.table })
            }
            // Rows only come back for ids no earlier table had, so prev is from this table: smallest id wins.
            const prev = found.get(ct)
            if (prev === undefined || printIdOf(prev) > pid) found.set(ct, pack(t.kindCode, pid))
          }
        }
        remaining = remaining.filter(id => !found.has(id))
      }
      // A clearCache() during the fetch means the catalog changed: do not cache what may be stale.
      const fresh = generation === this.generation && !this.closed
      for (const id of ids) {
        if (fresh) this.cache.set(id, found.get(id) ?? 0)
        this.inflight.delete(id)
      }
    } catch (e) {
      for (const id of ids) this.inflight.delete(id)
      throw e
    } finally {
      guard.dispose()
    }
  }

  clearCache (): void {
    this.generation++
    this.cache.clear()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.cache.clear()
    const pool = this.pool
    this.pool = undefined
    await pool?.end()
  }
}
