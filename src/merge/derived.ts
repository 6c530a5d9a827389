import { quoteIdent, quoteTable, sqlType } from '../dataset'
import type { DatasetSpec, DerivedSpec } from '../dataset/types'

/** The temp table the merge reads when a dataset has derived columns: staging plus one column per derived one. */
export const DERIVED_TABLE = 'brx_src'

/**
 * Derived columns as one statement, set-based: each source table is
 * aggregated once (one GROUP BY per table and join, however many derived
 * columns read it), LEFT JOINed to the staged rows on the declared columns,
 * with the default where nothing matches; arithmetic is inlined over the
 * input columns and the derived expressions before it. Every identifier is
 * validated and quoted; a default or an arithmetic constant is a JS number
 * the spec validation checked finite, printed as a numeric literal — no text
 * from the spec or the data reaches the statement unquoted.
 */
export function buildDerivedSql (d: DatasetSpec, staging: string): string {
  const groups = new Map<string, { table: string, on: Array<[string, string]>, aggs: string[] }>()
  const exprs = new Map<string, string>()
  const select: string[] = []
  for (const c of d.derived ?? []) {
    let e: string
    if (c.aggregate !== undefined) e = aggregateRef(c, groups)
    else e = arithmetic(c, exprs)
    exprs.set(c.name, e)
    select.push(`(${e})::${sqlType(c.type)} AS ${quoteIdent(c.name)}`)
  }
  const joins = [...groups.values()].map((g, gi) => {
    const alias = `brx_a${gi}`
    const keys = g.on.map(([src], i) => `f.${quoteIdent(src)} AS k${i}`)
    const sub = `SELECT ${[...keys, ...g.aggs].join(', ')} FROM ${quoteTable(g.table)} f GROUP BY ${g.on.map((_, i) => String(i + 1)).join(', ')}`
    return `LEFT JOIN (${sub}) ${alias} ON ${g.on.map(([, col], i) => `${alias}.k${i} = s.${quoteIdent(col)}`).join(' AND ')}`
  })
  return `CREATE TEMP TABLE ${DERIVED_TABLE} ON COMMIT DROP AS SELECT s.*, ${select.join(', ')} FROM ${staging} s ${joins.join(' ')}`
}

function literal (n: number): string {
  // A finite JS number prints as a valid numeric literal (digits, '.', 'e', '-'); parenthesized for '-'.
  return `(${String(n)})`
}

function aggregateRef (c: DerivedSpec, groups: Map<string, { table: string, on: Array<[string, string]>, aggs: string[] }>): string {
  const a = c.aggregate as NonNullable<DerivedSpec['aggregate']>
  const on = Object.entries(a.on).sort(([x], [y]) => x < y ? -1 : 1)
  const sig = JSON.stringify([a.table, on])
  let g = groups.get(sig)
  if (g === undefined) { g = { table: a.table, on, aggs: [] }; groups.set(sig, g) }
  const gi = [...groups.keys()].indexOf(sig)
  const vi = g.aggs.length
  g.aggs.push(`${a.fn}(${a.column === undefined ? '*' : `f.${quoteIdent(a.column)}`}) AS v${vi}`)
  const ref = `brx_a${gi}.v${vi}`
  const dflt = a.default ?? (a.fn === 'count' ? 0 : undefined)
  return dflt === undefined ? ref : `COALESCE(${ref}, ${literal(dflt)})`
}

function arithmetic (c: DerivedSpec, exprs: Map<string, string>): string {
  const a = c.arithmetic as NonNullable<DerivedSpec['arithmetic']>
  const term = (x: string | number): string => typeof x === 'number' ? literal(x) : exprs.has(x) ? `(${exprs.get(x) as string})` : `s.${quoteIdent(x)}`
  return a.args.map(term).join(` ${a.op} `)
}
