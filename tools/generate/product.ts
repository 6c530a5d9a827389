/**
 * One CardTrader product (API v2 `/products/export`), and the three ways a
 * version of the export alters it: a price/quantity change, a stale earlier
 * copy (the duplicate that the last-wins rule must discard), and record-level
 * corruption (still valid JSON, but a row the normalizer must reject).
 *
 * The shapes follow what the API is documented and observed to send,
 * including its inconsistencies: `graded` as false / "false" / 0 / null / true
 * / "true" / 1, and ~2% of prices as `price: { cents, currency }`.
 */
import { blueprintInfo, type BlueprintPicker } from './blueprint'
import { Rng, cumulative, hash3 } from './prng'
import { conditionFactor, conditions, conditionWeights, descriptions, games, tags, userDataFields } from './vocab'

export const ID_BASE = 100_000_000

const SALT_PRODUCT = 0xa1
const SALT_CHANGE_DRAW = 0xa2
const SALT_STALE = 0xa3
const SALT_BAD_DRAW = 0xa4

export type Product = Record<string, unknown>

const quantities = [0, 1, 2, 3, 4, -1, -2] // -1: 5..12, -2: 13..50
const quantityWeights = cumulative([3, 55, 15, 8, 10, 6, 3])

const gradedForms = [false, 'false', 0, null, true, 'true', 1]
const gradedWeights = cumulative([80, 6, 5, 4, 2, 1.5, 1.5])

const conditionIndex = [0, 1, 2, 3, 4, 5, 6]
const cumConditions = cumulative(conditionWeights)

function quantity (r: Rng): number {
  const q = r.weighted(quantities, quantityWeights)
  return q === -1 ? r.int(5, 12) : q === -2 ? r.int(13, 50) : q
}

function images (r: Rng, id: number): unknown[] {
  if (!r.chance(0.08)) return []
  const n = r.int(1, 2)
  const out = []
  for (let k = 0; k < n; k++) {
    const imageId = 9_000_000 + ((id * 3 + k) % 90_000_000)
    const file = r.u32().toString(16).padStart(8, '0')
    out.push({
      id: imageId,
      url: `https://cardtrader.com/uploads/user_uploaded_images/image/${imageId}/${file}.jpg`,
    })
  }
  return out
}

function properties (r: Rng, info: ReturnType<typeof blueprintInfo>, condition: string): Record<string, unknown> {
  const g = info.game
  const language = r.weighted(g.languages, g.languageWeights)
  if (info.sealed) return { [g.languageKey]: language }
  const p: Record<string, unknown> = { condition, [g.languageKey]: language }
  switch (g) {
    case games.magic:
      p.mtg_foil = r.chance(0.15)
      p.mtg_rarity = info.rarity
      break
    case games.pokemon:
      p.pokemon_reverse = r.chance(0.2)
      p.first_edition = r.chance(0.03)
      p.pokemon_rarity = info.rarity
      break
    case games.onepiece:
      p.onepiece_rarity = info.rarity
      p.parallel = r.chance(0.05)
      break
    case games.fab:
      p.fab_foil = r.pick(['', '', '', 'Rainbow Foil', 'Cold Foil'])
      p.first_edition = r.chance(0.1)
      break
    default:
      p.first_edition = r.chance(0.2)
  }
  p.signed = r.chance(0.01)
  p.altered = r.chance(0.005)
  p.collector_number = info.collectorNumber
  return p
}

/**
 * Product `index` as listed with randomness from `contentSeed`. Blueprint
 * attributes always come from `catalogSeed` (the base seed) so that products
 * added in a changed version still agree with the catalog.
 */
