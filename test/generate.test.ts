import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import {
  catalogEntry, CATALOG_TABLES, generateCommand, generateProducts, readMeta, summarize, writeCatalog, writeExport,
  type GenerateOptions,
} from '../tools/generate'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brx-generate-'))
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
const tmp = (name: string): string => path.join(dir, name)

/** The records of a JSON-array export, one per line as the generator writes them. */
function jsonLines (text: string): string[] {
  assert.ok(text.startsWith('[\n') && text.endsWith('\n]\n'), 'array framing')
  return text.slice(2, -3).split('\n').map(l => l.endsWith(',') ? l.slice(0, -1) : l)
}

/** What a strict normalizer must accept; the generator's bad records must all fail it. */
function isValid (p: Record<string, unknown>): boolean {
  const int4 = (x: unknown): boolean => Number.isInteger(x) && (x as number) <= 2 ** 31 - 1
  const price = p.price_cents ?? (p.price as { cents?: unknown } | undefined)?.cents
  return int4(p.id) && int4(p.blueprint_id) && int4(p.quantity) && (p.quantity as number) >= 0 &&
    int4(price) && (price as number) >= 0 && typeof p.properties_hash === 'object' && p.properties_hash !== null
}

const within = (actual: number, expected: number, tol: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual}, expected ${expected} ± ${tol}`)

test('same options give the same bytes; another seed does not', async () => {
  await writeExport(tmp('a.json'), { products: 3000, seed: 7 })
  await writeExport(tmp('b.json'), { products: 3000, seed: 7 })
  await writeExport(tmp('c.json'), { products: 3000, seed: 8 })
  const a = fs.readFileSync(tmp('a.json'))
  assert.ok(a.equals(fs.readFileSync(tmp('b.json'))))
  assert.ok(!a.equals(fs.readFileSync(tmp('c.json'))))
})

test('JSON array and NDJSON are valid, one product per line, realistic size and shape', async () => {
  const o = { products: 4000, seed: 3 }
  const rj = await writeExport(tmp('x.json'), o)
  const rn = await writeExport(tmp('x.ndjson'), { ...o, format: 'ndjson' })
  const json = fs.readFileSync(tmp('x.json'), 'utf8')
  const arr = JSON.parse(json) as Array<Record<string, unknown>>
  assert.equal(arr.length, 4000)
  assert.equal(rj.products, 4000)
  assert.equal(rj.bytes, Buffer.byteLength(json))
  assert.deepEqual(jsonLines(json).map(l => JSON.parse(l)), arr)
  const nd = fs.readFileSync(tmp('x.ndjson'), 'utf8')
  assert.equal(rn.bytes, Buffer.byteLength(nd))
  assert.ok(nd.endsWith('\n'))
  assert.deepEqual(nd.trimEnd().split('\n').map(l => JSON.parse(l)), arr)

  const avg = rj.bytes / arr.length
  assert.ok(avg > 400 && avg < 700, `average record ${avg} bytes`)
  assert.equal(new Set(arr.map(p => p.id)).size, arr.length)
  assert.ok(arr.every(isValid))
  const graded = new Set(arr.map(p => JSON.stringify(p.graded)))
  for (const g of ['false', '"false"', '0', 'true', '"true"', '1', 'null']) assert.ok(graded.has(g), `graded form ${g}`)
  assert.ok(arr.some(p => 'price' in p && !('price_cents' in p)), 'alternative price form')
  assert.ok(arr.some(p => /[^\x00-\x7f]/.test(p.name_en as string)), 'non-ASCII names')
  assert.ok(arr.some(p => /[\u3040-\u30ff]/.test(p.name_en as string)), 'Japanese names')
  assert.ok(arr.some(p => (p.uploaded_images as unknown[]).length > 0))
  assert.deepEqual(new Set(arr.map(p => p.game_id)), new Set([1, 4, 5, 6, 15]))
  assert.deepEqual(await readMeta(tmp('x.json')), { products: 4000, seed: 3, blueprints: 120_000 })
})

test('a changed version: same order minus removals, ~5% changed, 1% added, the rest byte-identical', async () => {
  const base: GenerateOptions = { products: 20_000, seed: 11 }
  const next: GenerateOptions = { ...base, change: 0.05 }
  await writeExport(tmp('v0.json'), base)
  await writeExport(tmp('v1.json'), next)
  const before = jsonLines(fs.readFileSync(tmp('v0.json'), 'utf8'))
  const after = jsonLines(fs.readFileSync(tmp('v1.json'), 'utf8'))
  const idOf = (l: string): number => JSON.parse(l).id
  const old = new Map(before.map(l => [idOf(l), l]))

  let changed = 0
  let added = 0
  let lastBase = -1
  const kept = new Set<number>()
  for (const line of after) {
    const id = idOf(line)
    const prev = old.get(id)
    if (prev === undefined) { added++; continue }
    assert.equal(added, 0, 'added products come after all base products')
    assert.ok(id > lastBase, 'base order preserved')
    lastBase = id
    kept.add(id)
    if (prev === line) continue
    changed++
    const a = JSON.parse(prev)
    const b = JSON.parse(line)
    for (const p of [a, b]) { delete p.quantity; delete p.price_cents; if (p.price !== undefined) delete p.price.cents }
    assert.deepEqual(b, a, 'only price and quantity change')
  }
  const removed = before.length - kept.size
  within(changed, 1000, 150, 'changed')
  within(removed, 200, 60, 'removed')
  assert.equal(added, 200)
  const s = summarize(next)
  assert.deepEqual([s.changed, s.removed, s.added, s.records], [changed, removed, added, after.length])
  assert.deepEqual(await readMeta(tmp('v1.json')), { products: 20_000, seed: 11, blueprints: 120_000, change: 0.05, add: 0.01, remove: 0.01, changeSeed: 12 })
})

test('duplicates: an outdated copy first, the real one later; bad records are invalid but parse', () => {
  const o = { products: 12_000, seed: 5, dupRate: 0.01, badRate: 0.01 }
  const clean = [...generateProducts({ products: 12_000, seed: 5 })]
  const noisy = [...generateProducts(o)]
  const s = summarize(o)
  assert.equal(noisy.length, s.records)
  assert.equal(noisy.length - clean.length, s.duplicates)
  within(s.duplicates, 120, 45, 'duplicates')
  within(s.bad, 120, 45, 'bad')

  const last = new Map<unknown, Record<string, unknown>>()
  const first = new Map<unknown, Record<string, unknown>>()
  let bad = 0
  for (const p of noisy) {
    if (!isValid(p)) { bad++; continue }
    if (!first.has(p.id)) first.set(p.id, p)
    last.set(p.id, p)
  }
  assert.equal(bad, s.bad)
  assert.equal(last.size, s.valid)
  for (const p of clean) {
    const q = last.get(p.id)
    if (q === undefined) continue // made bad
    assert.deepEqual(q, p, 'last copy wins and equals the product without noise')
    if (first.get(p.id) !== q) assert.notEqual(first.get(p.id)!.quantity, q.quantity)
  }
})

test('100k products touch a plausible number of distinct blueprints', () => {
  const seen = new Set<unknown>()
  for (const p of generateProducts({ products: 100_000, seed: 1 })) seen.add(p.blueprint_id)
  assert.ok(seen.size > 50_000 && seen.size < 75_000, `${seen.size} distinct blueprints`)
  assert.equal(summarize({ products: 100_000, seed: 1 }).distinctBlueprints, seen.size)
  within(summarize({ products: 250_000, seed: 1 }).distinctBlueprints, 100_000, 8000, '250k products')
})

test('catalog: ~97% mapped, ~1% in two tables, distinct print ids per table, catalogEntry is its oracle', async () => {
  const blueprints = 30_000
  const { rows } = await writeCatalog(tmp('catalog.csv'), { seed: 9, blueprints })
  const lines = fs.readFileSync(tmp('catalog.csv'), 'utf8').trimEnd().split('\n')
  assert.equal(lines[0], 'cardtrader_id,print_id,table')
  assert.equal(lines.length - 1, rows)
  const byBp = new Map<number, Array<{ table: string, printId: number }>>()
  const ids = new Map<string, Set<number>>()
  for (const l of lines.slice(1)) {
    const [bp, printId, table] = l.split(',')
    assert.ok((CATALOG_TABLES as readonly string[]).includes(table))
    const list = byBp.get(+bp) ?? []
    list.push({ table, printId: +printId })
    byBp.set(+bp, list)
    const set = ids.get(table) ?? new Set()
    assert.ok(!set.has(+printId), `print id ${printId} repeated in ${table}`)
    set.add(+printId)
    ids.set(table, set)
  }
  let overlap = 0
  let fileOrderWrong = 0
  for (let bp = 1; bp <= blueprints; bp++) {
    const inFile = byBp.get(bp) ?? []
    const oracle = catalogEntry(bp, 9)
    assert.deepEqual([...inFile].sort((a, b) => a.table.localeCompare(b.table)), [...oracle].sort((a, b) => a.table.localeCompare(b.table)))
    if (oracle.length === 2) {
      overlap++
      assert.ok(CATALOG_TABLES.indexOf(oracle[0].table as never) < CATALOG_TABLES.indexOf(oracle[1].table as never))
      if (inFile[0].table !== oracle[0].table) fileOrderWrong++
    }
  }
  within(blueprints - byBp.size, blueprints * 0.03, blueprints * 0.006, 'unmapped')
  within(overlap, blueprints * 0.01, blueprints * 0.004, 'in two tables')
  assert.ok(fileOrderWrong > 0 && fileOrderWrong < overlap, 'file order alone does not give the priority winner')
  // The export's blueprints agree with the catalog's tables.
  const own: Record<number, string> = { 1: 'cards_prints', 15: 'op_prints', 5: 'pk_prints', 4: 'sealed_products', 75: 'sealed_products', 193: 'sealed_products' }
  for (const p of generateProducts({ products: 2000, seed: 9, blueprints })) {
    const tables = catalogEntry(p.blueprint_id as number, 9).map(e => e.table)
    if (p.game_id === 4 || p.game_id === 6) assert.deepEqual(tables, [], 'Yu-Gi-Oh and FaB are the unmapped games')
    else assert.ok(tables.includes(own[p.category_id === 1 ? 1 : p.category_id === 73 ? 5 : p.category_id === 192 ? 15 : p.category_id as number]))
  }
})

test('gzip round trip', async () => {
  const o = { products: 3000, seed: 2 }
  await writeExport(tmp('g.json'), o)
  const r = await writeExport(tmp('g.json.gz'), o)
  const gz = fs.readFileSync(tmp('g.json.gz'))
  assert.equal(r.bytes, gz.length)
  assert.ok(zlib.gunzipSync(gz).equals(fs.readFileSync(tmp('g.json'))))
  assert.equal((await readMeta(tmp('g.json.gz'))).products, 3000)
})

test('readMeta explains a missing sidecar', async () => {
  await assert.rejects(readMeta(tmp('nope.json')), /nope\.json\.meta\.json not found/)
})

test('cli: --from makes a changed version; usage errors exit 2', async () => {
  const errs: string[] = []
  const write = process.stderr.write
  process.stderr.write = ((s: string) => { errs.push(String(s)); return true }) as typeof process.stderr.write
  try {
    assert.equal(await generateCommand(['--products', '2k', '--seed', '4', '--out', tmp('c0.json'), '--catalog', tmp('c.csv'), '--blueprints', '5000']), 0)
    assert.equal(await generateCommand(['generate', '--from', tmp('c0.json'), '--change', '5%', '--out', tmp('c1.ndjson')]), 0)
    assert.deepEqual(await readMeta(tmp('c1.ndjson')), { products: 2000, seed: 4, blueprints: 5000, change: 0.05, add: 0.01, remove: 0.01, changeSeed: 5 })
    const viaApi = [...generateProducts({ products: 2000, seed: 4, blueprints: 5000, change: 0.05 })].map(p => JSON.stringify(p) + '\n').join('')
    assert.equal(fs.readFileSync(tmp('c1.ndjson'), 'utf8'), viaApi)
    assert.ok(fs.existsSync(tmp('c.csv')))

    errs.length = 0
    assert.equal(await generateCommand(['--products', '10', '--change', '5']), 2)
    assert.match(errs.join(''), /did you mean "5%"/)
    assert.equal(await generateCommand(['--bogus']), 2)
    assert.equal(await generateCommand([]), 2)
    assert.equal(await generateCommand(['--from', tmp('missing.json')]), 2)
    assert.equal(await generateCommand(['--from', tmp('c1.ndjson')]), 2)
    assert.match(errs.join(''), /itself a changed version/)
    assert.equal(await generateCommand(['--from', tmp('c0.json'), '--seed', '5', '--out', tmp('c2.json')]), 2)
    assert.match(errs.join(''), /--seed 5 contradicts/)
    assert.equal(fs.existsSync(tmp('c2.json')), false)
  } finally {
    process.stderr.write = write
  }
})
