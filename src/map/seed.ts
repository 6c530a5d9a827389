import type mysql from 'mysql2/promise'

/** mysql2 costs ~0.15 s to load: only a sync that maps through MySQL pays it. */
const mysqlDriver = (): typeof mysql => require('mysql2/promise') as typeof mysql
import { runCommand, stdio, str, UsageError, type Command, type Io } from '../cli/command'
import { SyncError, redact } from '../errors'
import { mysqlUrlFromEnv } from '../options'
import type { CatalogTable } from '../options'
import { catalogRows } from './catalog-file'
import { describeMysql, quoteMysqlIdent, resolveMappingConfig } from './config'
import { catalogError } from './mysql-errors'

/** Rows per multi-row INSERT: ~40 KB statements, far below max_allowed_packet. */
const INSERT_ROWS = 2000

/**
 * Creates the catalog tables if missing, empties them and loads them from a
 * catalog file (rows of tables not configured are skipped). For demos, tests
 * and benchmarks: TRUNCATE commits at once, so a sync running meanwhile may
 * see a half-loaded catalog.
 */
export async function seedCatalog (mysqlUrl: string, catalogFile: string, opts: { tables?: CatalogTable[] } = {}): Promise<{ rows: number, tables: Record<string, number> }> {
  const cfg = resolveMappingConfig({ source: 'mysql', mysqlUrl, tables: opts.tables })
  const where = describeMysql(mysqlUrl)
  let conn: mysql.Connection
  try {
    conn = await mysqlDriver().createConnection({ uri: mysqlUrl, connectTimeout: 10_000 })
  } catch (e) {
    throw catalogError(e, where)
  }
  const specs = new Map(cfg.tables.map((t, i) => {
    const at = `tables[${i}]`
    const q = { table: quoteMysqlIdent(t.table, at + '.table'), id: quoteMysqlIdent(t.idColumn, at + '.idColumn'), ext: quoteMysqlIdent(t.externalColumn, at + '.externalColumn') }
    return [t.table, { ...q, pending: [] as Array<[number, number]>, count: 0 }]
  }))
  let current = ''
  const flush = async (name: string): Promise<void> => {
    const s = specs.get(name)
    if (s === undefined || s.pending.length === 0) return
    const rows = s.pending
    s.pending = []
    current = name
    await conn.query(`INSERT INTO ${s.table} (${s.id}, ${s.ext}) VALUES ?`, [rows])
    s.count += rows.length
  }
  try {
    for (const [name, s] of specs) {
      current = name
      await conn.query(`CREATE TABLE IF NOT EXISTS ${s.table} (${s.id} INT NOT NULL PRIMARY KEY, ${s.ext} INT NOT NULL, name VARCHAR(255) NULL, INDEX (${s.ext}))`)
      await conn.query(`TRUNCATE TABLE ${s.table}`)
    }
    for await (const r of catalogRows(catalogFile)) {
      const s = specs.get(r.table)
      if (s === undefined) continue
      s.pending.push([r.printId, r.cardtraderId])
      if (s.pending.length >= INSERT_ROWS) await flush(r.table)
    }
    for (const name of specs.keys()) await flush(name)
  } catch (e) {
    if (e instanceof SyncError) throw e
    const dup = (e as { code?: unknown }).code === 'ER_DUP_ENTRY'
    throw new SyncError('BRX_ERR_CATALOG_UNAVAILABLE',
      `Loading the catalog table ${current} at ${where} from ${catalogFile} failed: ${redact((e as Error).message)}${dup ? ' (a print_id appears twice for this table)' : ''}.`,
      { cause: e, table: current, file: catalogFile })
  } finally {
    await conn.end().catch(() => {})
  }
  const tables: Record<string, number> = {}
  let rows = 0
  for (const [name, s] of specs) { tables[name] = s.count; rows += s.count }
  return { rows, tables }
}

const USAGE = `Usage: brx-sync catalog seed --file <catalog.csv|catalog.ndjson> [--mysql-url <url>]

Creates the blueprint catalog tables (cards_prints, op_prints, pk_prints,
sealed_products) in MySQL when missing, empties them, and loads them from a
catalog file: CSV with header cardtrader_id,print_id,table, or NDJSON objects
with those keys ('.gz' is gunzipped).

Options:
  -f, --file <path>     catalog file to load
      --mysql-url <url> mysql://user:password@host:port/database (default: $MYSQL_URL)
  -h, --help            show this help
`

/** `brx-sync catalog seed`: the flags follow the word "catalog". */
export const catalogSpec: Command = {
  name: 'catalog',
  summary: 'catalog seed: load a catalog file into MySQL',
  usage: USAGE,
  positionals: true,
  options: {
    file: { type: 'string', short: 'f' },
    'mysql-url': { type: 'string' },
  },
  run: async (values, positionals, io) => {
    if (positionals.length === 0) throw new UsageError('Missing subcommand: expected "seed".')
    if (positionals[0] !== 'seed' || positionals.length > 1) throw new UsageError(`Unknown subcommand "${positionals.join(' ')}": expected "seed".`)
    const file = str(values.file)
    if (file === undefined || file === '') throw new UsageError('Missing --file <catalog file>.')
    const url = mysqlUrlFromEnv({ mysqlUrl: str(values['mysql-url']) })
    if (url === undefined) throw new UsageError('Missing --mysql-url <url> (or set MYSQL_URL).')
    const t0 = performance.now()
    const r = await seedCatalog(url, file)
    const per = Object.entries(r.tables).map(([t, n]) => `${t} ${n}`).join(', ')
    io.out(`Seeded ${r.rows} catalog rows into ${describeMysql(url)} in ${Math.round(performance.now() - t0)} ms (${per}).\n`)
    return 0
  },
}

/** `brx-sync catalog …`: argv is what follows the word "catalog". Returns the exit code. */
export async function catalogCommand (argv: string[], io: Io = stdio): Promise<number> {
  return await runCommand(catalogSpec, argv, io)
}
