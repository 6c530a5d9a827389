/**
 * A changed version of ANY export (no `.meta.json` needed): its records are
 * read back, a deterministic share changed (quantity and price), removed,
 * and new ones appended (copies of existing records with fresh ids). Used
 * by `generate --from` when the export was not written by `generate`.
 */
import fs from 'node:fs'
import zlib from 'node:zlib'
import { unit3 } from './prng'
import { writeChunks } from './sink'
import type { ExportFormat } from './export'

export interface ChangeOptions {
  change: number
  add: number
  remove: number
  changeSeed: number
  format?: ExportFormat
}

async function readRecords (file: string): Promise<{ records: unknown[], format: ExportFormat }> {
  let bytes = await fs.promises.readFile(file)
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes)
  const text = bytes.toString('utf8')
  const first = text.trimStart()[0]
  if (first === '[') {
    const parsed: unknown = JSON.parse(text)
    if (!Array.isArray(parsed)) throw new Error(`${file} is not a JSON array.`)
    return { records: parsed, format: 'json' }
  }
  if (first === '{') return { records: text.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as unknown), format: 'ndjson' }
  throw new Error(`${file} is neither a JSON array nor NDJSON.`)
}

const bump = (x: unknown, by: number): unknown => typeof x === 'number' ? Math.max(0, x + by) : x

function changed (rec: Record<string, unknown>, u: number): Record<string, unknown> {
  const out = { ...rec }
  // Price, quantity or both, as the generator's own changes do.
  if (u < 0.66) out.quantity = bump(out.quantity, 1)
  if (u >= 0.33) {
    if (typeof out.price_cents === 'number') out.price_cents = bump(out.price_cents, 7)
    else if (out.price !== null && typeof out.price === 'object') out.price = { ...(out.price as object), cents: bump((out.price as { cents?: unknown }).cents, 7) }
  }
  return out
}

function maxId (records: unknown[]): number {
  let max = 0
  for (const r of records) {
    const id = Number((r as { id?: unknown })?.id)
    if (Number.isSafeInteger(id) && id > max) max = id
  }
  return max
}

/** Writes the changed version of `from` to `out`; returns the counts. */
export async function changeExport (from: string, out: string, o: ChangeOptions): Promise<{ products: number, bytes: number, changed: number, removed: number, added: number }> {
  const { records, format: inFormat } = await readRecords(from)
  const format = o.format ?? inFormat
  const result: unknown[] = []
  let nChanged = 0
  let nRemoved = 0
  records.forEach((r, i) => {
    if (unit3(o.changeSeed, i, 1) < o.remove) { nRemoved++; return }
    const isObject = r !== null && typeof r === 'object' && !Array.isArray(r)
    if (isObject && unit3(o.changeSeed, i, 2) < o.change) { nChanged++; result.push(changed(r as Record<string, unknown>, unit3(o.changeSeed, i, 3))); return }
    result.push(r)
  })
  const objects = records.filter(r => r !== null && typeof r === 'object' && !Array.isArray(r)) as Array<Record<string, unknown>>
  const added = objects.length === 0 ? 0 : Math.round(records.length * o.add)
  let next = maxId(records)
  for (let k = 0; k < added; k++) result.push({ ...objects[Math.floor(unit3(o.changeSeed, k, 4) * objects.length)], id: ++next })
  const parts = format === 'ndjson'
    ? result.map(r => JSON.stringify(r) + '\n')
    : ['[', ...result.map((r, i) => (i === 0 ? '\n' : ',\n') + JSON.stringify(r)), '\n]\n']
  const { bytes } = await writeChunks(out, parts)
  return { products: result.length, bytes, changed: nChanged, removed: nRemoved, added }
}
