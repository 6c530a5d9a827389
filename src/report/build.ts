import type { MergeCounts } from '../merge/merge'
import type { SyncRun } from '../sync/run'
import type { MappingReport, SyncReport } from './types'

function mappingReport (run: SyncRun): MappingReport {
  const t = run.totals
  const m = run.mappingStats
  return {
    source: run.unmapped === null ? 'none' : run.engine.resolver.source,
    mapped: t.mapped,
    unmapped: t.unmapped,
    excluded: t.excluded,
    lookups: m.cacheHits + m.cacheMisses,
    cacheHits: m.cacheHits,
    cacheMisses: m.cacheMisses,
    roundTrips: m.roundTrips,
    rowsFetched: m.rowsFetched,
    lookupMs: Math.round(m.lookupMs),
  }
}

/** The report of a run whose merge produced `c`: every input row accounted for. */
export function buildReport (run: SyncRun, c: MergeCounts): SyncReport {
  const t = run.totals
  const phases = run.phases
  const total = phases.total > 0 ? phases.total : performance.now() - run.t0
  return {
    runId: run.id,
    dataset: run.dataset.name,
    mode: run.options.mode,
    scope: run.options.scope.values,
    status: 'succeeded',
    rows: {
      read: t.read,
      valid: t.valid,
      rejected: t.rejected,
      duplicates: c.duplicates,
      unmapped: run.unmapped === 'keep' ? 0 : t.unmapped,
      excluded: t.excluded,
      written: t.staged - c.duplicates,
      inserted: c.inserted,
      updated: c.updated,
      unchanged: c.unchanged,
      deleted: c.deleted,
      existing: c.existing,
    },
    rejectReasons: t.reasons,
    rejectsFile: run.options.rejectsFile,
    mapping: mappingReport(run),
    bytesRead: t.bytesRead,
    partitions: t.partitions,
    phases: { lock: Math.round(phases.lock), load: Math.round(phases.load), merge: Math.round(phases.merge), total: Math.round(total) },
    workerBusyMs: Math.round(t.workerBusyMs),
    rowsPerSecond: Math.round(t.read / (total / 1000)),
    fastPath: c.fastPath,
    diff: run.diff !== null ? 'engine' : 'database',
    attempts: run.attempt,
    dryRun: c.preview !== undefined,
    ...(c.preview !== undefined ? { preview: c.preview } : {}),
    changesFile: run.options.changesFile,
  }
}
