/**
 * `brx-sync generate`: sample exports and catalogs for tests, demos and benchmarks.
 * Reports go to stderr so that `--out -` keeps stdout pure data.
 */
import { parseArgs } from 'node:util'
import { DEFAULT_BLUEPRINTS } from './blueprint'
import { writeCatalog } from './catalog'
import { readMeta, writeExport, type ExportFormat } from './export'
import { resolveOptions, type GenerateOptions } from './products'

export const generateUsage = `Usage: brx-sync generate --products N [options]

Writes a deterministic, CardTrader-shaped /products/export sample.

  --products N          base export size (250000, 250_000 and 250k all work)
  --seed S              random seed (default 1); same options => same bytes
  --out FILE|-          output file, '-' for stdout (default '-'); a '.gz' suffix gzips.
                        FILE.meta.json records the options used.
  --format json|ndjson  default json (a JSON array), or from the name (.ndjson, .jsonl)
  --blueprints N        size of the blueprint id space (default ${DEFAULT_BLUEPRINTS})

A changed version of an export (same products, same order, some edited):
  --from PREV.json      regenerate PREV.json from PREV.json.meta.json and change it
                        (PREV itself must be a base export, not a changed version)
  --change P            share of products with a new price and/or quantity (default 5% with --from)
  --add P               share of products appended with new ids (default 1% with --change)
  --remove P            share of products removed (default 1% with --change)
  --change-seed S       seed of the change (default seed+1); vary it for several versions

Noise:
  --dup-rate P          share of products listed twice (an outdated copy, then the real one later)
  --bad-rate P          share of records that are invalid (negative quantity, missing id, ...)

Catalog:
  --catalog FILE        also write the blueprint catalog CSV (cardtrader_id,print_id,table)
                        matching the export's seed and --blueprints. Alone, writes only the catalog.

P is a percentage ("5%") or a fraction ("0.05").
`

class UsageError extends Error {}

function count (name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const m = /^(\d[\d_,]*)([km]?)$/i.exec(v.trim())
  if (m === null) throw new UsageError(`--${name} must be a whole number (e.g. 250000 or 250k), got "${v}".`)
  const n = Number(m[1].replace(/[_,]/g, '')) * ({ '': 1, k: 1e3, m: 1e6 } as Record<string, number>)[m[2].toLowerCase()]
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} is too large: "${v}".`)
  return n
}

function int (name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`--${name} must be an integer, got "${v}".`)
  return Number(v)
}

export function parseFraction (name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const s = v.trim()
  const pct = s.endsWith('%')
  const n = Number(pct ? s.slice(0, -1) : s)
  if (s === '' || s === '%' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a percentage ("5%") or a fraction ("0.05"), got "${v}".`)
  const f = pct ? n / 100 : n
  if (f > 1) throw new UsageError(`--${name} must be at most 100%, got "${v}"${pct ? '' : ` (did you mean "${v}%"?)`}.`)
  return f
}

