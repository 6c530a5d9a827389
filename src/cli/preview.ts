import type { ChangeLine, Preview } from '../merge/changes'
import { grouped } from './digits'

const n = grouped
const v = (x: unknown): string => {
  const s = JSON.stringify(x) ?? 'null'
  return s.length > 60 ? s.slice(0, 57) + '...' : s
}
const key = (c: ChangeLine, scope: string[]): string =>
  Object.entries(c.key).filter(([k]) => !scope.includes(k)).map(([k, x]) => `${k}=${v(x)}`).join(' ')

/** A dry run's verdict and samples, under the report's counts. */
export function formatPreview (p: Preview, scope: Record<string, unknown>): string {
  const s = Object.keys(scope)
  const g = p.guard
  const lines = [
    'DRY RUN: nothing was written (rolled back). A real sync now would do the above.',
    g.wouldRefuse
      ? `  guard       WOULD REFUSE: deletes ${n(g.deleted)} of ${n(g.existing)} rows (${(100 * g.deleted / Math.max(1, g.existing)).toFixed(1)}%), more than maxDeleteRatio ${g.maxDeleteRatio} (BRX_ERR_WIPE_GUARD); pass --allow-mass-delete to lift it`
      : `  guard       passes (${n(g.deleted)} of ${n(g.existing)} existing rows deleted${g.allowMassDelete ? ', mass delete allowed' : `, limit ${g.maxDeleteRatio}`})`,
  ]
  const section = (title: string, xs: ChangeLine[], line: (c: ChangeLine) => string): void => {
    if (xs.length === 0) return
    lines.push(`  ${title} (first ${xs.length}):`)
    for (const c of xs) lines.push(`    ${line(c)}`)
  }
  section('inserted', p.samples.inserted, c => key(c, s))
  section('updated', p.samples.updated, c => `${key(c, s)}: ${Object.entries(c.changed ?? {}).map(([col, [a, b]]) => `${col} ${v(a)} -> ${v(b)}`).join(', ')}`)
  section('deleted', p.samples.deleted, c => key(c, s))
  return lines.join('\n') + '\n'
}
