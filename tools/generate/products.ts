/**
 * The export as a stream of products, in base or "changed version" form.
 *
 * Every product's fate (removed, changed, duplicated, corrupted) is decided
 * by hashing its index, never by a running stream, so:
 *  - the changed version is the base in the same order, minus removals, with
 *    changed prices/quantities, plus appended products — and every product
 *    not meant to change is byte-identical;
 *  - a duplicate's second copy is emitted DUP_DELAY records later by
 *    rebuilding it, not by remembering it: memory is O(1);
 *  - `summarize` can give exact expected counts without building a record.
 */
import { BlueprintPicker, DEFAULT_BLUEPRINTS, MAX_BLUEPRINTS } from './blueprint'
import { catalogEntry } from './catalog'
import { applyChange, buildProduct, corrupt, staleCopy, type Product } from './product'
import { unit3 } from './prng'

export interface GenerateOptions {
  /** Base export size. */
  products: number
  /** Default 1. */
  seed?: number
  /** Size of the blueprint id space, default 120_000 (250k products touch ~100k distinct blueprints). */
  blueprints?: number
  users?: never
  /** Fraction 0..1 of base products whose price_cents/quantity changed. */
  change?: number
  /** Fraction (of `products`) newly added at the end, with new ids. Default 0, or 0.01 when `change` is given. */
  add?: number
  /** Fraction of base products removed. Default 0, or 0.01 when `change` is given. */
  remove?: number
  /** Default seed + 1. */
  changeSeed?: number
  /** Fraction of products emitted twice: an outdated copy first, the real one DUP_DELAY records later (last wins). */
  dupRate?: number
  /** Fraction of records made invalid at record level (still valid JSON). */
  badRate?: number
}

/**
 * How many records after the first copy the second copy of a duplicate comes.
 * ~2 MB of JSON: larger than a default 1 MiB partition, so last-wins must work
 * across partitions, not only within one.
 */
export const DUP_DELAY = 4096

const SALT_FATE = 0xd1
const SALT_BAD = 0xd2
const SALT_DUP = 0xd3

export interface Resolved {
  products: number
  seed: number
  blueprints: number
  change: number
  add: number
  remove: number
  changeSeed: number
  dupRate: number
  badRate: number
  /** Number of appended products: round(add * products). */
  added: number
}

function fraction (name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt
  if (!(typeof v === 'number' && v >= 0 && v <= 1)) throw new RangeError(`${name} must be a fraction between 0 and 1, got ${JSON.stringify(v)}.`)
  return v
}

