/**
 * The bench's inputs, generated once and cached: a base export and its
 * changed version per size, and the pre-flattened CSVs the psql/pgloader
 * methods load. Everything is a pure function of (size, seed), so a cache
 * hit is checked by comparing the generator options in the .meta.json
 * sidecar, never by trusting a file name.
 */
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { once } from 'node:events'
import { writeExport, type GenerateOptions } from '../tools/generate'
import { metaOf } from '../tools/generate/export'
import { normalizeCardtraderProduct } from '../src/transform/cardtrader'
import { COLUMNS, sizeLabel } from './lib'

export const SEED = 1
export const CACHE_DIR = process.env.BENCH_DIR ?? '/tmp/brx-bench'

export interface Exports { size: number, base: string, changed: string }

export const baseOptions = (products: number): GenerateOptions => ({ products, seed: SEED })
export const changedOptions = (products: number): GenerateOptions => ({ products, seed: SEED, change: 0.05, add: 0.01, remove: 0.01 })

/** `file` holds the export generated with `o`, unless it already did. */
export async function ensureExport (file: string, o: GenerateOptions, log: (s: string) => void): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true })
  const want = JSON.stringify({ ...metaOf(o), format: 'json' })
  try {
    const have = JSON.parse(await fs.promises.readFile(`${file}.meta.json`, 'utf8')) as Record<string, unknown>
    if (JSON.stringify(have) === want && fs.existsSync(file)) return
  } catch {}
  log(`generating ${path.basename(file)} ...`)
  // A regenerated export invalidates everything derived from it (CSVs, binary files, scripts).
  for (const f of await fs.promises.readdir(path.dirname(file))) {
    if (f.startsWith(path.basename(file) + '.')) await fs.promises.rm(path.join(path.dirname(file), f))
  }
  await writeExport(file, { ...o, format: 'json' })
}

export async function ensureExports (size: number, log: (s: string) => void): Promise<Exports> {
  const base = path.join(CACHE_DIR, `base-${sizeLabel(size)}.json`)
  const changed = path.join(CACHE_DIR, `changed-${sizeLabel(size)}.json`)
  await ensureExport(base, baseOptions(size), log)
  await ensureExport(changed, changedOptions(size), log)
  return { size, base, changed }
}

/**
 * The records of an export written by writeExport: one record per line
 * ("[", then "{...}," lines, then "]"), so the CSV flattener and the sliced
 * per-row method read it in O(1) memory without a streaming JSON parser.
 */
export async function * records (file: string, limit = Infinity): AsyncGenerator<string> {
  const input = fs.createReadStream(file)
  const rl = readline.createInterface({ input, crlfDelay: Infinity })
  let n = 0
  try {
    for await (const line of rl) {
      if (line.length === 0 || line === '[' || line === ']') continue
      if (n++ >= limit) break
      yield line.endsWith(',') ? line.slice(0, -1) : line
    }
  } finally {
    rl.close()
    input.destroy() // closing readline leaves its input open when we stop early
  }
}

/** One normalized row, in COLUMNS order: exactly what brx-sync stores (same normalizer, no mapping). */
export function toRow (rec: unknown, user: string): unknown[] {
  const out = new Array<unknown>(COLUMNS.length - 1)
  normalizeCardtraderProduct(rec, out)
  return [user, ...out]
}

/** CSV as PostgreSQL reads it: unquoted empty = NULL, quoted "" = empty string. */
function csvField (v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number') return String(v)
  if (typeof v === 'boolean') return v ? 't' : 'f'
  return `"${String(v).replace(/"/g, '""')}"`
}

/**
 * `${export}.${tag}.csv`: the export flattened for one user — the work the
 * "limit" methods get for free, done before their timers start.
 */
export async function flattenCsv (exportFile: string, user: string, tag: string): Promise<string> {
  const out = `${exportFile}.${tag}.csv`
  if (fs.existsSync(out)) return out
  const tmp = `${out}.${process.pid}.tmp`
  const ws = fs.createWriteStream(tmp)
  let buf = ''
  for await (const line of records(exportFile)) {
    buf += toRow(JSON.parse(line), user).map(csvField).join(',') + '\n'
    if (buf.length > 1 << 20) {
      const ok = ws.write(buf)
      buf = ''
      if (!ok) await once(ws, 'drain')
    }
  }
  ws.end(buf)
  await once(ws, 'finish')
  await fs.promises.rename(tmp, out)
  return out
}

/** The external_stock_ids of the first `n` records (what a sliced method touched). */
export async function sliceIds (file: string, n: number): Promise<string[]> {
  const ids: string[] = []
  for await (const line of records(file, n)) ids.push(String((JSON.parse(line) as { id: unknown }).id))
  return ids
}
