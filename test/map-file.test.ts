import { test } from 'node:test'
import { rng } from './helpers'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { createResolver, newMappingStats } from '../src/map'
import type { BlueprintResolver } from '../src/map'
import type { CatalogTable } from '../src/options'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brx-map-file-'))
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))

function write (name: string, text: string | Buffer): string {
  const f = path.join(dir, name)
  fs.writeFileSync(f, text)
  return f
}

const TABLES: CatalogTable[] = [
  { table: 'cards_prints', kind: 'cards_prints' },
  { table: 'op_prints', kind: 'op_prints' },
  { table: 'pk_prints', kind: 'pk_prints' },
  { table: 'sealed_products', kind: 'sealed_products' },
]


type Row = [cardtraderId: number, printId: number, table: string]

/** The rule, written as plainly as possible: configured table order, then the smallest print id. */
function reference (rows: Row[], tables: CatalogTable[], id: number): { printId: number, kind: string } | undefined {
  for (const t of tables) {
    let best: number | undefined
    for (const [c, p, tn] of rows) if (tn === t.table && c === id && (best === undefined || p < best)) best = p
    if (best !== undefined) return { printId: best, kind: t.kind ?? t.table }
  }
  return undefined
}

async function resolveAll (r: BlueprintResolver, ids: number[]): Promise<Array<{ printId: number, kind: string } | undefined>> {
  const res = await r.resolve(Int32Array.from(ids), newMappingStats())
  return ids.map((_, i) => res.kinds[i] === 0 ? undefined : { printId: res.printIds[i], kind: r.kinds[res.kinds[i] - 1] })
}

test('file source matches a plain-loop reference on random catalogs (CSV, NDJSON, gzip)', async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1e9)
  const rnd = rng(seed)
  const names = ['cards_prints', 'op_prints', 'pk_prints', 'sealed_products', 'unknown_table']
  const rows: Row[] = []
  for (let i = 0; i < 3000; i++) {
    // Small id space: overlaps across tables and duplicates within one table are common.
    rows.push([1 + Math.floor(rnd() * 800), Math.floor(rnd() * 2 ** 31) - (rnd() < 0.05 ? 2 ** 31 : 0), names[Math.floor(rnd() * names.length)]])
  }
  const csv = 'name,table,print_id,cardtrader_id\n' + rows.map(([c, p, t]) => `"a, ""card""",${t},${p},${c}`).join('\r\n') + '\n'
  const ndjson = rows.map(([c, p, t]) => JSON.stringify({ cardtrader_id: c, print_id: String(p), table: t })).join('\n')
  const files = [write('r.csv', csv), write('r.ndjson', ndjson), write('r.csv.gz', zlib.gzipSync(csv))]
  const ids = Array.from({ length: 1000 }, (_, i) => i)
  // Also a different priority order.
  for (const tables of [TABLES, [TABLES[3], TABLES[1], TABLES[0]]]) {
    const expected = ids.map(id => reference(rows, tables, id))
    for (const f of files) {
      const r = createResolver({ catalogFile: f, tables }, undefined)
      assert.equal(r.source, 'file')
      await r.check()
      assert.deepEqual(await resolveAll(r, ids), expected, `seed ${seed}, ${f}`)
      await r.close()
    }
  }
})

test('file source: priority between tables, exclude flags, shared kind labels', async () => {
  const f = write('p.csv', 'cardtrader_id,print_id,table\n1,100,sealed_products\n1,101,cards_prints\n2,200,sealed_products\n2,199,sealed_products\n3,300,op_prints\n3,301,pk_prints\n4,400,nowhere\n')
  const r = createResolver({ source: 'file', catalogFile: f, exclude: ['sealed_products'] })
  assert.deepEqual(r.kinds, ['cards_prints', 'op_prints', 'pk_prints', 'sealed_products'])
  assert.deepEqual([...r.excluded], [0, 0, 0, 0, 1])
  assert.deepEqual(await resolveAll(r, [1, 2, 3, 4, 5]), [
    { printId: 101, kind: 'cards_prints' },
    { printId: 199, kind: 'sealed_products' },
    { printId: 300, kind: 'op_prints' },
    undefined,
    undefined,
  ])
  const shared = createResolver({ catalogFile: f, tables: [{ table: 'pk_prints', kind: 'tcg' }, { table: 'sealed_products', kind: 'sealed' }, { table: 'op_prints', kind: 'tcg' }], exclude: ['tcg'] })
  assert.deepEqual(shared.kinds, ['tcg', 'sealed'])
  assert.deepEqual([...shared.excluded], [0, 1, 0])
  // pk_prints outranks op_prints although both are "tcg".
  assert.deepEqual(await resolveAll(shared, [3, 1]), [{ printId: 301, kind: 'tcg' }, { printId: 100, kind: 'sealed' }])
})

test('file source: a changed file is seen after clearCache()', async () => {
  const f = write('c.csv', 'cardtrader_id,print_id,table\n7,70,op_prints\n')
  const r = createResolver({ catalogFile: f })
  assert.deepEqual(await resolveAll(r, [7]), [{ printId: 70, kind: 'op_prints' }])
  fs.writeFileSync(f, 'cardtrader_id,print_id,table\n7,71,cards_prints\n')
  assert.deepEqual(await resolveAll(r, [7]), [{ printId: 70, kind: 'op_prints' }])
  r.clearCache()
  assert.deepEqual(await resolveAll(r, [7]), [{ printId: 71, kind: 'cards_prints' }])
})

