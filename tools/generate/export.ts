/**
 * Export files: the products as a JSON array (the shape `/products/export`
 * returns) or NDJSON, plus a `.meta.json` sidecar recording the options, so a
 * later "changed version" can be regenerated from the options instead of by
 * parsing the previous export.
 */
import fs from 'node:fs'
import { generateProducts, resolveOptions, type GenerateOptions } from './products'
import { writeChunks } from './sink'

export type ExportFormat = 'json' | 'ndjson'

/** The option keys a meta file may carry; anything else in it is ignored. */
const META_KEYS = ['products', 'seed', 'blueprints', 'change', 'add', 'remove', 'changeSeed', 'dupRate', 'badRate'] as const

export function metaPath (path: string): string {
  return path.endsWith('.meta.json') ? path : `${path}.meta.json`
}

/** json unless the name says otherwise (.ndjson, .jsonl, optionally .gz). */
export function formatFromPath (path: string): ExportFormat {
  return /\.(ndjson|jsonl)(\.gz)?$/i.test(path) ? 'ndjson' : 'json'
}

/** The options as written to the sidecar: defaults filled in, change keys only for a changed version. */
export function metaOf (o: GenerateOptions): GenerateOptions {
  const r = resolveOptions(o)
  const m: GenerateOptions = { products: r.products, seed: r.seed, blueprints: r.blueprints }
  if (r.change > 0 || r.add > 0 || r.remove > 0) Object.assign(m, { change: r.change, add: r.add, remove: r.remove, changeSeed: r.changeSeed })
  if (r.dupRate > 0) m.dupRate = r.dupRate
  if (r.badRate > 0) m.badRate = r.badRate
  return m
}

function * serialize (o: GenerateOptions, format: ExportFormat, counter: { n: number }): Generator<string> {
  if (format === 'ndjson') {
    for (const p of generateProducts(o)) {
      counter.n++
      yield JSON.stringify(p) + '\n'
    }
    return
  }
  yield '['
  for (const p of generateProducts(o)) {
    yield (counter.n++ === 0 ? '\n' : ',\n') + JSON.stringify(p)
  }
  yield '\n]\n'
}

/**
 * Writes the export to `path` ('-' = stdout, '.gz' = gzipped) and, for files,
 * `${path}.meta.json`. `products` in the result counts the records written
 * (duplicate copies and bad records included); `bytes` is what landed on
 * disk or stdout (compressed for '.gz').
 */
export async function writeExport (path: string, o: GenerateOptions & { format?: ExportFormat }): Promise<{ products: number, bytes: number }> {
  const { format: f, ...options } = o
  const format = f ?? formatFromPath(path)
  if (format !== 'json' && format !== 'ndjson') throw new RangeError(`format must be "json" or "ndjson", got ${JSON.stringify(f)}.`)
  const meta = metaOf(options) // validates before anything is created
  const counter = { n: 0 }
  const { bytes } = await writeChunks(path, serialize(options, format, counter))
  if (path !== '-') await fs.promises.writeFile(metaPath(path), JSON.stringify({ ...meta, format }, null, 2) + '\n')
  return { products: counter.n, bytes }
}

/** The options an export was generated with, from its `.meta.json` (the export itself is not read). */
export async function readMeta (path: string): Promise<GenerateOptions> {
  const file = metaPath(path)
  let text: string
  try {
    text = await fs.promises.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${file} not found: ${path} was not written by \`brx-sync generate\` (or its .meta.json was removed), so its generation options are unknown.`)
    }
    throw new Error(`Cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file} must hold a JSON object of generate options.`)
  const o: Record<string, unknown> = {}
  for (const k of META_KEYS) if ((raw as Record<string, unknown>)[k] !== undefined) o[k] = (raw as Record<string, unknown>)[k]
  try {
    resolveOptions(o as unknown as GenerateOptions)
  } catch (err) {
    throw new Error(`${file} holds invalid generate options: ${(err as Error).message}`, { cause: err })
  }
  return o as unknown as GenerateOptions
}
