/**
 * Blueprint mapping: CardTrader blueprint_id -> (print_id, kind).
 *
 * One resolver per engine, living on the main thread: its cache and its MySQL
 * pool are shared by every worker and every concurrent sync. A worker sends
 * the distinct blueprint ids of its partition; the main thread answers with a
 * Resolution aligned with them; the worker encodes.
 */

/** Aligned with the ids passed to resolve(). Fresh buffers: safe to transfer to a worker. */
export interface Resolution {
  printIds: Int32Array
  /** 0 = unmapped, else 1 + index into resolver.kinds. */
  kinds: Uint8Array
}

/** Counters a sync passes in and reports (summed over its resolve() calls). */
export interface MappingStats {
  cacheHits: number
  cacheMisses: number
  /** Catalog queries sent (one per table per resolve, more when an IN-list is chunked). */
  roundTrips: number
  rowsFetched: number
  /** Milliseconds spent inside resolve(), summed over calls. */
  lookupMs: number
}

export interface BlueprintResolver {
  readonly source: 'none' | 'file' | 'mysql'
  /** Kind labels in priority order (distinct; two tables may share one). */
  readonly kinds: string[]
  /** excluded[k] = 1 when kind code k (1 + index into kinds) is excluded; excluded[0] = 0. */
  readonly excluded: Uint8Array
  /** Fails fast, before anything is written, when the catalog cannot be read. */
  check: (signal?: AbortSignal) => Promise<void>
  resolve: (ids: Int32Array, stats: MappingStats, signal?: AbortSignal) => Promise<Resolution>
  /** Forgets what was cached (file: reloads on next use) so catalog changes become visible. */
  clearCache: () => void
  close: () => Promise<void>
  /** Connection pool use, for metrics (MySQL only; null before the first connection). */
  poolStats?: () => PoolStats | null
}

export interface PoolStats { total: number, idle: number, waiting: number }

export function newMappingStats (): MappingStats {
  return { cacheHits: 0, cacheMisses: 0, roundTrips: 0, rowsFetched: 0, lookupMs: 0 }
}
