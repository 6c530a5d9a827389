import fs from 'node:fs'
import { createEngine } from '../engine'
import { ERROR_CODES, SyncError } from '../errors'
import { presets } from '../dataset'
import { defaults, splitOptions, type MappingOptions, type SyncOptions } from '../options'
import type { SyncReport } from '../report/types'
import { numberFlag, str, UsageError, type Command, type Io, type Values } from './command'
import { formatReport } from './format'
import { cliLogger, type LogFormat } from './logs'
import { ProgressView } from './progress'

export const syncUsage = `Usage: brx-sync sync --input FILE|- --user UUID [options]
       brx-sync sync --dataset SPEC.json --scope COL=VALUE --input FILE|- [options]
       CARDTRADER_TOKEN=… brx-sync sync --source cardtrader --user UUID [options]

Mirrors a CardTrader /products/export (JSON array or NDJSON, optionally .gz)
into PostgreSQL user_inventory_items for one user.

  --input FILE|-            the export; '-' reads stdin; '.gz' is gunzipped
  --source cardtrader       fetch the export instead: GET CARDTRADER_API_URL/products/export
                            (default https://api.cardtrader.com/api/v2), with the token in
                            CARDTRADER_TOKEN or --token-file (never on the command line)
  --token-file FILE         file holding the CardTrader token
  --split-by expansion      one request per expansion, each retried alone, into one sync
  --user UUID               the user whose inventory this is (shorthand of --scope user_id=UUID)
  --scope COL=VALUE         a scope column's value (repeatable)
  --dataset NAME|SPEC.json  a preset (default cardtrader-inventory) or a dataset spec file
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
  --diff auto|engine|database  how a re-sync finds its changes (default auto: the engine diff unless the input is much smaller than the scope; see README "The engine diff")
  --statement-timeout-ms MS statement_timeout for the merge (default none)
  --workers N --writers N --partition-bytes N   tuning (defaults adapt to the machine)
  --dry-run                 run everything, print what would change (counts, guard verdict, samples), roll back
  --changes FILE            NDJSON of every committed change (appears complete after COMMIT only)
  --no-progress             no progress bar (it is shown only when stderr is a terminal, never with --json)
  --metrics-file FILE       write the engine's metrics (Prometheus text) here at the end
  --log-level LEVEL         pino level for the logs on stderr (default info)
  --log-format auto|json|pretty   auto: readable lines on a terminal, JSON lines otherwise

Exit codes: 0 success; ${[...new Set(Object.values(ERROR_CODES).map(e => e.exit))].sort((a, b) => a - b).join(', ')} on failure (see README "Error codes").
`

const options: Command['options'] = {
  input: { type: 'string', short: 'i' },
  source: { type: 'string' },
  'token-file': { type: 'string' },
  'split-by': { type: 'string' },
  // Declared only to be refused by name: an unknown-flag error could echo `--token=VALUE`.
  token: { type: 'string' },
  user: { type: 'string', short: 'u' },
  scope: { type: 'string', multiple: true },
  dataset: { type: 'string' },
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
  diff: { type: 'string' },
  'lock-timeout-ms': { type: 'string' },
  'statement-timeout-ms': { type: 'string' },
  workers: { type: 'string' },
  writers: { type: 'string' },
  'partition-bytes': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'dry-run': { type: 'boolean' },
  changes: { type: 'string' },
  'no-progress': { type: 'boolean' },
  'metrics-file': { type: 'string' },
}

function mappingOf (v: Values): MappingOptions {
  const mapping: MappingOptions = {}
  if (v['no-mapping'] === true) mapping.source = 'none'
  else if (v['catalog-file'] !== undefined) { mapping.source = 'file'; mapping.catalogFile = str(v['catalog-file']) }
  else if (v['mysql-url'] !== undefined) { mapping.source = 'mysql'; mapping.mysqlUrl = str(v['mysql-url']) }
  if (v.unmapped !== undefined) mapping.unmapped = v.unmapped as 'skip' | 'keep'
  if (v.exclude !== undefined) mapping.exclude = String(v.exclude).split(',').map(s => s.trim()).filter(Boolean)
  return mapping
}

/** --scope col=value, repeatable; --user is the preset's shorthand and stays a separate option. */
function scopeOf (pairs: unknown): Record<string, string> | undefined {
  if (!Array.isArray(pairs) || pairs.length === 0) return undefined
  const scope: Record<string, string> = {}
  for (const p of pairs as string[]) {
    const i = p.indexOf('=')
    if (i <= 0) throw new UsageError(`--scope must be COLUMN=VALUE, got "${p}".`)
    scope[p.slice(0, i)] = p.slice(i + 1)
  }
  return scope
}

