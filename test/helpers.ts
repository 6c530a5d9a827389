/**
 * Shared test helpers: one pg pool per test file, random users, seeded
 * randomness, writing exports to temp files (with the byte offset of every
 * record, for checking the rejects file), reading a user's rows back.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import pg from 'pg'
import * as brx from '../src'
import { canonicalJson, type Row } from './model'

/**
 * postgres://127.0.0.1:5432/test, with the OS user made explicit when neither
 * USER nor PGUSER is set (pg would otherwise send no user name at all).
 */
export const DATABASE_URL = process.env.DATABASE_URL ??
  (process.env.USER === undefined && process.env.PGUSER === undefined
    ? `postgres://${encodeURIComponent(os.userInfo().username)}@127.0.0.1:5432/test`
    : 'postgres://127.0.0.1:5432/test')

export function makePool (max = 4): pg.Pool {
  return new pg.Pool({ connectionString: DATABASE_URL, max })
}

export function randomUser (): string {
  return randomUUID()
}

let tmpRoot: string | undefined
/** A fresh path in this process's own temp directory. */
export function tmpPath (name: string): string {
  tmpRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'brx-test-'))
  return path.join(tmpRoot, `${randomUUID().slice(0, 8)}-${name}`)
}

export function removeTmp (): void {
  if (tmpRoot !== undefined) fs.rmSync(tmpRoot, { recursive: true, force: true })
  tmpRoot = undefined
}

/** A seeded () => [0, 1) generator (Prng.next), for tests that only need numbers. */
export function rng (seed: number): () => number {
  const p = new Prng(seed)
  return () => p.next()
}

/** mulberry32, seeded; the seed is printed by the tests on failure. */
export class Prng {
  private s: number
  constructor (readonly seed: number) { this.s = seed >>> 0 }
  next (): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000
  }

  /** Integer in [lo, hi]. */
  int (lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)] }
  shuffle<T> (xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      const t = xs[i]; xs[i] = xs[j]; xs[j] = t
    }
    return xs
  }
}

export function seedFromEnv (name = 'BRX_SEED'): number {
  const s = process.env[name]
  return s !== undefined && s !== '' ? Number(s) >>> 0 : (Math.random() * 0x100000000) >>> 0
}

export interface ExportLayout {
  format: 'json' | 'ndjson'
  gzip?: boolean
  /** Separator between array elements (default ',\n'), or line ending for NDJSON (default '\n'). */
  separator?: string
  /** For arrays: text after '[' and before ']'. */
  pad?: string
  /** NDJSON: end the last line with the line ending too (default true). */
  trailingNewline?: boolean
  /** NDJSON: probability of blank (or whitespace-only) lines between records. */
  blankLines?: number
  /** Start with a UTF-8 byte order mark. */
  bom?: boolean
  /** For blankLines. */
  rng?: Prng
}

export interface WrittenExport {
  path: string
  /** Byte offset of each element in the decompressed file. */
  offsets: number[]
  bytes: number
}

/** Writes raw element texts as a JSON array or NDJSON, returning each element's byte offset. */
export function writeExport (elements: readonly string[], layout: ExportLayout, name = 'export'): WrittenExport {
  const parts: string[] = []
  const offsets: number[] = []
  let pos = 0
  const push = (s: string): void => { parts.push(s); pos += Buffer.byteLength(s, 'utf8') }
  if (layout.bom === true) push('\ufeff')
  if (layout.format === 'json') {
    const sep = layout.separator ?? ',\n'
    const pad = layout.pad ?? '\n'
    push('[' + pad)
    elements.forEach((e, i) => {
      if (i > 0) push(sep)
      offsets.push(pos)
      push(e)
    })
    push(pad + ']\n')
  } else {
    const eol = layout.separator ?? '\n'
    elements.forEach((e, i) => {
      if (layout.rng !== undefined && layout.blankLines !== undefined && layout.rng.chance(layout.blankLines)) push(layout.rng.pick(['', '  ', '\t']) + eol)
      offsets.push(pos)
      push(e)
      if (i < elements.length - 1 || layout.trailingNewline !== false) push(eol)
    })
  }
  const text = Buffer.from(parts.join(''), 'utf8')
  const ext = layout.format === 'json' ? '.json' : '.ndjson'
  const file = tmpPath(name + ext + (layout.gzip === true ? '.gz' : ''))
  fs.writeFileSync(file, layout.gzip === true ? zlib.gzipSync(text) : text)
  return { path: file, offsets, bytes: text.length }
}

