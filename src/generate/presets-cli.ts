/**
 * `brx-sync generate --dataset catalog-snapshots|market-candles|order-book`:
 * a preset's sample input, deterministic (same options, same bytes).
 */
import fs from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { candlesNdjson, catalogCsv, orderBookNdjson, orderBookSources, type PresetSample } from './presets'

export const presetGenerateUsage = `Usage: brx-sync generate --dataset NAME --rows N [options]

  --dataset NAME     catalog-snapshots (CSV), market-candles (NDJSON), order-book (NDJSON)
  --rows N           records (default 1000)
  --seed S           random seed (default 1)
  --out FILE|-       output (default '-')
  --dup-rate P       share of records listed twice (an outdated copy, then the real one)
  --bad-rate P       share of invalid records
  --change P         share of records with other values (a later version), --change-seed S
  --offset N         market-candles: first candle index per series (rows/2 = half overlap)
  --sources DIR      order-book: also write DIR/faturamento_produto.tsv and DIR/separacao.tsv
                     (3 rows per order line, COPY text: psql -c "\\copy faturamento_produto FROM ...")
`

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

const frac = (v: string | undefined): number | undefined => v === undefined ? undefined : v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : Number(v)
const num = (v: string | undefined): number | undefined => v === undefined ? undefined : Number(v.replace(/_/g, '').replace(/k$/i, '000'))

export async function presetGenerateCommand (argv: string[]): Promise<number> {
  const args = argv[0] === 'generate' ? argv.slice(1) : argv
  let v: Record<string, string | boolean | undefined>
  try {
    v = parseArgs({ args, strict: true, options: { help: { type: 'boolean', short: 'h' }, dataset: { type: 'string' }, rows: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, 'dup-rate': { type: 'string' }, 'bad-rate': { type: 'string' }, change: { type: 'string' }, 'change-seed': { type: 'string' }, offset: { type: 'string' }, sources: { type: 'string' } } }).values
  } catch (err) {
    process.stderr.write(`brx-sync generate: ${(err as Error).message}\n\n${presetGenerateUsage}`)
    return 2
  }
  if (v.help === true) { process.stdout.write(presetGenerateUsage); return 0 }
  const dataset = String(v.dataset)
  const o: PresetSample = { rows: num(v.rows as string) ?? 1000, seed: num(v.seed as string), dupRate: frac(v['dup-rate'] as string), badRate: frac(v['bad-rate'] as string), change: frac(v.change as string), changeSeed: num(v['change-seed'] as string), offset: num(v.offset as string) }
  const bad = Object.entries(o).find(([, x]) => x !== undefined && !Number.isFinite(x))
  if (GENERATORS[dataset] === undefined || bad !== undefined) {
    process.stderr.write(`brx-sync generate: ${bad !== undefined ? `--${bad[0]} must be a number` : `--dataset must be one of ${Object.keys(GENERATORS).join(', ')}`}.\n\n${presetGenerateUsage}`)
    return 2
  }
  const out = v.out === undefined || v.out === '-' ? process.stdout : fs.createWriteStream(v.out as string)
  await writeLines(GENERATORS[dataset](o), out)
  if (out !== process.stdout) { out.end(); await once(out, 'close') }
  if (typeof v.sources === 'string' && dataset === 'order-book') {
    const s = orderBookSources(o.rows, 3, o.seed ?? 1)
    fs.mkdirSync(v.sources, { recursive: true })
    fs.writeFileSync(path.join(v.sources, 'faturamento_produto.tsv'), s.faturamento.join('\n') + '\n')
    fs.writeFileSync(path.join(v.sources, 'separacao.tsv'), s.separacao.join('\n') + '\n')
  }
  process.stderr.write(`generated ${o.rows} ${dataset} records (seed ${o.seed ?? 1})\n`)
  return 0
}