test('file source: missing or garbled files fail check() with the file and line named', async () => {
  const cases: Array<[string, string | undefined, RegExp]> = [
    ['missing.csv', undefined, /missing\.csv cannot be read: it does not exist/],
    ['empty.csv', '\n\n', /empty\.csv is empty/],
    ['header.csv', 'blueprint,print\n1,2\n', /header\.csv line 1: the header must name cardtrader_id, print_id and table/],
    ['fields.csv', 'cardtrader_id,print_id,table\n1,2,cards_prints\n3,4\n', /fields\.csv line 3: expected 3 comma-separated fields, got 2/],
    ['quote.csv', 'cardtrader_id,print_id,table\n1,2,"cards_prints\n', /quote\.csv line 2: .*unterminated quote/],
    ['notint.csv', 'cardtrader_id,print_id,table\n1,2,cards_prints\n\n1x,2,cards_prints\n', /notint\.csv line 4: cardtrader_id "1x" is not a 32-bit integer/],
    ['big.csv', 'cardtrader_id,print_id,table\n1,2147483648,cards_prints\n', /big\.csv line 2: print_id "2147483648"/],
    ['json.ndjson', '{"cardtrader_id":1,"print_id":2,"table":"op_prints"}\n{"cardtrader_id":1,\n', /json\.ndjson line 2: not valid JSON/],
    ['notable.ndjson', '{"cardtrader_id":1,"print_id":2}\n', /notable\.ndjson line 1: table is missing/],
  ]
  for (const [name, text, re] of cases) {
    const f = text === undefined ? path.join(dir, name) : write(name, text)
    const r = createResolver({ catalogFile: f })
    await assert.rejects(r.check(), (e: any) => {
      assert.equal(e.code, 'BRX_ERR_CATALOG_UNAVAILABLE', name)
      assert.match(e.message, re)
      assert.equal(e.file, f)
      return true
    })
    // resolve() fails the same way: never "everything unmapped".
    await assert.rejects(r.resolve(Int32Array.of(1), newMappingStats()), { code: 'BRX_ERR_CATALOG_UNAVAILABLE' })
  }
})

test('source selection, defaults and configuration errors', async () => {
  const saved = process.env.MYSQL_URL
  delete process.env.MYSQL_URL
  try {
    const none = createResolver(undefined)
    assert.equal(none.source, 'none')
    assert.deepEqual(none.kinds, ['cards_prints', 'op_prints', 'pk_prints', 'sealed_products'])
    const res = await none.resolve(Int32Array.of(1, 2, 3), newMappingStats())
    assert.deepEqual([...res.kinds, ...res.printIds], [0, 0, 0, 0, 0, 0])
    assert.equal(createResolver({ catalogFile: 'x.csv' }).source, 'file')
    assert.equal(createResolver({ mysqlUrl: 'mysql://u:p@h/db', catalogFile: 'x.csv' }).source, 'mysql')
    process.env.MYSQL_URL = 'mysql://u@h/db'
    assert.equal(createResolver({}).source, 'mysql')
    assert.equal(createResolver({ catalogFile: 'x.csv' }).source, 'file', 'an explicit catalogFile beats MYSQL_URL')
    assert.equal(createResolver({ source: 'none' }).source, 'none')
  } finally {
    if (saved === undefined) delete process.env.MYSQL_URL
    else process.env.MYSQL_URL = saved
  }
  const bad: Array<[object, RegExp]> = [
    [{ source: 'file' }, /mapping\.catalogFile is required/],
    [{ catalogFile: 'x', tables: [{ table: 'Cards' }] }, /mapping\.tables\[0\]\.table "Cards" is not a valid MySQL identifier/],
    [{ catalogFile: 'x', tables: [{ table: 'a`; DROP TABLE b' }] }, /not a valid MySQL identifier/],
    [{ catalogFile: 'x', tables: [{ table: 'a'.repeat(65) }] }, /not a valid MySQL identifier/],
    [{ catalogFile: 'x', tables: [{ table: 'a', idColumn: 'id x' }] }, /mapping\.tables\[0\]\.idColumn/],
    [{ catalogFile: 'x', tables: [{ table: 'a' }, { table: 'a' }] }, /names "a" twice/],
    [{ catalogFile: 'x', exclude: ['sealed'] }, /mapping\.exclude names "sealed", which is not a configured kind/],
    [{ mysqlUrl: 'not a url' }, /mapping\.mysqlUrl is not a valid URL/],
    [{ mysqlUrl: 'postgres://x/y' }, /must start with mysql:\/\//],
    [{ catalogFile: 'x', cacheSize: 0 }, /mapping\.cacheSize must be a positive integer/],
  ]
  for (const [o, re] of bad) {
    assert.throws(() => createResolver(o), (e: any) => e.code === 'BRX_ERR_OPTIONS_INVALID' && re.test(e.message), JSON.stringify(o))
  }
})