/** The compared columns, in the dataset's order. */
export const COLUMNS = [
  'blueprint_id', 'external_stock_id', 'print_id', 'print_table', 'name_en', 'quantity', 'price_cents',
  'price_currency', 'properties', 'description', 'user_data_field', 'graded', 'tag', 'game_id', 'expansion_code',
] as const

/** A user's rows as the model represents them (properties as canonical JSON), keyed "blueprint|stock". */
export async function readUserRows (db: pg.Pool | pg.PoolClient, userId: string): Promise<Map<string, Row>> {
  const cols = COLUMNS.map(c => c === 'properties' ? 'properties::text AS properties' : c).join(', ')
  const { rows } = await db.query(`SELECT ${cols} FROM user_inventory_items WHERE user_id = $1 ORDER BY blueprint_id, external_stock_id`, [userId])
  const out = new Map<string, Row>()
  for (const r of rows) {
    const row = { ...r, properties: canonicalJson(JSON.parse(r.properties)) } as Row
    out.set(`${row.blueprint_id}|${row.external_stock_id}`, row)
  }
  return out
}

/** Every column of every row of a user as PostgreSQL prints it, plus xmin: equal snapshots = untouched rows. */
export async function snapshotUser (db: pg.Pool | pg.PoolClient, userId: string): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT xmin::text AS xmin, t::text AS row FROM user_inventory_items t WHERE user_id = $1 ORDER BY id`, [userId])
  return rows.map(r => `${r.xmin as string} ${r.row as string}`)
}

export interface TimestampRow { key: string, id: string, xmin: string, createdAt: string, updatedAt: string, updatedUs: bigint }

/** Per row of a user (keyed "blueprint|stock"): its id, xmin and timestamps (text, and updated_at in microseconds). */
export async function timestamps (db: pg.Pool | pg.PoolClient, userId: string): Promise<Map<string, TimestampRow>> {
  const { rows } = await db.query(
    `SELECT blueprint_id || '|' || external_stock_id AS key, id::text AS id, xmin::text AS xmin, created_at::text AS created_at, updated_at::text AS updated_at,
            (extract(epoch FROM updated_at) * 1000000)::int8::text AS updated_us
       FROM user_inventory_items WHERE user_id = $1`, [userId])
  return new Map(rows.map(r => [r.key, { key: r.key, id: r.id, xmin: r.xmin, createdAt: r.created_at, updatedAt: r.updated_at, updatedUs: BigInt(r.updated_us) }]))
}

export async function deleteUser (db: pg.Pool, userId: string): Promise<void> {
  await db.query('DELETE FROM user_inventory_items WHERE user_id = $1', [userId])
}

export function readNdjson (file: string): unknown[] {
  if (!fs.existsSync(file)) return []
  return fs.readFileSync(file, 'utf8').split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
}

/** The engine's public API, imported directly: a build that lacks an export fails to compile or load, never skips. */
export const api = {
  sync: async (o: Record<string, unknown>): Promise<any> => await brx.sync(o as unknown as brx.SyncOptions),
  migrate: async (o: Record<string, unknown>): Promise<unknown> => await brx.migrate(o as brx.EngineOptions),
  createEngine: (o: Record<string, unknown>) => {
    const e = brx.createEngine(o as brx.EngineOptions)
    return { sync: async (x: Record<string, unknown>): Promise<any> => await e.sync(x as unknown as brx.SyncOptions), close: async () => await e.close() }
  },
}
export type Api = typeof api

/** Runs a sync and returns either its report or the error's code (and the error). */
export async function trySync (api: Api, o: Record<string, unknown>): Promise<{ report?: any, code?: string, error?: unknown }> {
  try {
    return { report: await api.sync(o) }
  } catch (err) {
    return { code: (err as { code?: string }).code ?? 'NO_CODE', error: err }
  }
}

// ---------------------------------------------------------------------------
// A generator of CardTrader exports: realistic products, rendered in every
// form the normalizer accepts, plus records broken in every way it rejects.
// It only produces element texts; the model decides what they mean.
// ---------------------------------------------------------------------------

/** A product as the seller's inventory holds it (always valid). */
export interface Product {
  id: number | string
  blueprint_id: number
  name_en: string | null
  quantity: number
  price_cents: number
  price_currency: string | null
  properties_hash: Record<string, unknown> | null
  description: string | null
  user_data_field: string | null
  graded: boolean | null
  tag: string | null
  game_id: number | null
  expansion: { id: number, code: string | null, name_en: string } | null
}

const NAMES = ['Brackets ]}[{ and, commas', 'ends with a backslash \\', '\\"quoted\\"', 'Lightning Bolt', 'Black Lotus', 'ピカチュウ', 'リザードン ex', '孫悟空', 'Monkey D. Luffy', 'Roronoa Zoro (Parallel)', 'Dragon 🐉 Token', '🔥🔥🔥', 'Ætherling', 'Jötun Grunt', 'Séance', 'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗͎̈́', 'שלום', 'Привет', 'x', '', ' leading and trailing ', 'quote " and backslash \\', 'tab\tand\nnewline']
const CONDITIONS = ['Mint', 'Near Mint', 'Slightly Played', 'Moderately Played', 'Played', 'Heavily Played', 'Poor']
const LANGS = ['en', 'it', 'jp', 'de', 'fr', 'zh-CN', 'ko', 'pt']
const CODES = ['KHM', 'MH2', 'OP01', 'SV3', 'LEA', 'ｆｕｌｌ', '2XM', 'p15A']
const CURRENCIES = ['EUR', 'EUR', 'EUR', 'USD', 'GBP', 'JPY']

export function randomProduct (rng: Prng, id: number | string): Product {
  const props: Record<string, unknown> = { condition: rng.pick(CONDITIONS) }
  if (rng.chance(0.8)) props.mtg_language = rng.pick(LANGS)
  if (rng.chance(0.6)) props.mtg_foil = rng.chance(0.3)
  if (rng.chance(0.3)) props.signed = rng.chance(0.1)
  if (rng.chance(0.3)) props.altered = false
  if (rng.chance(0.2)) props.collector_number = String(rng.int(1, 400)) + rng.pick(['', 'a', '★'])
  if (rng.chance(0.1)) props.first_edition = rng.chance(0.5)
  if (rng.chance(0.05)) props['ゲーム'] = rng.pick(NAMES)
  if (rng.chance(0.05)) props.nested = { list: [1, 'two', null, { three: 3.5 }], empty: {}, none: null }
  if (rng.chance(0.03)) props['🔑'] = '🗝'
  return {
    id,
    blueprint_id: rng.chance(0.2) ? rng.int(1, 50) : rng.int(1, 400000),
    name_en: rng.chance(0.05) ? null : rng.pick(NAMES),
    quantity: rng.chance(0.05) ? 0 : rng.int(1, 30),
    price_cents: rng.chance(0.02) ? 0 : rng.int(1, 250000),
    price_currency: rng.chance(0.1) ? null : rng.pick(CURRENCIES),
    properties_hash: rng.chance(0.05) ? null : props,
    description: rng.pick([null, null, '', 'Played once, sleeved', '新品未開封', 'Emoji 🎴 in description', 'x'.repeat(rng.int(1, 3000))]),
    user_data_field: rng.pick([null, null, '', 'shelf A3', 'ビンダー 2']),
    graded: rng.pick([null, false, false, true]),
    tag: rng.pick([null, '', 'sale', 'タグ']),
    game_id: rng.chance(0.1) ? null : rng.int(1, 12),
    expansion: rng.chance(0.1) ? null : { id: rng.int(1, 5000), code: rng.chance(0.05) ? null : rng.pick(CODES), name_en: rng.pick(['Kaldheim', 'Romance Dawn', 'Scarlet & Violet']) },
  }
}

let idCounter = 0
/** A stock id never used before in this process: mostly CardTrader's integers, sometimes strings. */
export function freshId (rng: Prng): number | string {
  idCounter++
  const k = rng.int(0, 19)
  if (k < 14) return 100_000_000 + idCounter * 7 + rng.int(0, 6)
  if (k < 16) return `ct-${idCounter}`
  if (k < 17) return `在庫-${idCounter}-ピカ`
  if (k < 18) return `${idCounter}|pipe|🐉`
  if (k < 19) return `  ${idCounter} spaced `
  return 'L'.repeat(60) + String(idCounter % 10000).padStart(4, '0')
}

/** A valid change of one or more compared values (not of the key). */
export function changeProduct (rng: Prng, p: Product): Product {
  const q: Product = { ...p, properties_hash: p.properties_hash === null ? null : { ...p.properties_hash } }
  const n = rng.int(1, 2)
  for (let i = 0; i < n; i++) {
    switch (rng.int(0, 9)) {
      case 0: case 1: q.price_cents = p.price_cents + rng.int(1, 500); break
      case 2: case 3: q.quantity = p.quantity + rng.int(1, 5); break
      case 4: q.properties_hash = { ...(q.properties_hash ?? {}), condition: rng.pick(CONDITIONS), mtg_foil: rng.chance(0.5), changed: rng.int(0, 1e6) }; break
      case 5: q.name_en = rng.pick(NAMES) + ' ' + String(rng.int(0, 99)); break
      case 6: q.graded = p.graded === true ? false : true; break
      case 7: q.description = p.description === null ? '' : null; break
      case 8: q.price_currency = p.price_currency === 'USD' ? 'EUR' : 'USD'; break
      default: q.tag = p.tag === '' ? null : ''
    }
  }
  return q
}

/** A product's key as the reference model keys it. */
export function productKey (p: Product): string {
  return `${p.blueprint_id}|${String(p.id)}`
}

/** Random changes between two syncs: change (at one of `changeRates`), remove and add (up to `maxAdd`) products. */
export function evolveCatalog (rng: Prng, catalog: Map<string, Product>, changeRates: number[], maxAdd: number): void {
  const changeRate = rng.pick(changeRates)
  const removeRate = rng.chance(0.1) ? 0.7 : rng.pick([0, 0.02, 0.1, 0.3])
  for (const [k, p] of [...catalog]) {
    if (rng.chance(removeRate)) catalog.delete(k)
    else if (rng.chance(changeRate)) catalog.set(k, changeProduct(rng, p))
  }
  for (let i = rng.int(0, maxAdd); i > 0; i--) {
    const p = randomProduct(rng, freshId(rng))
    catalog.set(productKey(p), p)
  }
}

/** The product as a JSON object on the wire, in one of the forms the normalizer accepts for the same values. */
export function toWire (rng: Prng, p: Product): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  o.id = typeof p.id === 'number' && rng.chance(0.15) ? String(p.id) : p.id
  o.blueprint_id = rng.chance(0.85) ? p.blueprint_id : rng.pick([String(p.blueprint_id), ` ${p.blueprint_id} `, `${p.blueprint_id}\t`])
  if (p.name_en !== null || rng.chance(0.5)) o.name_en = p.name_en
  o.quantity = rng.chance(0.85) ? p.quantity : String(p.quantity)
  const cents = rng.chance(0.85) ? p.price_cents : String(p.price_cents)
  const currency = p.price_currency
  switch (rng.int(0, 9)) {
    case 0: // price_cents as {cents, currency}
      o.price_cents = currency === null ? { cents } : { cents, currency }
      break
    case 1: // price as {cents, currency}
      o.price = currency === null ? { cents } : { cents, currency }
      if (rng.chance(0.3)) o.price_cents = null
      break
    case 2: // price_cents object, currency given beside it (which wins)
      o.price_cents = { cents, currency: 'XXX' }
      o.price_currency = currency ?? undefined
      if (currency === null) o.price_cents = { cents }
      break
    default:
      o.price_cents = cents
      if (currency !== null) o.price_currency = currency
      else if (rng.chance(0.5)) o.price_currency = null
  }
  if (p.properties_hash !== null) o.properties_hash = shuffledObject(rng, p.properties_hash)
  else if (rng.chance(0.5)) o.properties_hash = null
  if (p.description !== null || rng.chance(0.5)) o.description = p.description
  if (p.user_data_field !== null || rng.chance(0.5)) o.user_data_field = p.user_data_field
  if (p.graded !== null) o.graded = p.graded ? rng.pick([true, 'true', 1, '1']) : rng.pick([false, 'false', 0, '0'])
  else if (rng.chance(0.5)) o.graded = null
  if (p.tag !== null || rng.chance(0.5)) o.tag = p.tag
  if (p.game_id !== null) o.game_id = rng.chance(0.9) ? p.game_id : String(p.game_id)
  else if (rng.chance(0.3)) o.game_id = null
  if (p.expansion !== null) o.expansion = p.expansion.code === null && rng.chance(0.5) ? { id: p.expansion.id } : { ...p.expansion }
  else if (rng.chance(0.3)) o.expansion = rng.pick([null, 'KHM', [1]])
  // fields the normalizer ignores
  if (rng.chance(0.5)) o.bundle_size = 1
  if (rng.chance(0.3)) o.category_id = rng.int(1, 300)
  if (rng.chance(0.3)) o.uploaded_images = rng.chance(0.5) ? [] : [{ url: 'https://example.com/i.jpg', position: 1 }]
  if (rng.chance(0.1)) o.on_vacation = false
  return shuffledObject(rng, o)
}

function shuffledObject (rng: Prng, o: Record<string, unknown>): Record<string, unknown> {
  const keys = rng.shuffle(Object.keys(o))
  const out: Record<string, unknown> = {}
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}

/**
 * JSON text for a value, with the liberties JSON allows: random whitespace,
 * \\uXXXX escapes for non-ASCII, escaped '/', and (for objects) earlier
 * duplicates of a key carrying junk (JSON.parse keeps the last).
 */
export interface RenderStyle {
  /** Probability of \\uXXXX-escaping a string's non-ASCII characters (and of escaping '/', and one ASCII letter). */
  escape: number
  /** Probability, per key, of an earlier duplicate of that key carrying junk. */
  dupKeys: number
  /** Probability of whitespace between tokens. */
  ws: number
  /** No line breaks in the whitespace (NDJSON). */
  oneLine?: boolean
}

export function renderJson (rng: Prng, v: unknown, style: RenderStyle): string {
  const ws = (): string => rng.chance(style.ws) ? rng.pick(style.oneLine === true ? [' ', '\t', '  '] : [' ', '\n', '\t', '  ', '\r\n']) : ''
  if (Array.isArray(v)) return '[' + ws() + v.map(x => renderJson(rng, x, style)).join(',' + ws()) + ws() + ']'
  if (typeof v === 'object' && v !== null) {
    const parts: string[] = []
    for (const k of Object.keys(v)) {
      if (rng.chance(style.dupKeys)) parts.push(renderString(rng, k, style) + ':' + ws() + rng.pick(['"junk"', '-1', '{"a":[1,2]}', 'null', 'true', '[]']))
      parts.push(renderString(rng, k, style) + ws() + ':' + ws() + renderJson(rng, (v as Record<string, unknown>)[k], style))
    }
    return '{' + ws() + parts.join(',' + ws()) + ws() + '}'
  }
  if (typeof v === 'string') return renderString(rng, v, style)
  const s = JSON.stringify(v)
  return s === undefined ? 'null' : s
}

function renderString (rng: Prng, s: string, style: RenderStyle): string {
  let j: string
  const letter = s.search(/[A-Za-z]/)
  if (letter !== -1 && rng.chance(style.escape / 2)) {
    // one ASCII letter as an escape: "\u0041" is "A"
    const esc = '\\u' + s.charCodeAt(letter).toString(16).padStart(4, '0')
    j = JSON.stringify(s.slice(0, letter)).slice(0, -1) + (rng.chance(0.5) ? esc : esc.toUpperCase().replace('\\U', '\\u')) + JSON.stringify(s.slice(letter + 1)).slice(1)
  } else {
    j = JSON.stringify(s)
  }
  // JSON.stringify leaves non-ASCII raw and never produces it inside an escape, so this is safe
  if (rng.chance(style.escape)) j = j.replace(/[\u0080-\uffff]/g, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
  if (rng.chance(style.escape)) j = j.replace(/\//g, '\\/')
  return j
}

/** A named way to break (or stretch) a wire record. Names let a run leave some out (BRX_GEN_EXCLUDE=a,b). */
export interface Mutation { name: string, apply: (o: Record<string, unknown>, rng: Prng) => unknown }

const huge = (n: number): string => 'h'.repeat(n)

export const MUTATIONS: Mutation[] = [
  // missing_field
  { name: 'id-missing', apply: o => { delete o.id; return o } },
  { name: 'id-null', apply: o => { o.id = null; return o } },
  { name: 'blueprint-missing', apply: o => { delete o.blueprint_id; return o } },
  { name: 'quantity-null', apply: o => { o.quantity = null; return o } },
  { name: 'price-missing', apply: o => { delete o.price_cents; delete o.price; return o } },
  { name: 'price-object-without-cents', apply: o => { delete o.price; o.price_cents = { currency: 'EUR' }; return o } },
  // invalid_type
  { name: 'id-bool', apply: (o, r) => { o.id = r.pick([true, false]); return o } },
  { name: 'id-object', apply: (o, r) => { o.id = r.pick([{}, [1], { id: 1 }]); return o } },
  { name: 'blueprint-type', apply: (o, r) => { o.blueprint_id = r.pick([true, {}, [5]]); return o } },
  { name: 'quantity-type', apply: (o, r) => { o.quantity = r.pick([false, [1], { n: 1 }]); return o } },
  { name: 'price-array', apply: (o, r) => { delete o.price; o.price_cents = r.pick([[100], true]); return o } },
  { name: 'properties-type', apply: (o, r) => { o.properties_hash = r.pick([[], ['Near Mint'], 'Near Mint', 5, true, false]); return o } },
  { name: 'expansion-code-type', apply: (o, r) => { o.expansion = { id: 1, code: r.pick([{}, [], { c: 1 }]) }; return o } },
  { name: 'text-type', apply: (o, r) => { o[r.pick(['name_en', 'description', 'user_data_field', 'tag'])] = r.pick([{}, [], ['a'], { en: 'x' }]); return o } },
  { name: 'game-type', apply: (o, r) => { o.game_id = r.pick([{}, [1], true]); return o } },
  // invalid_value
  { name: 'id-bad-number', apply: (o, r) => { o.id = r.pick([-1, 1.5, -100, 2 ** 53 + 2, 1e21, -0.5]); return o } },
  { name: 'id-bad-string', apply: (o, r) => { o.id = r.pick(['', 'x'.repeat(65), 'y'.repeat(200)]); return o } },
  { name: 'int-bad-string', apply: (o, r) => { o[r.pick(['blueprint_id', 'quantity', 'game_id'])] = r.pick(['abc', '1.5', '1e3', '0x10', '', ' ', '+5', '12345678901234567', '1 2', '٣']); return o } },
  { name: 'int-fraction', apply: (o, r) => { o[r.pick(['blueprint_id', 'quantity', 'game_id'])] = r.pick([1.5, 0.1, -2.5]); return o } },
  { name: 'price-bad', apply: (o, r) => { delete o.price; o.price_cents = r.pick(['12.50', 12.5, 'free', '€5']); return o } },
  { name: 'currency-bad', apply: (o, r) => { o.price_currency = r.pick(['eur', 'EURO', 'E', '', 978, true, ['EUR'], '€', 'EU R']); return o } },
  { name: 'price-object-currency-bad', apply: (o, r) => { delete o.price; delete o.price_currency; o.price_cents = { cents: 5, currency: r.pick(['euro', 'us', 1]) }; return o } },
  { name: 'graded-bad', apply: (o, r) => { o.graded = r.pick(['yes', 'no', 2, -1, 'TRUE', 'False', '', {}, [], 0.5, ' true']); return o } },
  // out_of_range
  { name: 'blueprint-range', apply: (o, r) => { o.blueprint_id = r.pick([0, -1, 2147483648, '0', '-7', 1e10, '2147483648']); return o } },
  { name: 'quantity-range', apply: (o, r) => { o.quantity = r.pick([-1, '-1', 2147483648, 1e12]); return o } },
  { name: 'price-range', apply: (o, r) => { delete o.price; o.price_cents = r.pick([-1, 2147483648, '-100', { cents: -5 }]); return o } },
  { name: 'game-range', apply: (o, r) => { o.game_id = r.pick([-1, 2147483648, '-3']); return o } },
  // nul_byte
  { name: 'nul-text', apply: (o, r) => { o[r.pick(['name_en', 'description', 'user_data_field', 'tag'])] = r.pick(['a\u0000b', '\u0000', 'ピカ\u0000']); return o } },
  { name: 'nul-id', apply: o => { o.id = 'id\u0000x'; return o } },
  { name: 'nul-expansion-code', apply: o => { o.expansion = { id: 1, code: 'K\u0000' }; return o } },
  { name: 'nul-properties', apply: (o, r) => { o.properties_hash = r.pick([{ k: '\u0000' }, { '\u0000': 1 }, { deep: { list: ['ok', 'n\u0000'] } }]); return o } },
  // value_too_large
  { name: 'text-too-large', apply: (o, r) => { o[r.pick(['name_en', 'description'])] = huge(1_000_001); return o } },
  { name: 'properties-too-large', apply: o => { o.properties_hash = { big: huge(1_000_000) }; return o } },
  // large but valid (up to MAX_TEXT): spans several of the reader's chunks
  { name: 'text-large-valid', apply: (o, r) => { o.description = 'd'.repeat(r.int(300_000, 999_000)); return o } },
  // not_an_object
  { name: 'not-an-object', apply: (o, r) => r.pick([42, 'a string', [o], null, true, false, [], 0, -1.5, '']) },
  // valid records in unusual forms (accepted as the model says)
  { name: 'text-from-number-or-bool', apply: (o, r) => { o[r.pick(['name_en', 'description', 'user_data_field', 'tag'])] = r.pick([123, 1.5, true, false, 0, 1e21, -0]); return o } },
  { name: 'expansion-not-object', apply: (o, r) => { o.expansion = r.pick(['KHM', 5, [{ code: 'KHM' }], true]); return o } },
  { name: 'id-zero', apply: (o, r) => { o.id = r.pick([0, -0, '0']); return o } },
  { name: 'properties-empty-or-proto', apply: (o, r) => { o.properties_hash = r.pick([{}, JSON.parse('{"__proto__": {"x": 1}, "condition": "Mint"}'), { constructor: 'c', toString: 's' }]); return o } },
  { name: 'int-padded-string', apply: (o, r) => { o[r.pick(['blueprint_id', 'quantity', 'game_id'])] = r.pick([' 7 ', '\t7\n', '007', '\u00a07', '7\u2028', '-0']); return o } },
  { name: 'int-exponent-number', apply: (o, r) => { o[r.pick(['quantity', 'game_id'])] = r.pick([1e3, 2e1, 5.0]); return o } },
  { name: 'top-level-proto-key', apply: o => { const id = o.id; delete o.id; return JSON.parse(JSON.stringify(o).replace(/^\{/, `{"__proto__": {"id": ${JSON.stringify(id)}},`)) } },
  // -- rules where the model is stricter or looser than a naive implementation --
  // a backslash followed by "u0000" is six ordinary characters, not a NUL
  { name: 'properties-backslash-u0000-text', apply: (o, r) => { o.properties_hash = { note: r.pick(['C:\\u0000\\dir', 'literal \\u0000', 'x\\ud800y']) }; return o } },
  // a lone UTF-16 surrogate cannot be stored in UTF-8 text: reject rather than store U+FFFD
  { name: 'lone-surrogate-text', apply: (o, r) => { o[r.pick(['name_en', 'description', 'tag'])] = r.pick(['a\ud800b', '\udfff', 'x\ud83d']); return o } },
  { name: 'lone-surrogate-properties', apply: o => { o.properties_hash = { k: 'a\ud800' }; return o } },
  { name: 'lone-surrogate-id', apply: (o, r) => { o.id = r.pick(['\ud800', '\udbff', 'k\udc00']); return o } },
  // varchar(64) counts characters: 40 emoji are 40 characters (80 UTF-16 units)
  { name: 'id-64-characters-astral', apply: (o, r) => { o.id = '🐉'.repeat(r.int(33, 64)); return o } },
  { name: 'id-65-characters-astral', apply: o => { o.id = '🐉'.repeat(65); return o } },
]

/** Mutations to leave out: the comma-separated names in BRX_GEN_EXCLUDE, and `extraExclude`. */
export function activeMutations (extraExclude: string[] = []): Mutation[] {
  const ex = new Set([...(process.env.BRX_GEN_EXCLUDE ?? '').split(',').map(s => s.trim()).filter(Boolean), ...extraExclude])
  return MUTATIONS.filter(m => !ex.has(m.name))
}

/** Texts that are not JSON, each with its brackets balanced and strings closed (the surrounding array stays intact). */
export function malformedElement (rng: Prng, validObjectText: string): string {
  const inner = validObjectText.slice(1) // everything after '{'
  switch (rng.int(0, 13)) {
    case 0: return '{"id": 1,, ' + inner
    case 1: return '{x: 1, ' + inner
    case 2: return '{"x": tru, ' + inner
    case 3: return '{"x": 01, ' + inner
    case 4: return validObjectText.replace(/\}\s*$/, ', }')
    case 5: return '{"x": "a\\qb", ' + inner
    case 6: return '{"x": "raw\ttab", ' + inner
    case 7: return '{"x": [1, 2,], ' + inner
    case 8: return '{"x": NaN, ' + inner
    case 9: return '{"x" 1, ' + inner
    case 10: return '{"x": 1 "y": 2, ' + inner
    case 11: return '{"id": 1,, }'
    case 12: return rng.pick(['+1', '.5', '1.', '-', 'nul', 'True', "'single'", '0x1F', 'undefined'])
    default: return '{"x": \'y\', ' + inner
  }
}

export interface GenOptions {
  /** Share of records replaced by a mutation (default 0.04). */
  rejectRate?: number
  /** Share of products also sent a second time, with other values (default 0.03). */
  dupRate?: number
  /** Share of malformed elements (default 0.01). */
  malformedRate?: number
  /** Mutation names to leave out, on top of BRX_GEN_EXCLUDE. */
  exclude?: string[]
  /** Elements must fit on one line (NDJSON). */
  oneLine?: boolean
}

/** Renders an inventory as export element texts, with duplicates, rejects and malformed records mixed in. */
/**
 * `{ format }` when format auto would refuse the export as a whole: it tells
 * NDJSON by a first byte of "{" (read.partition's malformed cases), so NDJSON
 * whose first record is not an object (a mutation such as "not an object")
 * must be named to be read record by record, as these models expect.
 */
export function toldFormat (format: 'json' | 'ndjson', texts: readonly string[]): { format?: 'ndjson' } {
  return format === 'ndjson' && !(texts[0] ?? '{').trimStart().startsWith('{') ? { format: 'ndjson' } : {}
}

export function renderExport (rng: Prng, products: readonly Product[], o: GenOptions = {}): string[] {
  const style: RenderStyle = { escape: rng.pick([0, 0.05, 0.3]), dupKeys: rng.pick([0, 0.01, 0.05]), ws: rng.pick([0, 0.1, 0.5]), oneLine: o.oneLine }
  const mutations = activeMutations(o.exclude)
  const rejectRate = o.rejectRate ?? 0.04
  const dupRate = o.dupRate ?? 0.03
  const malformedRate = o.malformedRate ?? 0.01
  const out: string[] = []
  let tooLarge = 0
  for (const p of products) {
    let dupAfter: string | undefined
    if (rng.chance(dupRate)) {
      // the same key again, with the same or other values, before or after the real one
      const other = renderJson(rng, toWire(rng, rng.chance(0.5) ? changeProduct(rng, p) : p), style)
      if (rng.chance(0.5)) out.splice(rng.int(Math.max(0, out.length - 50), out.length), 0, other)
      else dupAfter = other
    }
    let wire: unknown = toWire(rng, p)
    if (rng.chance(rejectRate) && mutations.length > 0) {
      let m = rng.pick(mutations)
      if (/too-large|large-valid/.test(m.name) && tooLarge++ > 0) m = mutations[0] // at most one megabyte-sized record per export
      wire = m.apply(wire as Record<string, unknown>, rng)
    }
    const text = renderJson(rng, wire, style)
    out.push(rng.chance(malformedRate) && text.startsWith('{') ? malformedElement(rng, text) : text)
    if (dupAfter !== undefined) out.push(dupAfter)
  }
  return out
}
