import type { SyncReport } from '../report/types'
import { formatPreview } from './preview'
import { grouped } from './digits'

const n = grouped

/** The human-readable report: every input row accounted for, then where the time went. */
export function formatReport (r: SyncReport): string {
  const w = r.rows
  const lines = [
    `${r.dryRun ? 'dry run' : 'sync'} ${r.runId} (${r.dataset}, ${r.mode}${r.fastPath ? ', first sync: straight insert' : ''})`,
    `  read        ${n(w.read).padStart(12)}   = valid ${n(w.valid)} + rejected ${n(w.rejected)}`,
    `  valid       ${n(w.valid).padStart(12)}   = written ${n(w.written)} + duplicates ${n(w.duplicates)} + unmapped ${n(w.unmapped)} + excluded ${n(w.excluded)}`,
    `  inserted    ${n(w.inserted).padStart(12)}`,
    `  updated     ${n(w.updated).padStart(12)}`,
    `  unchanged   ${n(w.unchanged).padStart(12)}`,
    `  deleted     ${n(w.deleted).padStart(12)}`,
  ]
  if (r.mode === 'insert-new') lines.push(`  existing    ${n(w.existing).padStart(12)}   (already stored, left as they were)`)
  const reasons = Object.entries(r.rejectReasons)
  if (reasons.length > 0) lines.push(`  rejects     ${reasons.map(([k, v]) => `${k} ${n(v)}`).join(', ')}${r.rejectsFile !== null ? ` -> ${r.rejectsFile}` : ''}`)
  if (r.mapping.source !== 'none') {
    const m = r.mapping
    lines.push(`  mapping     ${m.source}: ${n(m.mapped)} mapped, ${n(m.unmapped)} unmapped, ${n(m.excluded)} excluded; cache ${n(m.cacheHits)} hits / ${n(m.cacheMisses)} misses; ${n(m.roundTrips)} round trips, ${n(m.rowsFetched)} rows fetched`)
  }
  lines.push(`  time        ${(r.phases.total / 1000).toFixed(2)} s total (load ${(r.phases.load / 1000).toFixed(2)} s, merge ${(r.phases.merge / 1000).toFixed(2)} s), ${n(r.rowsPerSecond)} rows/s, ${n(r.bytesRead)} bytes in ${n(r.partitions)} partitions`)
  if (r.changesFile != null && !r.dryRun) lines.push(`  changes     ${n(w.inserted + w.updated + w.deleted)} lines -> ${r.changesFile}`)
  return lines.join('\n') + '\n' + (r.preview !== undefined ? formatPreview(r.preview, r.scope) : '')
}
