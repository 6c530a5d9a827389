import { parseArgs } from 'node:util'
import pino from 'pino'
import { sync } from '../engine'
import { ERROR_CODES, SyncError } from '../errors'
import type { MappingOptions, SyncOptions } from '../options'
import type { SyncReport } from '../report/types'
import { formatReport } from './format'

export const syncUsage = `Usage: brx-sync sync --input FILE|- --user UUID [options]
       CARDTRADER_TOKEN=… brx-sync sync --source cardtrader --user UUID [options]

Mirrors a CardTrader /products/export (JSON array or NDJSON, optionally .gz)
into PostgreSQL user_inventory_items for one user.

  --input FILE|-            the export; '-' reads stdin; '.gz' is gunzipped
  --user UUID               the user whose inventory this is (the sync's scope)
  --source cardtrader       fetch the export from CARDTRADER_API_URL (default https://api.cardtrader.com/api/v2)
                            with the token in CARDTRADER_TOKEN or --token-file (never on the command line)
  --token-file FILE         file holding the CardTrader token
  --split-by expansion      one request per expansion, each retried alone, into one sync
  --mode mirror|upsert      mirror (default) deletes the user's rows missing from the export
  --format auto|json|ndjson default auto (from the first byte)
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
  let v: Record<string, string | boolean | undefined>
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        input: { type: 'string', short: 'i' },
        user: { type: 'string', short: 'u' },
        source: { type: 'string' },
        'token-file': { type: 'string' },
        'split-by': { type: 'string' },
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
  if ((v.input === undefined) === (v.source === undefined) || v.user === undefined) {
    process.stderr.write(`brx-sync sync: --user and one of --input or --source are required.\n\n${syncUsage}`)
    return 2
  }
  if (v.source !== undefined && v.source !== 'cardtrader') {
    process.stderr.write(`brx-sync sync: --source must be "cardtrader".\n\n${syncUsage}`)
    return 2
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
      input: v.input as string | undefined,
      source: v.source === 'cardtrader' ? { cardtrader: { tokenFile: v['token-file'] as string | undefined, splitBy: v['split-by'] as 'none' | 'expansion' | undefined } } : undefined,
      userId: v.user as string,
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
