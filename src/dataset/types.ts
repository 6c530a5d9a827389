/**
 * A dataset is described as data: the target table, its columns with their
 * PostgreSQL types, the key, the scope that bounds deletes, and the columns
 * that count as a change. The pipeline only ever sees this description; the
 * record-level rules live in a normalizer registered by name (functions do
 * not cross the worker boundary, names do).
 */
export type PgType = 'int2' | 'int4' | 'int8' | 'float8' | 'bool' | 'text' | 'jsonb' | 'uuid' | 'timestamptz' | 'date'

export interface ColumnSpec {
  name: string
  type: PgType
  /** NULL allowed (default true for non-key columns). */
  nullable?: boolean
}

export interface MappingSpec {
  /** The column holding the external id to map (e.g. blueprint_id). */
  from: string
  /** Columns receiving the internal id (int4) and the catalog table it came from (text). */
  to: [idColumn: string, tableColumn: string]
  /** Reject reason listed for a record whose id maps nowhere (default 'unmapped'). */
  unmappedReason?: string
}

export interface DatasetSpec {
  name: string
  /** Target table, optionally schema-qualified ("public.user_inventory_items"). */
  table: string
  /** Columns bound once per sync (e.g. user_id); they bound what mirror mode may delete. */
  scope: ColumnSpec[]
  /** Columns produced per record, in the order the normalizer fills them. */
  columns: ColumnSpec[]
  /** Subset of `columns`: together with the scope, unique in the target. */
  key: string[]
  /** Columns whose change makes a row "updated". Default: every non-key column. */
  compare?: string[]
  /** Name of a normalizer in src/transform/normalizers.ts. */
  normalizer: string
  /** Timestamp columns maintained by the merge (null to disable). */
  createdAt?: string | null
  updatedAt?: string | null
  /** Option names that are shorthands of a scope column, e.g. { userId: 'user_id' }. */
  scopeAlias?: Record<string, string>
  /** Optional mapping of an external id to an internal one (blueprint -> print). */
  mapping?: MappingSpec
}
