/**
 * `brx-sync generate --dataset catalog-snapshots|market-candles|order-book`:
 * a preset's sample input, deterministic (same options, same bytes). Part of
 * the `generate` command (cli.ts), which hands it the parsed flags.
 */
import fs from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import { UsageError, type Values } from '../../src/cli/command'
import { count, int, parseFraction } from './flags'
import { candlesNdjson, catalogCsv, orderBookNdjson, orderBookSources, type PresetSample } from './presets'

export const presetUsage = `A preset's sample input (instead of --products):
  --dataset NAME        catalog-snapshots (CSV), market-candles (NDJSON), order-book (NDJSON)
  --rows N              records (default 1000)
  --seed S, --out FILE|-, --dup-rate P, --bad-rate P, --change P, --change-seed S as above
  --offset N            market-candles: first candle index per series (rows/2 = half overlap)
  --sources DIR         order-book: also write DIR/faturamento_produto.tsv and DIR/separacao.tsv
                        (3 rows per order line, COPY text: psql -c "\\copy faturamento_produto FROM ...")
`

/** Flags that only a preset's sample takes. */
export const PRESET_ONLY_FLAGS = ['rows', 'offset', 'sources'] as const
/** The export generator's flags, which a preset's sample refuses. */
const EXPORT_ONLY_FLAGS = ['products', 'from', 'format', 'blueprints', 'catalog', 'add', 'remove'] as const

const GENERATORS: Record<string, (o: PresetSample) => Generator<string>> = {
  'catalog-snapshots': catalogCsv,
  'market-candles': candlesNdjson,
  'order-book': orderBookNdjson,
}

/** Writes lines to a stream, honouring backpressure. */
export async function writeLines (lines: Iterable<string>, out: NodeJS.WritableStream): Promise<void> {
  let buf: string[] = []
  for (const l of lines) {
    buf.push(l)
    if (buf.length >= 4096) {
      if (!out.write(buf.join('\n') + '\n')) await once(out, 'drain')
      buf = []
    }
  }
  if (buf.length > 0) out.write(buf.join('\n') + '\n')
}

/** A preset's sample as a file (for tests, the demo and the bench). */
export async function writePresetSample (dataset: string, o: PresetSample, file: string): Promise<void> {
  const gen = GENERATORS[dataset]
  if (gen === undefined) throw new Error(`no generator for dataset ${dataset} (known: ${Object.keys(GENERATORS).join(', ')})`)
  const out = fs.createWriteStream(file)
  const closed = once(out, 'close')
  await writeLines(gen(o), out)
  out.end()
  await closed
}

const str = (v: string | boolean | undefined): string | undefined => typeof v === 'string' ? v : undefined

function sampleOptions (v: Values): PresetSample {
  const wrong = EXPORT_ONLY_FLAGS.find(f => v[f] !== undefined)
  if (wrong !== undefined) throw new UsageError(`--${wrong} does not apply to --dataset (a preset's sample).`)
  return {
    rows: count('rows', str(v.rows)) ?? 1000,
    seed: int('seed', str(v.seed)),
    dupRate: parseFraction('dup-rate', str(v['dup-rate'])),
    badRate: parseFraction('bad-rate', str(v['bad-rate'])),
    change: parseFraction('change', str(v.change)),
    changeSeed: int('change-seed', str(v['change-seed'])),
    offset: count('offset', str(v.offset)),
  }
}

/** `generate --dataset NAME ...`, with the flags `generate` parsed. */
export async function generatePreset (v: Values): Promise<number> {
  const dataset = String(v.dataset)
  const gen = GENERATORS[dataset]
  if (gen === undefined) throw new UsageError(`--dataset must be one of ${Object.keys(GENERATORS).join(', ')}, got "${dataset}".`)
  const o = sampleOptions(v)
  const sources = str(v.sources)
  if (sources !== undefined && dataset !== 'order-book') throw new UsageError('--sources applies to --dataset order-book only.')
  const file = str(v.out) ?? '-'
  const out = file === '-' ? process.stdout : fs.createWriteStream(file)
  out.on('error', () => { /* surfaced by the write or the close awaited below */ })
  await writeLines(gen(o), out)
  if (out !== process.stdout) { out.end(); await once(out, 'close') }
  if (sources !== undefined) {
    const s = orderBookSources(o.rows, 3, o.seed ?? 1)
    fs.mkdirSync(sources, { recursive: true })
    fs.writeFileSync(path.join(sources, 'faturamento_produto.tsv'), s.faturamento.join('\n') + '\n')
    fs.writeFileSync(path.join(sources, 'separacao.tsv'), s.separacao.join('\n') + '\n')
  }
  process.stderr.write(`brx-sync generate: ${o.rows.toLocaleString('en-US')} ${dataset} records (seed ${o.seed ?? 1}) -> ${file === '-' ? 'stdout' : file}\n`)
  return 0
}
