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
 *   workers cannot know their new values, so no row is provably unchanged.
 */
export function databaseDiffReason (o: FilledSyncOptions, d: DatasetSpec): string | null {
  if (o.diff !== 'engine') return 'asked'
  if (o.dryRun) return 'dry run (change capture)'
  if (o.changesFile !== null) return 'changes file (change capture)'
  if (o.mode === 'insert-new') return 'insert-new mode'
  if ((d.derived ?? []).length > 0) return 'derived columns'
  return null
}