export function buildProduct (picker: BlueprintPicker, catalogSeed: number, contentSeed: number, index: number): Product {
  const r = new Rng(hash3(contentSeed, index, SALT_PRODUCT))
  const id = ID_BASE + index
  const blueprintId = picker.pick(contentSeed, index)
  const info = blueprintInfo(blueprintId, catalogSeed)
  const ci = r.weighted(conditionIndex, cumConditions)
  const condition = info.sealed ? 'Mint' : conditions[ci]
  const cents = Math.max(1, Math.round(info.basePrice * (info.sealed ? 1 : conditionFactor[ci]) * (0.85 + 0.3 * r.next())))
  const altPrice = r.chance(0.02)

  const p: Product = {
    id,
    blueprint_id: blueprintId,
    name_en: info.name,
    quantity: info.sealed ? r.int(1, 6) : quantity(r),
  }
  if (altPrice) {
    p.price = { cents, currency: 'EUR' }
  } else {
    p.price_cents = cents
    p.price_currency = 'EUR'
  }
  const d = r.next()
  p.description = d < 0.6 ? '' : d < 0.75 ? null : r.pick(descriptions)
  p.user_data_field = r.chance(0.7) ? null : r.pick(userDataFields)
  p.graded = r.weighted(gradedForms, gradedWeights)
  p.tag = r.chance(0.85) ? null : r.pick(tags)
  p.bundle_size = 1
  p.game_id = info.game.id
  p.category_id = info.sealed ? info.game.sealedCategory : info.game.singlesCategory
  p.expansion = { id: info.expansion.id, code: info.expansion.code, name_en: info.expansion.name_en }
  p.uploaded_images = images(r, id)
  p.properties_hash = properties(r, info, condition)
  return p
}

function getCents (p: Product): number {
  return (p.price_cents ?? (p.price as { cents: number }).cents) as number
}

function setCents (p: Product, cents: number): void {
  if ('price_cents' in p) p.price_cents = cents
  else p.price = { ...(p.price as object), cents }
}

/** A new price and/or quantity, always different from the old one so "changed" counts are exact. */
export function applyChange (p: Product, changeSeed: number, index: number): void {
  const r = new Rng(hash3(changeSeed, index, SALT_CHANGE_DRAW))
  const what = r.next()
  if (what < 0.75) {
    const old = getCents(p)
    const factor = 1 + (r.chance(0.5) ? 1 : -1) * (0.05 + 0.25 * r.next())
    let cents = Math.max(1, Math.round(old * factor))
    if (cents === old) cents = old + 1
    setCents(p, cents)
  }
  if (what >= 0.5) {
    const old = p.quantity as number
    let q = old + (r.chance(0.5) ? 1 : -1) * r.int(1, 3)
    if (q < 0 || q === old) q = old + r.int(1, 3)
    p.quantity = q
  }
}

/** The earlier, outdated listing of a duplicated product: same key, other quantity. */
export function staleCopy (p: Product, seed: number, index: number): Product {
  const r = new Rng(hash3(seed, index, SALT_STALE))
  return { ...p, quantity: (p.quantity as number) + r.int(1, 5) }
}

/** The ways a record is wrong. Each is unambiguous: a liberal normalizer must still reject it. */
const corruptions: Array<(p: Product, r: Rng) => void> = [
  (p, r) => { p.quantity = -r.int(1, 5) },
  p => { delete p.id },
  p => { if ('price_cents' in p) p.price_cents = 'abc'; else p.price = { cents: 'abc', currency: 'EUR' } },
  (p, r) => { p.properties_hash = r.int(1, 999) },
  p => { delete p.blueprint_id },
  p => { p.blueprint_id = 'xyz' },
  p => { if ('price_cents' in p) p.price_cents = 99_999_999_999; else p.price = { cents: 99_999_999_999, currency: 'EUR' } }, // beyond int4
  p => { p.quantity = 2.5 },
  p => { p.id = null },
  p => { p.quantity = 'lots' },
]

export function corrupt (p: Product, seed: number, index: number): void {
  const r = new Rng(hash3(seed, index, SALT_BAD_DRAW))
  r.pick(corruptions)(p, r)
}