/** Fills defaults and validates; throws a RangeError naming the option. */
export function resolveOptions (o: GenerateOptions): Resolved {
  if (o == null || typeof o !== 'object') throw new TypeError('generate options must be an object.')
  if (!(Number.isSafeInteger(o.products) && o.products >= 0)) throw new RangeError(`products must be an integer >= 0, got ${JSON.stringify(o.products)}.`)
  const seed = o.seed ?? 1
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${JSON.stringify(o.seed)}.`)
  const blueprints = o.blueprints ?? DEFAULT_BLUEPRINTS
  if (!(Number.isInteger(blueprints) && blueprints >= 1 && blueprints <= MAX_BLUEPRINTS)) {
    throw new RangeError(`blueprints must be an integer between 1 and ${MAX_BLUEPRINTS}, got ${JSON.stringify(o.blueprints)}.`)
  }
  const versioned = o.change !== undefined
  const change = fraction('change', o.change, 0)
  const add = fraction('add', o.add, versioned ? 0.01 : 0)
  const remove = fraction('remove', o.remove, versioned ? 0.01 : 0)
  if (change + remove > 1) throw new RangeError(`change + remove must be at most 1, got ${change} + ${remove}.`)
  const changeSeed = o.changeSeed ?? seed + 1
  if (!Number.isInteger(changeSeed)) throw new RangeError(`changeSeed must be an integer, got ${JSON.stringify(o.changeSeed)}.`)
  const dupRate = fraction('dupRate', o.dupRate, 0)
  const badRate = fraction('badRate', o.badRate, 0)
  if (dupRate + badRate > 1) throw new RangeError(`dupRate + badRate must be at most 1, got ${dupRate} + ${badRate}.`)
  const added = Math.round(add * o.products)
  if (o.products + added > 900_000_000) throw new RangeError('products (plus added) must stay below 900,000,000 so ids fit in int4.')
  return { products: o.products, seed, blueprints, change, add, remove, changeSeed, dupRate, badRate, added }
}

/** Removal, change, corruption and duplication of record `index` (a base index, or products + k for an added one). */
export interface Fate { removed: boolean, changed: boolean, bad: boolean, dup: boolean, added: boolean }

export function fateOf (r: Resolved, index: number): Fate {
  const added = index >= r.products
  let removed = false
  let changed = false
  if (!added && (r.change > 0 || r.remove > 0)) {
    const u = unit3(r.changeSeed, index, SALT_FATE) // one draw, split: removal and change are exclusive
    removed = u < r.remove
    changed = !removed && u < r.remove + r.change
  }
  // Drawn from the base seed: a product that is bad or duplicated in the base stays so in every version.
  const v = unit3(r.seed, index, SALT_BAD)
  const bad = v < r.badRate
  const dup = !bad && unit3(r.seed, index, SALT_DUP) < r.dupRate
  return { removed, changed, bad, dup, added }
}

/** Product `index` as it finally stands in this version (the copy that wins). */
export function productAt (r: Resolved, picker: BlueprintPicker, index: number, fate: Fate = fateOf(r, index)): Product {
  // Added products draw their content from changeSeed, so two changed versions add different products.
  const p = buildProduct(picker, r.seed, fate.added ? r.changeSeed : r.seed, index)
  if (fate.changed) applyChange(p, r.changeSeed, index)
  if (fate.bad) corrupt(p, r.seed, index)
  return p
}

export function * generateProducts (o: GenerateOptions): Generator<Record<string, unknown>> {
  const r = resolveOptions(o)
  const picker = new BlueprintPicker(r.blueprints)
  const total = r.products + r.added
  const secondCopyDue = (k: number): boolean => {
    if (r.dupRate === 0) return false
    const f = fateOf(r, k)
    return f.dup && !f.removed
  }
  for (let j = 0; j < total; j++) {
    const f = fateOf(r, j)
    if (!f.removed) {
      const p = productAt(r, picker, j, f)
      yield f.dup ? staleCopy(p, r.seed, j) : p
    }
    const k = j - DUP_DELAY
    if (k >= 0 && secondCopyDue(k)) yield productAt(r, picker, k)
  }
  for (let k = Math.max(0, total - DUP_DELAY); k < total; k++) {
    if (secondCopyDue(k)) yield productAt(r, picker, k)
  }
}

export interface Summary {
  /** Array elements emitted, including duplicate copies and bad records. */
  records: number
  /** Distinct valid products, i.e. the rows a mirror sync keeps before blueprint mapping. */
  valid: number
  /** Invalid records (each bad product is emitted once). */
  bad: number
  /** Extra copies (records − distinct products). */
  duplicates: number
  /** Relative to the base: valid products removed / changed / added — the deletes, updates and inserts a mirror sync from the base should do. */
  removed: number
  changed: number
  added: number
  /** Valid products by the catalog table that maps them (priority order); 'unmapped' for none. */
  byTable: Record<string, number>
  /** Distinct blueprint ids among valid products. */
  distinctBlueprints: number
}

/** Exact expected counts for an export, without building its records. O(blueprints) memory for the distinct count. */
export function summarize (o: GenerateOptions): Summary {
  const r = resolveOptions(o)
  const picker = new BlueprintPicker(r.blueprints)
  const s: Summary = { records: 0, valid: 0, bad: 0, duplicates: 0, removed: 0, changed: 0, added: 0, byTable: {}, distinctBlueprints: 0 }
  const seen = new Uint8Array(r.blueprints + 1)
  const tableOf = new Map<number, string>()
  for (let j = 0; j < r.products + r.added; j++) {
    const f = fateOf(r, j)
    if (f.removed) {
      if (!f.bad) s.removed++
      continue
    }
    s.records += f.dup ? 2 : 1
    if (f.dup) s.duplicates++
    if (f.bad) { s.bad++; continue }
    s.valid++
    if (f.changed) s.changed++
    if (f.added) s.added++
    const bp = picker.pick(f.added ? r.changeSeed : r.seed, j)
    if (seen[bp] === 0) { seen[bp] = 1; s.distinctBlueprints++ }
    let t = tableOf.get(bp)
    if (t === undefined) {
      t = catalogEntry(bp, r.seed)[0]?.table ?? 'unmapped'
      tableOf.set(bp, t)
    }
    s.byTable[t] = (s.byTable[t] ?? 0) + 1
  }
  return s
}
