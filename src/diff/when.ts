import type { DatasetSpec } from '../dataset/types'
import type { FilledSyncOptions } from '../options'

/**
 * Why a sync that asked for the engine diff takes the database diff, or null
 * when the engine diff applies (it still needs rows in the scope, and the
 * scope within the memory budget: see readExisting).
 *
 * - change capture (dry run, changes file) records updates from the classify
 *   table and deletes as the scope's keys missing from staging: with the
 *   engine diff, staging holds only the changed rows, and every unchanged row
 *   would be captured as deleted;
 * - insert-new never compares, so there is nothing to diff;
 * - derived columns are computed at merge time from other tables: the
 *   workers cannot know their new values, so no row is provably unchanged;
 * - a key column whose equal values can differ in bytes (float8: -0 and 0;
 *   jsonb: its text; numeric without a scale: 1.5 and 1.50): the workers find
 *   existing rows by the key's bytes, and a row the input does have, under
 *   another spelling, would count as absent, and mirror would delete it.
 *   (numeric with a scale is rounded to it by the normalizer: its bytes are
 *   PostgreSQL's, as are every other type's.)
 */
export function databaseDiffReason (o: FilledSyncOptions, d: DatasetSpec): string | null {
  if (o.diff === 'database') return 'asked'
  if (o.dryRun) return 'dry run (change capture)'
  if (o.changesFile !== null) return 'changes file (change capture)'
  if (o.mode === 'insert-new') return 'insert-new mode'
  if ((d.derived ?? []).length > 0) return 'derived columns'
  for (const k of d.key) {
    const c = d.columns.find(x => x.name === k)
    if (c !== undefined && !CANONICAL_KEY.test(c.type)) return `key column ${k} (${c.type}): equal values may differ in bytes`
  }
  return null
}

/** Key types whose binary form is one per value. */
const CANONICAL_KEY = /^(int2|int4|int8|text|varchar(\(\d+\))?|bool|uuid|date|timestamptz|numeric\(\d+\s*(,\s*\d+)?\))$/
