import type { Logger } from 'pino'
import { SyncError } from '../errors'
import { cancelledError } from './guard'
import { catalogRows } from './catalog-file'
import type { MappingConfig } from './config'
import { codeOf, pack, printIdOf } from './pack'
import type { BlueprintResolver, MappingStats, Resolution } from './types'

/**
 * Loads a whole catalog file into one Map, once. Same rule as MySQL: tables in
 * configured order, first hit wins; within one table the smallest print id
 * wins; rows of tables not configured are ignored.
 */
export async function loadCatalog (file: string, cfg: Pick<MappingConfig, 'tables'>): Promise<{ map: Map<number, number>, rows: number, ignored: number }> {
  const rank = new Map(cfg.tables.map((t, i) => [t.table, i + 1]))
  // Values carry the table rank while loading (to compare priorities), the kind code after.
  const map = new Map<number, number>()
  let rows = 0
  let ignored = 0
  for await (const r of catalogRows(file)) {
    rows++
    const t = rank.get(r.table)
    if (t === undefined) { ignored++; continue }
    const prev = map.get(r.cardtraderId)
    if (prev === undefined || codeOf(prev) > t || (codeOf(prev) === t && printIdOf(prev) > r.printId)) {
      map.set(r.cardtraderId, pack(t, r.printId))
    }
  }
  for (const [k, v] of map) map.set(k, pack(cfg.tables[codeOf(v) - 1].kindCode, printIdOf(v)))
  return { map, rows, ignored }
}

export class FileResolver implements BlueprintResolver {
  readonly source = 'file' as const
  readonly kinds: string[]
  readonly excluded: Uint8Array
  private loading?: Promise<Map<number, number>>
  private closed = false

  constructor (private readonly cfg: MappingConfig, private readonly log?: Logger) {
    this.kinds = cfg.kinds
    this.excluded = cfg.excluded
  }

  private load (): Promise<Map<number, number>> {
    if (this.closed) return Promise.reject(new SyncError('BRX_ERR_CATALOG_UNAVAILABLE', 'The blueprint resolver is closed.'))
    if (this.loading === undefined) {
      const file = this.cfg.catalogFile as string
      const t0 = performance.now()
      const p = loadCatalog(file, this.cfg).then(({ map, rows, ignored }) => {
        this.log?.info({ file, rows, blueprints: map.size, ignored, ms: Math.round(performance.now() - t0) }, 'catalog file loaded')
        return map
      })
      // A failed load is retried next time (the operator may fix the file).
      p.catch(() => { if (this.loading === p) this.loading = undefined })
      this.loading = p
    }
    return this.loading
  }

  async check (signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) throw cancelledError()
    await this.load()
  }

  async resolve (ids: Int32Array, stats: MappingStats, signal?: AbortSignal): Promise<Resolution> {
    const t0 = performance.now()
    if (signal?.aborted === true) throw cancelledError()
    const map = await this.load()
    const n = ids.length
    const printIds = new Int32Array(n)
    const kinds = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      const v = map.get(ids[i])
      if (v !== undefined) { printIds[i] = printIdOf(v); kinds[i] = codeOf(v) }
    }
    // The whole catalog is in memory: every lookup is a hit.
    stats.cacheHits += n
    stats.lookupMs += performance.now() - t0
    return { printIds, kinds }
  }

  clearCache (): void {
    this.loading = undefined
  }

  async close (): Promise<void> {
    this.closed = true
    this.loading = undefined
  }
}
