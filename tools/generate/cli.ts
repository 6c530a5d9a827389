/**
 * `brx-sync generate`: sample exports and catalogs for tests, demos and benchmarks.
 * Reports go to stderr so that `--out -` keeps stdout pure data.
 */
import fs from 'node:fs'
import { runCommand, stdio, UsageError, type Command, type Values } from '../../src/cli/command'
import { DEFAULT_BLUEPRINTS } from './blueprint'
import { changeExport } from './change'
import { writeCatalog } from './catalog'
import { metaPath, readMeta, writeExport, type ExportFormat } from './export'
import { count, int, parseFraction } from './flags'
import { generatePreset, PRESET_ONLY_FLAGS, presetUsage } from './presets-cli'
import { resolveOptions, type GenerateOptions } from './products'

export const generateUsage = `Usage: brx-sync generate --products N [options]
       brx-sync generate --dataset NAME --rows N [options]

Writes a deterministic, CardTrader-shaped /products/export sample.

  --products N          base export size (250000, 250_000 and 250k all work)
  --seed S              random seed (default 1); same options => same bytes
  --out FILE|-          output file, '-' for stdout (default '-'); a '.gz' suffix gzips.
                        FILE.meta.json records the options used.
  --format json|ndjson  default json (a JSON array), or from the name (.ndjson, .jsonl)
  --blueprints N        size of the blueprint id space (default ${DEFAULT_BLUEPRINTS})

A changed version of an export (same products, same order, some edited):
  --from PREV.json      a changed version of PREV.json: regenerated from PREV.json.meta.json
                        when generate wrote it (then PREV must be a base export), else
                        read back and changed record by record (any export works)
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

${presetUsage}
P is a percentage ("5%") or a fraction ("0.05").
`

function formatBytes (n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`
}

const options: Command['options'] = {
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
  dataset: { type: 'string' },
  rows: { type: 'string' },
  offset: { type: 'string' },
  sources: { type: 'string' },
}

const s = (v: string | boolean | undefined): string | undefined => typeof v === 'string' ? v : undefined

interface Plan { o?: GenerateOptions, format?: ExportFormat, anyExport: boolean }

/** What to write, from the flags; every range checked before a file is created. */
async function plan (v: Values): Promise<Plan> {
  if (v.format !== undefined && v.format !== 'json' && v.format !== 'ndjson') throw new UsageError(`--format must be json or ndjson, got "${String(v.format)}".`)
  const format = v.format as ExportFormat | undefined
  const explicit: Partial<GenerateOptions> = {
    products: count('products', s(v.products)),
    seed: int('seed', s(v.seed)),
    blueprints: count('blueprints', s(v.blueprints)),
    dupRate: parseFraction('dup-rate', s(v['dup-rate'])),
    badRate: parseFraction('bad-rate', s(v['bad-rate'])),
  }
  const change: Partial<GenerateOptions> = {
    change: parseFraction('change', s(v.change)),
    add: parseFraction('add', s(v.add)),
    remove: parseFraction('remove', s(v.remove)),
    changeSeed: int('change-seed', s(v['change-seed'])),
  }
  const from = s(v.from)
  if (from !== undefined) {
    if (!fs.existsSync(from)) throw new UsageError(`--from: ${from} does not exist.`)
    const withDefaults = { change: 0.05, add: 0.01, remove: 0.01, changeSeed: 1, ...dropUndefined(change) }
    if (!fs.existsSync(metaPath(from))) return { o: withDefaults as GenerateOptions, format, anyExport: true }
    const o = { ...(await fromPrevious(from, explicit)), ...dropUndefined(change), change: change.change ?? 0.05 }
    resolveOptions(o)
    return { o, format, anyExport: false }
  }
  if (explicit.products !== undefined) {
    const o = { ...dropUndefined(explicit), ...dropUndefined(change) } as GenerateOptions
    resolveOptions(o)
    return { o, format, anyExport: false }
  }
  if (v.catalog === undefined) throw new UsageError('--products is required (or --from PREV.json, --catalog FILE alone, or --dataset NAME).')
  resolveOptions({ products: 0, seed: explicit.seed, blueprints: explicit.blueprints })
  return { o: undefined, format, anyExport: false }
}

async function run (v: Values): Promise<number> {
  if (v.dataset !== undefined) return await generatePreset(v)
  const misplaced = PRESET_ONLY_FLAGS.find(f => v[f] !== undefined)
  if (misplaced !== undefined) throw new UsageError(`--${misplaced} needs --dataset NAME (a preset's sample).`)
  let p: Plan
  try {
    p = await plan(v)
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError((err as Error).message)
  }
  const out = s(v.out) ?? '-'
  const catalog = s(v.catalog)
  const t0 = performance.now()
  try {
    if (p.anyExport && p.o !== undefined) {
      const o = p.o as Required<Pick<GenerateOptions, 'change' | 'add' | 'remove' | 'changeSeed'>>
      const r = await changeExport(s(v.from) as string, out, { ...o, format: p.format })
      process.stderr.write(`brx-sync generate: ${r.products.toLocaleString('en-US')} records (${r.changed} changed, ${r.added} added, ${r.removed} removed), ${formatBytes(r.bytes)} -> ${out === '-' ? 'stdout' : out} in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`)
    } else if (p.o !== undefined) {
      const r = await writeExport(out, { ...p.o, format: p.format })
      process.stderr.write(`brx-sync generate: ${r.products.toLocaleString('en-US')} records, ${formatBytes(r.bytes)} -> ${out === '-' ? 'stdout' : out} in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`)
    }
    if (catalog !== undefined) await writeCatalogReport(catalog, p.o ?? { seed: int('seed', s(v.seed)), blueprints: count('blueprints', s(v.blueprints)) })
    return 0
  } catch (err) {
    process.stderr.write(`brx-sync generate: ${(err as Error).message}\n`)
    return 1
  }
}

export const generateSpec: Command = { name: 'generate', summary: 'write deterministic sample exports and catalogs', usage: generateUsage, options, run: async v => await run(v) }

/** Runs `generate` with the arguments after the command name; returns the exit code. */
export async function generateCommand (argv: string[]): Promise<number> {
  return await runCommand(generateSpec, argv[0] === 'generate' ? argv.slice(1) : argv, stdio)
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
