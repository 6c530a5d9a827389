import { parseArgs } from 'node:util'
import pino from 'pino'
import { sync } from '../engine'
import { ERROR_CODES, SyncError } from '../errors'
import type { MappingOptions, SyncOptions } from '../options'
import type { SyncReport } from '../report/types'
import { formatReport } from './format'

export const syncUsage = `Usage: brx-sync sync --input FILE|- --user UUID [options]
       brx-sync sync --dataset SPEC.json --scope COL=VALUE --input FILE|- [options]

Mirrors a CardTrader /products/export (JSON array or NDJSON, optionally .gz)
into PostgreSQL user_inventory_items for one user.

  --input FILE|-            the export; '-' reads stdin; '.gz' is gunzipped
  --user UUID               the user whose inventory this is (the sync's scope)
  --dataset NAME|SPEC.json  a preset (default cardtrader-inventory) or a dataset spec file
  --scope COL=VALUE         a scope column's value (repeat for each scope column)
  --allow-unscoped-mirror   permit mirror mode on a dataset with no scope columns
  --mode mirror|upsert|insert-new  default: the dataset's (mirror for the inventory); mirror deletes the
                            scope's rows missing from the input, upsert never deletes, insert-new only
                            inserts keys not yet stored
  --format auto|json|ndjson|csv  default auto (csv for .csv/.csv.gz, else from the first byte)
  --rejects FILE            write rejected/unmapped/excluded records here (NDJSON)
  --json                    print the report as JSON on stdout
  --database-url URL        default DATABASE_URL, PG* variables, or postgres://postgres@127.0.0.1:5432/test
  --mysql-url URL           blueprint catalog in MySQL (default MYSQL_URL)
  --catalog-file FILE       blueprint catalog file (CSV/NDJSON) instead of MySQL
  --no-mapping              do not map blueprints (print_id stays NULL)
  --unmapped skip|keep      products whose blueprint maps nowhere: skip (default) or keep with NULL print
  --exclude KIND[,KIND]     catalog kinds to exclude (e.g. op_prints)
  --max-delete-ratio R      refuse to delete more than this share of the user's rows (default 0.5)
  --allow-mass-delete       lift that guard
  --lock wait|fail          another sync of the same user running: wait (default) or fail
  --lock-timeout-ms MS      how long to wait for it (default 60000)
  --statement-timeout-ms MS statement_timeout for the merge (default none)
  --workers N --writers N --partition-bytes N   tuning (defaults adapt to the machine)
  --log-level LEVEL         pino level for the logs on stderr (default info)

Exit codes: 0 success; ${[...new Set(Object.values(ERROR_CODES).map(e => e.exit))].sort((a, b) => a - b).join(', ')} on failure (see README "Error codes").
`

const intOpt = (v: unknown, name: string): number | undefined => {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n)) throw new SyncError('BRX_ERR_OPTIONS_INVALID', `--${name} must be a number, got "${String(v)}".`, { option: name })
  return n
}

export async function syncCommand (argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | string[] | undefined>
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        input: { type: 'string', short: 'i' },
        user: { type: 'string', short: 'u' },
        dataset: { type: 'string' },
        scope: { type: 'string', multiple: true },
        'allow-unscoped-mirror': { type: 'boolean' },
        mode: { type: 'string' },
        format: { type: 'string' },
        rejects: { type: 'string' },
        json: { type: 'boolean' },
        'database-url': { type: 'string' },
        'mysql-url': { type: 'string' },
        'catalog-file': { type: 'string' },
        'no-mapping': { type: 'boolean' },
        unmapped: { type: 'string' },
        exclude: { type: 'string' },
        'max-delete-ratio': { type: 'string' },
        'allow-mass-delete': { type: 'boolean' },
        lock: { type: 'string' },
        'lock-timeout-ms': { type: 'string' },
        'statement-timeout-ms': { type: 'string' },
        workers: { type: 'string' },
        writers: { type: 'string' },
        'partition-bytes': { type: 'string' },
        'log-level': { type: 'string' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`brx-sync sync: ${(err as Error).message}\n\n${syncUsage}`)
    return 2
  }
  if (v.help === true) { process.stdout.write(syncUsage); return 0 }
  if (v.input === undefined || (v.user === undefined && v.dataset === undefined)) {
    process.stderr.write(`brx-sync sync: --input and --user (or --dataset with its --scope) are required.\n\n${syncUsage}`)
    return 2
  }
  const scope: Record<string, string> = {}
  for (const kv of (v.scope as string[] | undefined) ?? []) {
    const eq = kv.indexOf('=')
    if (eq <= 0) { process.stderr.write(`brx-sync sync: --scope takes COLUMN=VALUE, got "${kv}".\n`); return 2 }
    scope[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  const logger = pino({ level: (v['log-level'] as string | undefined) ?? 'info', base: { cmd: 'sync' } }, pino.destination(2))
  const controller = new AbortController()
  const onSignal = (sig: string): void => {
    logger.warn({ signal: sig }, 'cancelling')
    controller.abort(new Error(`received ${sig}`))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const mapping: MappingOptions = {}
    if (v['no-mapping'] === true) mapping.source = 'none'
    else if (v['catalog-file'] !== undefined) { mapping.source = 'file'; mapping.catalogFile = v['catalog-file'] as string }
    else if (v['mysql-url'] !== undefined) { mapping.source = 'mysql'; mapping.mysqlUrl = v['mysql-url'] as string }
    if (v.unmapped !== undefined) mapping.unmapped = v.unmapped as 'skip' | 'keep'
    if (v.exclude !== undefined) mapping.exclude = (v.exclude as string).split(',').map(s => s.trim()).filter(Boolean)
    const options: SyncOptions = {
      input: v.input as string,
      userId: v.user as string | undefined,
      dataset: v.dataset as string | undefined,
      scope,
      allowUnscopedMirror: v['allow-unscoped-mirror'] === true,
      mode: v.mode as SyncOptions['mode'],
      format: v.format as SyncOptions['format'],
      rejectsFile: v.rejects as string | undefined,
      databaseUrl: v['database-url'] as string | undefined,
      mapping,
      maxDeleteRatio: intOpt(v['max-delete-ratio'], 'max-delete-ratio'),
      allowMassDelete: v['allow-mass-delete'] === true,
      lock: v.lock as SyncOptions['lock'],
      lockTimeoutMs: intOpt(v['lock-timeout-ms'], 'lock-timeout-ms'),
      statementTimeoutMs: intOpt(v['statement-timeout-ms'], 'statement-timeout-ms'),
      workers: intOpt(v.workers, 'workers'),
      writers: intOpt(v.writers, 'writers'),
      partitionBytes: intOpt(v['partition-bytes'], 'partition-bytes'),
      signal: controller.signal,
      logger,
    }
    const report: SyncReport = await sync(options)
    process.stdout.write(v.json === true ? JSON.stringify(report, null, 2) + '\n' : formatReport(report))
    return 0
  } catch (err) {
    const e = err instanceof SyncError ? err : new SyncError('BRX_ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err })
    if (v.json === true) process.stdout.write(JSON.stringify({ error: e.toJSON() }, null, 2) + '\n')
    process.stderr.write(`brx-sync sync: ${e.code}: ${e.message}\n`)
    return e.exitCode
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
