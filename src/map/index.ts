import type { Logger } from 'pino'
import type { MappingOptions } from '../options'
import { resolveMappingConfig } from './config'
import { FileResolver } from './file'
import type { MysqlResolver } from './mysql'
import { NoneResolver } from './none'
import type { BlueprintResolver } from './types'

export type { BlueprintResolver, MappingStats, Resolution } from './types'
export { newMappingStats } from './types'
export { seedCatalog, catalogCommand } from './seed'

/**
 * One resolver per engine (it owns the MySQL pool and the cache). Options are
 * merged with defaults.mapping; the source is mapping.source, else mysqlUrl ->
 * 'mysql', catalogFile -> 'file', MYSQL_URL -> 'mysql', else 'none'.
 */
export function createResolver (opts: MappingOptions | undefined, logger?: Logger): BlueprintResolver {
  const cfg = resolveMappingConfig(opts)
  const log = logger?.child({ stage: 'map', source: cfg.source })
  switch (cfg.source) {
    // Required only for a MySQL catalog: a sync without one loads neither it nor its LRU cache.
    case 'mysql': return new (require('./mysql') as { MysqlResolver: typeof MysqlResolver }).MysqlResolver(cfg, log)
    case 'file': return new FileResolver(cfg, log)
    default: return new NoneResolver(cfg)
  }
}
