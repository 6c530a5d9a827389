import { isUuid } from '../encode'
import { optionError } from '../errors'
import { scopeKey } from '../runs/runs'
import type { DatasetSpec } from './types'

/** The scope of one sync: values in the dataset's scope-column order, canonical, and its lock/sync_runs key. */
export interface ResolvedScope {
  /** Column name -> canonical value. */
  values: Record<string, string | number>
  /** Aligned with dataset.scope: the merge's parameters. */
  list: Array<string | number>
  /** Canonical JSON: the advisory-lock key and sync_runs.scope. */
  key: string
}

/** The options a preset may declare as shorthands of a scope column (`scopeAlias`). */
type AliasOptions = Partial<Record<string, unknown>>

/**
 * Options.scope plus the shorthands the dataset declares (the CardTrader
 * preset: `userId` -> `user_id`), checked against the dataset's scope
 * columns and canonicalized by each column's type.
 */
export function resolveScope (dataset: DatasetSpec, o: AliasOptions): ResolvedScope {
  const scope: Record<string, string | number> = { ...(o.scope as Record<string, string | number> | undefined ?? {}) }
  const aliases = dataset.scopeAlias ?? {}
  for (const [option, column] of Object.entries(aliases)) {
    const v = o[option]
    if (v === undefined) continue
    if (scope[column] !== undefined && scope[column] !== v) throw optionError(option, `and options.scope.${column} disagree; pass one of them.`)
    scope[column] = v as string | number
  }
  if (o.userId !== undefined && !('userId' in aliases)) throw optionError('userId', `is not a shorthand dataset ${dataset.name} declares; pass options.scope.`)
  const names = dataset.scope.map(c => c.name)
  for (const k of Object.keys(scope)) {
    if (!names.includes(k)) throw optionError('scope', `has "${k}", which is not a scope column of dataset ${dataset.name} (${names.join(', ') || 'none'}).`)
  }
  const list = dataset.scope.map(c => {
    const v = scope[c.name]
    const alias = Object.keys(aliases).find(a => aliases[a] === c.name)
    if (v === undefined) throw optionError(`scope.${c.name}`, `is required by dataset ${dataset.name}${alias !== undefined ? ` (or pass options.${alias})` : ''}.`)
    return canonical(c.name, c.type, v)
  })
  dataset.scope.forEach((c, i) => { scope[c.name] = list[i] })
  return { values: scope, list, key: scopeKey(scope) }
}

function canonical (name: string, type: string, v: string | number): string | number {
  if (type === 'uuid') {
    if (!isUuid(v)) throw optionError(`scope.${name}`, `must be a uuid, got ${JSON.stringify(v)}.`)
    // One scope, one lock: the lock key and sync_runs.scope must not depend on how the uuid was spelled.
    const h = (v as string).replace(/-/g, '').toLowerCase()
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }
  if (type === 'int4' || type === 'int8' || type === 'int2') {
    if (!Number.isSafeInteger(Number(v))) throw optionError(`scope.${name}`, `must be an integer, got ${JSON.stringify(v)}.`)
    // --scope station=7 arrives as "7": one scope, one lock key, whichever way the number was spelled.
    return Number(v)
  }
  return v
}
