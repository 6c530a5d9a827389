import type { RunSummary } from '../runs/queries'
import { grouped } from './digits'

const n = (x: number | null | undefined): string => x == null ? '-' : grouped(x)
const time = (d: Date | null): string => d === null ? '-' : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
const dur = (ms: number | null): string => ms === null ? '-' : ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms / 1000)}s`
const scope = (s: Record<string, unknown>): string => Object.entries(s).map(([k, v]) => `${k}=${String(v)}`).join(' ')

function table (head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n') + '\n'
}

export function formatRunning (runs: RunSummary[]): string {
  if (runs.length === 0) return 'no sync is running\n'
  return table(['started', 'dataset', 'scope', 'phase', 'rows', 'host/pid', 'run'],
    runs.map(r => [time(r.startedAt), r.dataset, scope(r.scope), r.phase ?? '-', n(r.rowsRead), `${r.host ?? '?'}/${r.pid ?? '?'}`, r.id]))
}

export function formatHistory (runs: RunSummary[]): string {
  if (runs.length === 0) return 'no runs match\n'
  return table(['started', 'status', 'scope', 'read', 'ins', 'upd', 'del', 'rej', 'duration', 'error', 'run'],
    runs.map(r => [
      time(r.startedAt), r.status + (r.dryRun ? ' (dry)' : ''), scope(r.scope),
      n(r.rows?.read ?? r.rowsRead), n(r.rows?.inserted), n(r.rows?.updated), n(r.rows?.deleted), n(r.rows?.rejected),
      dur(r.durationMs), r.errorCode ?? '', r.id,
    ]))
}
