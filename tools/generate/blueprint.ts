/**
 * Blueprints: what a CardTrader blueprint id "is" (game, card or sealed, name,
 * expansion, market price), and which blueprint a given product lists.
 *
 * A blueprint's attributes depend only on (seed, blueprint id), so every
 * product of the same blueprint agrees on name/game/expansion, and the catalog
 * written with the same seed puts Magic cards in cards_prints, Pokémon in
 * pk_prints and so on — the export and the catalog tell one consistent story.
 */
import { Rng, cumulative, hash3, unit3 } from './prng'
import { emoji, games, sealedNames, type Expansion, type Game } from './vocab'

/** Blueprint ids must fit the catalog's 24-bit print id permutation. */
export const MAX_BLUEPRINTS = (1 << 24) - 1
export const DEFAULT_BLUEPRINTS = 120_000

const SALT_BLUEPRINT = 0xb1
const SALT_HOT = 0xb2
const SALT_PICK = 0xb3

// The share of each kind in the blueprint id space. fab + yugioh (3%) are the
// games the operator's catalog does not hold: they are the unmapped blueprints.
const kinds = [
  { game: games.magic, sealed: false },
  { game: games.pokemon, sealed: false },
  { game: games.onepiece, sealed: false },
  { game: games.magic, sealed: true },
  { game: games.pokemon, sealed: true },
  { game: games.onepiece, sealed: true },
  { game: games.fab, sealed: false },
  { game: games.yugioh, sealed: false },
]
const kindWeights = cumulative([58, 20, 12, 4, 2, 1, 2, 1])

export interface BlueprintInfo {
  game: Game
  sealed: boolean
  name: string
  expansion: Expansion
  collectorNumber: string
  rarity: string
  /** Market price in cents, before condition and seller jitter. */
  basePrice: number
}

const rarities = ['Common', 'Uncommon', 'Rare', 'Mythic', 'Special']
const rarityWeights = cumulative([45, 30, 17, 6, 2])

/** Just the kind; the catalog needs nothing more. */
export function blueprintKind (blueprintId: number, seed: number): { game: Game, sealed: boolean } {
  const r = new Rng(hash3(seed, blueprintId, SALT_BLUEPRINT))
  return r.weighted(kinds, kindWeights)
}

export function blueprintInfo (blueprintId: number, seed: number): BlueprintInfo {
  const r = new Rng(hash3(seed, blueprintId, SALT_BLUEPRINT))
  const { game, sealed } = r.weighted(kinds, kindWeights) // first draw: must match blueprintKind
  const expansion = r.pick(game.expansions)
  let name: string
  if (sealed) {
    name = `${expansion.name_en} ${r.pick(sealedNames)}`
  } else {
    name = r.pick(game.names)
    if (r.chance(0.006)) name = r.chance(0.5) ? `${r.pick(emoji)} ${name}` : `${name} ${r.pick(emoji)}`
  }
  // Pareto-ish: most cards are cents, a few are hundreds of euros.
  const u = r.next()
  const basePrice = sealed ? 500 + Math.round(30_000 * u * u) : 5 + Math.round(40_000 * u ** 9)
  const n = r.int(1, 350)
  const collectorNumber = game === games.onepiece
    ? `${expansion.code}-${String(n).padStart(3, '0')}`
    : r.chance(0.05) ? `${n}${r.pick(['a', 'b', '★', 's'])}` : String(n)
  return { game, sealed, name, expansion, collectorNumber, rarity: r.weighted(rarities, rarityWeights), basePrice }
}

function gcd (a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b]
  return a
}

/**
 * How products pick blueprints. 20% of listings fall on a "hot" tenth of the
 * id space (staples every seller stocks several of), the rest are uniform —
 * which makes 250k products touch ~100k distinct blueprints of 120k, as real
 * inventories do. The hot tenth is scattered over the id space by a stride
 * coprime with its size, so it is not just the low ids.
 */
export class BlueprintPicker {
  private readonly hot: number
  private readonly stride: number
  constructor (readonly blueprints: number) {
    this.hot = Math.max(1, Math.floor(blueprints / 10))
    let s = Math.floor(blueprints * 0.618) | 1
    while (gcd(s, blueprints) !== 1) s++
    this.stride = s
  }

  pick (seed: number, index: number): number {
    const v = unit3(seed, index, SALT_PICK)
    if (unit3(seed, index, SALT_HOT) < 0.2) {
      const k = Math.floor(v * v * this.hot) // squared: a few staples are very common
      return ((k * this.stride) % this.blueprints) + 1
    }
    return Math.floor(v * this.blueprints) + 1
  }
}
