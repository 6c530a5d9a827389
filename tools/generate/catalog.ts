/**
 * The blueprint catalog (cardtrader_id → print id in one of four tables), as
 * the CSV the engine's `mapping.catalogFile` reads.
 *
 * The real system looks in cards_prints, op_prints, pk_prints, sealed_products
 * in that order and takes the first hit. ~1% of blueprints are put in a second
 * table so a loader that takes "the first row in the file" or "the last row"
 * instead of "the highest-priority table" gets some of them wrong: the file
 * writes each blueprint's own table first, which is sometimes the lower-priority one.
 */
import { blueprintKind, DEFAULT_BLUEPRINTS, MAX_BLUEPRINTS } from './blueprint'
import { hash3, permute, unit3 } from './prng'
import { writeChunks } from './sink'

/** Priority order of the real system's lookup. */
export const CATALOG_TABLES = ['cards_prints', 'op_prints', 'pk_prints', 'sealed_products'] as const

const SALT_OVERLAP = 0xc1
const SALT_OTHER = 0xc2
const OVERLAP_RATE = 0.01
const PRINT_BITS = 24

function tableKey (seed: number, table: number, secondary: boolean): number {
  return hash3(seed, table, secondary ? 0xc4 : 0xc3) & 0xffffff
}

/**
 * The catalog rows of one blueprint in table priority order ([0] is the row
 * the real system picks); [] when the blueprint is unmapped.
 *
 * print ids are a per-table bijection of the blueprint id, so they are distinct
 * within each table; a blueprint's second-table row uses ids from 2^24 up so it
 * cannot collide with that table's own rows.
 */
export function catalogEntry (blueprintId: number, seed: number): Array<{ table: string, printId: number }> {
  return catalogRows(blueprintId, seed).sort((a, b) => CATALOG_TABLES.indexOf(a.table as never) - CATALOG_TABLES.indexOf(b.table as never))
}

/** The same rows in file order: the blueprint's own table first. */
function catalogRows (blueprintId: number, seed: number): Array<{ table: string, printId: number }> {
  if (!(Number.isInteger(blueprintId) && blueprintId >= 1 && blueprintId <= MAX_BLUEPRINTS)) return []
  const { game, sealed } = blueprintKind(blueprintId, seed)
  const own = sealed ? 'sealed_products' : game.table
  if (own === null) return []
  const ownIndex = CATALOG_TABLES.indexOf(own as never)
  const rows = [{ table: own, printId: 1 + permute(blueprintId, PRINT_BITS, tableKey(seed, ownIndex, false)) }]
  if (unit3(seed, blueprintId, SALT_OVERLAP) < OVERLAP_RATE) {
    const other = (ownIndex + 1 + (hash3(seed, blueprintId, SALT_OTHER) % 3)) % 4
    rows.push({ table: CATALOG_TABLES[other], printId: (1 << PRINT_BITS) + 1 + permute(blueprintId, PRINT_BITS, tableKey(seed, other, true)) })
  }
  return rows
}

export async function writeCatalog (path: string, o: { seed?: number, blueprints?: number }): Promise<{ rows: number }> {
  const seed = o.seed ?? 1
  const blueprints = o.blueprints ?? DEFAULT_BLUEPRINTS
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${JSON.stringify(seed)}.`)
  if (!(Number.isInteger(blueprints) && blueprints >= 1 && blueprints <= MAX_BLUEPRINTS)) {
    throw new RangeError(`blueprints must be an integer between 1 and ${MAX_BLUEPRINTS}, got ${JSON.stringify(blueprints)}.`)
  }
  let rows = 0
  function * lines (): Generator<string> {
    yield 'cardtrader_id,print_id,table\n'
    for (let bp = 1; bp <= blueprints; bp++) {
      for (const r of catalogRows(bp, seed)) {
        rows++
        yield `${bp},${r.printId},${r.table}\n`
      }
    }
  }
  await writeChunks(path, lines())
  return { rows }
}
