/**
 * A dataset is described as data: the target table, its columns with their
 * PostgreSQL types and the rules each value must meet, the key, the scope
 * that bounds deletes, and the columns that count as a change. A user writes
 * one as JSON (README "Your own dataset"); the rules are compiled once per
 * dataset into a record reader (src/transform/rules.ts). A named normalizer
 * (src/transform/normalizers.ts) is the exception, for sources too irregular
 * for rules (CardTrader's product).
 */
import type { BaseType } from './vocabulary'

/** A base type, or a parametrized one: `varchar(n)`, `numeric(p,s)` / `numeric(p)`. */
export type PgType = BaseType | `varchar(${number})` | `numeric(${number},${number})` | `numeric(${number})`

export interface ColumnSpec {
  name: string
  type: PgType
  /** The source field: a dotted path into a JSON record, or a CSV header name. Default: the column's name. */
  from?: string
  /** NULL allowed. Default true; key and scope columns are never NULL. */
  nullable?: boolean
  /** Bounds for int2/int4/int8/float8/numeric values (inclusive). */
  min?: number
  max?: number
  /** The only values allowed (after coercion). */
  enum?: Array<string | number | boolean>
  /** timestamptz/date: a number (or digit string) is epoch seconds or milliseconds. Without it, only ISO 8601. */
  epoch?: 's' | 'ms'
}

export interface MappingSpec {
  /** The column holding the external id to map (e.g. blueprint_id). */
  from: string
  /** Columns receiving the internal id (int4) and the catalog table it came from (text). */
  to: [idColumn: string, tableColumn: string]
  /** Reject reason listed for a record whose id maps nowhere (default 'unmapped'). */
  unmappedReason?: string
}

/**
 * A column computed in the database at merge time, never read from the input:
 * an aggregate over another table joined on named columns, or arithmetic over
 * other columns (input columns or derived ones declared before it).
 */
export interface DerivedSpec {
  name: string
  type: PgType
  aggregate?: AggregateSpec
  arithmetic?: ArithmeticSpec
  description?: string
}

export interface AggregateSpec {
  fn: 'sum' | 'count' | 'min' | 'max'
  /** The table aggregated (one GROUP BY per table and join per sync). */
  table: string
  /** The column aggregated; count without one counts rows. */
  column?: string
  /** Join: the source table's column -> the dataset column it equals. */
  on: Record<string, string>
  /** The value when no source row matches (default NULL; count: 0). */
  default?: number
}

export interface ArithmeticSpec {
  op: '+' | '-' | '*'
  /** Column names (input or earlier derived) or numbers, applied left to right. */
  args: Array<string | number>
}

/** A table the dataset reads from (an aggregate's source), created by migrate if absent. */
export interface SourceTableSpec {
  table: string
  columns: Array<{ name: string, type: PgType }>
}

export type SyncMode = 'mirror' | 'upsert' | 'insert-new'

export interface DatasetSpec {
  name: string
  /** Target table, optionally schema-qualified ("public.user_inventory_items"). */
  table: string
  /** Columns bound once per sync (e.g. user_id); they bound what mirror mode may delete. */
  scope: ColumnSpec[]
  /** Columns produced per record, in table order. */
  columns: ColumnSpec[]
  /** Subset of `columns`: together with the scope, unique in the target. */
  key: string[]
  /** Columns whose change makes a row "updated". Default: every non-key column. */
  compare?: string[]
  /** Name of a normalizer in src/transform/normalizers.ts; without one, the columns' rules read the records. */
  normalizer?: string
  /** Timestamp columns maintained by the merge (null to disable). */
  createdAt?: string | null
  updatedAt?: string | null
  /** "whole-table": mirror mode may run with an empty scope (and delete any row of the table). */
  mirror?: 'scoped' | 'whole-table'
  /** Option names that are shorthands of a scope column, e.g. { userId: 'user_id' }. */
  scopeAlias?: Record<string, string>
  /** Optional mapping of an external id to an internal one (blueprint -> print). */
  mapping?: MappingSpec
  /** The mode a sync takes when the caller names none (default mirror). */
  mode?: SyncMode
  /** Columns computed at merge time (after `columns` in the table); compared like any column. */
  derived?: DerivedSpec[]
  /** Tables the derived columns read, created by migrate if absent. */
  sources?: SourceTableSpec[]
}