function formatBytes (n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`
}

/** Runs `generate` with the arguments after the command name; returns the exit code. */
export async function generateCommand (argv: string[]): Promise<number> {
  const args = argv[0] === 'generate' ? argv.slice(1) : argv
  let v: Record<string, string | boolean | undefined>
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        products: { type: 'string', short: 'n' },
        seed: { type: 'string' },
        out: { type: 'string', short: 'o' },
        format: { type: 'string' },
        blueprints: { type: 'string' },
        from: { type: 'string' },
        change: { type: 'string' },
        add: { type: 'string' },
        remove: { type: 'string' },
        'change-seed': { type: 'string' },
        'dup-rate': { type: 'string' },
        'bad-rate': { type: 'string' },
        catalog: { type: 'string' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`brx-sync generate: ${(err as Error).message}\n\n${generateUsage}`)
    return 2
  }
  if (v.help === true) {
    process.stdout.write(generateUsage)
    return 0
  }

  let o: GenerateOptions | undefined
  let format: ExportFormat | undefined
  const out = (v.out as string | undefined) ?? '-'
  const catalog = v.catalog as string | undefined
  let exportToo = false
  try {
    if (v.format !== undefined && v.format !== 'json' && v.format !== 'ndjson') throw new UsageError(`--format must be json or ndjson, got "${String(v.format)}".`)
    format = v.format as ExportFormat | undefined
    const explicit: Partial<GenerateOptions> = {
      products: count('products', v.products as string | undefined),
      seed: int('seed', v.seed as string | undefined),
      blueprints: count('blueprints', v.blueprints as string | undefined),
      dupRate: parseFraction('dup-rate', v['dup-rate'] as string | undefined),
      badRate: parseFraction('bad-rate', v['bad-rate'] as string | undefined),
    }
    const change: Partial<GenerateOptions> = {
      change: parseFraction('change', v.change as string | undefined),
      add: parseFraction('add', v.add as string | undefined),
      remove: parseFraction('remove', v.remove as string | undefined),
      changeSeed: int('change-seed', v['change-seed'] as string | undefined),
    }
    if (typeof v.from === 'string') {
      o = await fromPrevious(v.from, explicit)
      o = { ...o, ...dropUndefined(change), change: change.change ?? 0.05 }
    } else {
      if (explicit.products !== undefined) {
        o = { ...dropUndefined(explicit), ...dropUndefined(change) } as GenerateOptions
      } else if (catalog === undefined) {
        throw new UsageError('--products is required (or --from PREV.json, or --catalog FILE alone).')
      }
    }
    exportToo = o !== undefined
    o ??= { products: 0, seed: explicit.seed, blueprints: explicit.blueprints } // catalog only
    resolveOptions(o) // option ranges, checked before any file is created
  } catch (err) {
    process.stderr.write(`brx-sync generate: ${(err as Error).message}\n`)
    return 2
  }

  try {
    if (exportToo) {
      const t0 = performance.now()
      const r = await writeExport(out, { ...o, format })
      const s = (performance.now() - t0) / 1000
      process.stderr.write(`brx-sync generate: ${r.products.toLocaleString('en-US')} records, ${formatBytes(r.bytes)} -> ${out === '-' ? 'stdout' : out} in ${s.toFixed(2)} s\n`)
    }
    if (catalog !== undefined) await writeCatalogReport(catalog, o)
    return 0
  } catch (err) {
    process.stderr.write(`brx-sync generate: ${(err as Error).message}\n`)
    return 1
  }
}

function dropUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>
}

/** The base options of PREV, refusing flags that would make the result not a version of PREV. */
async function fromPrevious (from: string, explicit: Partial<GenerateOptions>): Promise<GenerateOptions> {
  let prev: GenerateOptions
  try {
    prev = await readMeta(from)
  } catch (err) {
    throw new UsageError(`--from: ${(err as Error).message}`)
  }
  if (prev.change !== undefined || prev.add !== undefined || prev.remove !== undefined) {
    throw new UsageError(`--from ${from}: it is itself a changed version (change ${prev.change ?? 0}, add ${prev.add ?? 0}, remove ${prev.remove ?? 0}); versions are made from a base export. Use --from on its base and a different --change-seed for another version.`)
  }
  const base = resolveOptions(prev)
  const flags: Array<[keyof GenerateOptions, string, number]> = [
    ['products', 'products', base.products], ['seed', 'seed', base.seed], ['blueprints', 'blueprints', base.blueprints],
    ['dupRate', 'dup-rate', base.dupRate], ['badRate', 'bad-rate', base.badRate],
  ]
  for (const [key, flag, value] of flags) {
    const x = explicit[key]
    if (x !== undefined && x !== value) throw new UsageError(`--${flag} ${String(x)} contradicts ${from} (generated with ${flag} ${value}); leave it out with --from.`)
  }
  return prev
}

async function writeCatalogReport (path: string, o: { seed?: number, blueprints?: number }): Promise<void> {
  const t0 = performance.now()
  const { rows } = await writeCatalog(path, { seed: o.seed, blueprints: o.blueprints })
  process.stderr.write(`brx-sync generate: catalog of ${rows.toLocaleString('en-US')} rows -> ${path} in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`)
}