/** --source cardtrader: the token comes from CARDTRADER_TOKEN or --token-file, read once by the options. */
function sourceOf (v: Values): SyncOptions['source'] {
  if (v.source === undefined) {
    if (v['token-file'] !== undefined || v['split-by'] !== undefined) throw new UsageError('--token-file and --split-by go with --source cardtrader.')
    return undefined
  }
  if (v.source !== 'cardtrader') throw new UsageError(`--source must be "cardtrader", got "${String(v.source)}".`)
  const splitBy = str(v['split-by'])
  if (splitBy !== undefined && splitBy !== 'expansion' && splitBy !== 'none') throw new UsageError(`--split-by must be "expansion", got "${splitBy}".`)
  return { cardtrader: { tokenFile: str(v['token-file']), splitBy } }
}

function optionsOf (v: Values, signal: AbortSignal, logger: SyncOptions['logger'], view: ProgressView | null): SyncOptions {
  return {
    input: str(v.input),
    source: sourceOf(v),
    userId: str(v.user),
    scope: scopeOf((v as Record<string, unknown>).scope),
    dataset: str(v.dataset),
    allowUnscopedMirror: v['allow-unscoped-mirror'] === true,
    mode: v.mode as SyncOptions['mode'],
    format: v.format as SyncOptions['format'],
    rejectsFile: str(v.rejects),
    databaseUrl: str(v['database-url']),
    mapping: mappingOf(v),
    maxDeleteRatio: numberFlag(v['max-delete-ratio'], 'max-delete-ratio'),
    allowMassDelete: v['allow-mass-delete'] === true,
    lock: v.lock as SyncOptions['lock'],
    diff: v.diff as SyncOptions['diff'],
    lockTimeoutMs: numberFlag(v['lock-timeout-ms'], 'lock-timeout-ms'),
    statementTimeoutMs: numberFlag(v['statement-timeout-ms'], 'statement-timeout-ms'),
    workers: numberFlag(v.workers, 'workers'),
    writers: numberFlag(v.writers, 'writers'),
    partitionBytes: numberFlag(v['partition-bytes'], 'partition-bytes'),
    signal,
    logger,
    dryRun: v['dry-run'] === true,
    changesFile: str(v.changes),
    onProgress: view === null ? undefined : p => view.update(p),
  }
}

async function run (v: Values, _positionals: string[], io: Io): Promise<number> {
  // Never echo it: the command line is visible to every user of the machine (ps, shell history).
  if (v.token !== undefined) throw new UsageError('--token is refused: a token on the command line is visible to other users; set CARDTRADER_TOKEN or pass --token-file.')
  if ((v.input === undefined) === (v.source === undefined)) throw new UsageError('exactly one of --input and --source is required.')
  // --user is required only where it is the scope's shorthand (the CardTrader preset); a spec's own scope is checked by the engine, naming the column.
  const preset = presets[str(v.dataset) ?? defaults.dataset]
  if (preset?.scopeAlias?.userId !== undefined && v.user === undefined && (v as Record<string, unknown>).scope === undefined) throw new UsageError('--user (or --scope) is required.')
  const tty = process.stderr.isTTY === true
  const format = str(v['log-format']) ?? 'auto'
  if (!['auto', 'json', 'pretty'].includes(format)) throw new UsageError(`--log-format must be auto, json or pretty, got "${format}".`)
  // The bar only on a terminal and never with --json; log lines then print above it.
  const view = tty && v.json !== true && v['no-progress'] !== true ? new ProgressView(process.stderr) : null
  const logger = cliLogger({ level: str(v['log-level']) ?? 'info', format: format as LogFormat, isTTY: tty, base: { cmd: 'sync' }, write: view === null ? undefined : line => view.log(line) })
  const controller = new AbortController()
  const onSignal = (sig: string): void => {
    logger.warn({ signal: sig }, 'cancelling')
    controller.abort(new Error(`received ${sig}`))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const options = optionsOf(v, controller.signal, logger, view)
    const report: SyncReport = await syncAndMeasure(options, str(v['metrics-file']))
    view?.stop()
    io.out(v.json === true ? JSON.stringify(report, null, 2) + '\n' : formatReport(report))
    return 0
  } catch (err) {
    view?.stop()
    if (err instanceof UsageError) throw err
    const e = err instanceof SyncError ? err : new SyncError('BRX_ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err })
    if (v.json === true) io.out(JSON.stringify({ error: e.toJSON() }, null, 2) + '\n')
    throw e
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** One engine for this sync; its metrics written to `metricsFile` at the end, success or not. */
async function syncAndMeasure (options: SyncOptions, metricsFile: string | undefined): Promise<SyncReport> {
  const split = splitOptions(options)
  const engine = createEngine(split.engine)
  try {
    return await engine.sync(split.sync)
  } finally {
    if (metricsFile !== undefined) {
      try {
        fs.writeFileSync(metricsFile, (await engine.metrics()).text)
      } catch (err) {
        options.logger?.warn({ file: metricsFile, err: (err as Error).message }, 'metrics file not written')
      }
    }
    await engine.close()
  }
}

export const syncCommand: Command = { name: 'sync', summary: 'mirror an export into PostgreSQL', usage: syncUsage, options, run }
