import { SyncError } from '../errors'
import { defaults, mysqlUrlFromEnv } from '../options'
import type { CatalogTable, MappingOptions } from '../options'
import { cardtraderCatalog } from '../dataset/cardtrader'

/** A catalog table with every default filled in and its kind code (1-based). */
export interface ResolvedTable {
  table: string
  kind: string
  kindCode: number
  idColumn: string
  externalColumn: string
}

/** MappingOptions merged with defaults.mapping and checked once. */
export interface MappingConfig {
  source: 'none' | 'file' | 'mysql'
  mysqlUrl?: string
  catalogFile?: string
  tables: ResolvedTable[]
  kinds: string[]
  excluded: Uint8Array
  unmapped: 'skip' | 'keep'
  poolSize: number
  lookupTimeoutMs: number
  cacheSize: number
}

// MySQL identifiers as the brief allows them: lower-case, digits, underscore, at most 64.
const MYSQL_IDENT = /^[a-z0-9_]{1,64}$/

function invalid (option: string, rule: string): never {
  throw new SyncError('BRX_ERR_OPTIONS_INVALID', `options.${option} ${rule}`, { option })
}

/** Validates a MySQL identifier ("name" or "schema.name") and returns it backtick-quoted. */
export function quoteMysqlIdent (name: string, option: string): string {
  const parts = typeof name === 'string' ? name.split('.') : []
  if (parts.length === 0 || parts.length > 2 || !parts.every(p => MYSQL_IDENT.test(p))) {
    invalid(option, `"${String(name)}" is not a valid MySQL identifier (lower-case letters, digits and _, at most 64 characters, optionally "schema.table").`)
  }
  return parts.map(p => `\`${p}\``).join('.')
}

/**
 * Explicit options beat the environment: mapping.mysqlUrl -> mysql,
 * mapping.catalogFile -> file, then MYSQL_URL -> mysql, else none.
 */
export function chooseSource (m: MappingOptions | undefined): 'none' | 'file' | 'mysql' {
  if (m?.source !== undefined) return m.source
  if (m?.mysqlUrl !== undefined) return 'mysql'
  if (m?.catalogFile !== undefined) return 'file'
  return mysqlUrlFromEnv(m) !== undefined ? 'mysql' : 'none'
}

export function resolveMappingConfig (m: MappingOptions | undefined): MappingConfig {
  const d = defaults.mapping
  const source = chooseSource(m)
  // The catalog defaults are the CardTrader preset's: its catalog is the mapping's first configuration.
  const given: CatalogTable[] = m?.tables ?? cardtraderCatalog.tables
  if (!Array.isArray(given) || given.length === 0) invalid('mapping.tables', 'must be a non-empty array.')
  const kinds: string[] = []
  const seen = new Set<string>()
  const tables = given.map((t, i): ResolvedTable => {
    const at = `mapping.tables[${i}]`
    if (t == null || typeof t !== 'object') invalid(at, 'must be an object with a "table" name.')
    quoteMysqlIdent(t.table, `${at}.table`)
    if (seen.has(t.table)) invalid(`${at}.table`, `names "${t.table}" twice.`)
    seen.add(t.table)
    const kind = t.kind ?? t.table
    if (typeof kind !== 'string' || kind.length === 0) invalid(`${at}.kind`, 'must be a non-empty string.')
    const idColumn = t.idColumn ?? cardtraderCatalog.idColumn
    const externalColumn = t.externalColumn ?? cardtraderCatalog.externalColumn
    quoteMysqlIdent(idColumn, `${at}.idColumn`)
    quoteMysqlIdent(externalColumn, `${at}.externalColumn`)
    let k = kinds.indexOf(kind)
    if (k < 0) k = kinds.push(kind) - 1
    return { table: t.table, kind, kindCode: k + 1, idColumn, externalColumn }
  })
  // Kind codes travel as a Uint8Array.
  if (kinds.length > 255) invalid('mapping.tables', 'may name at most 255 kinds.')
  const excluded = new Uint8Array(kinds.length + 1)
  for (const x of m?.exclude ?? d.exclude) {
    const k = kinds.indexOf(x)
    // A typo here would silently write what the operator meant to drop.
    if (k < 0) invalid('mapping.exclude', `names "${x}", which is not a configured kind (kinds: ${kinds.join(', ')}).`)
    excluded[k + 1] = 1
  }
  const cfg: MappingConfig = {
    source,
    tables,
    kinds,
    excluded,
    unmapped: m?.unmapped ?? d.unmapped,
    poolSize: m?.poolSize ?? d.poolSize,
    lookupTimeoutMs: m?.lookupTimeoutMs ?? d.lookupTimeoutMs,
    cacheSize: m?.cacheSize ?? d.cacheSize,
  }
  for (const k of ['poolSize', 'lookupTimeoutMs', 'cacheSize'] as const) {
    if (!(Number.isInteger(cfg[k]) && cfg[k] > 0)) invalid(`mapping.${k}`, `must be a positive integer, got ${JSON.stringify(cfg[k])}.`)
  }
  if (source === 'mysql') {
    const url = mysqlUrlFromEnv(m)
    if (url === undefined) invalid('mapping.mysqlUrl', 'is required when mapping.source is "mysql" (or set MYSQL_URL).')
    describeMysql(url) // throws on a malformed URL
    cfg.mysqlUrl = url
  } else if (source === 'file') {
    if (typeof m?.catalogFile !== 'string' || m.catalogFile.length === 0) invalid('mapping.catalogFile', 'is required when mapping.source is "file".')
    cfg.catalogFile = m.catalogFile
  }
  return cfg
}

/** "MySQL at host:port/db" — what error messages name; never the user's password. */
export function describeMysql (url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    invalid('mapping.mysqlUrl', 'is not a valid URL (expected mysql://user:password@host:port/database).')
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') invalid('mapping.mysqlUrl', `must start with mysql://, got "${u.protocol}//".`)
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''))
  return `MySQL at ${u.hostname}:${u.port === '' ? '3306' : u.port}${db === '' ? '' : '/' + db}`
}
