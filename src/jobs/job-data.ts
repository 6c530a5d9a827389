import { optionError } from '../errors'
import { scopeKey } from '../runs/runs'
import type { SyncMode } from '../dataset/types'

/**
 * What a sync job stores in the queue: only JSON, only references. An input
 * is a path every worker host can read; a live source names its kind and a
 * token reference the worker resolves through the host's token provider.
 */
export interface SyncJobData {
  v: 1
  scope: Record<string, string | number>
  /** A preset name (a dataset description must be a preset the workers know). */
  dataset: string
  input?: string
  source?: { kind: string, tokenRef: string }
  /** Absent: the dataset's own default mode (e.g. upsert for catalog-snapshots), else mirror. */
  mode?: SyncMode
  /** Per-sync options that are plain data. */
  options?: JobSyncOptions
}

export interface JobSyncOptions {
  format?: 'auto' | 'json' | 'ndjson'
  gzip?: boolean | 'auto'
  rejectsFile?: string | null
  maxDeleteRatio?: number
  allowMassDelete?: boolean
  lockTimeoutMs?: number
  statementTimeoutMs?: number
}

const JOB_OPTION_KEYS = new Set<keyof JobSyncOptions>(['format', 'gzip', 'rejectsFile', 'maxDeleteRatio', 'allowMassDelete', 'lockTimeoutMs', 'statementTimeoutMs'])

function invalid (option: string, rule: string): never {
  throw optionError(option, rule)
}

/** uuid scopes compare case-insensitively, as the engine's lock does. */
function canonicalScope (scope: Record<string, string | number>): Record<string, string | number> {
  return Object.fromEntries(Object.entries(scope).map(([k, v]) => [k, typeof v === 'string' && /^[0-9a-f-]{36}$/i.test(v) ? v.toLowerCase() : v]))
}

/** The singleton key: one active and one queued job per (dataset, scope) everywhere. */
export function jobKey (d: Pick<SyncJobData, 'dataset' | 'scope'>): string {
  return `${d.dataset}:${scopeKey(canonicalScope(d.scope))}`
}

const MODES: readonly SyncMode[] = ['mirror', 'upsert', 'insert-new']

export function checkJobData (raw: unknown): SyncJobData {
  const d = raw as Partial<SyncJobData> | null
  if (d === null || typeof d !== 'object' || d.v !== 1) invalid('job', 'is not a brx-sync job (version 1).')
  if (d.scope === null || typeof d.scope !== 'object' || Object.keys(d.scope).length === 0) invalid('scope', 'must name at least one scope column.')
  for (const [k, v] of Object.entries(d.scope)) if (typeof v !== 'string' && typeof v !== 'number') invalid(`scope.${k}`, 'must be a string or a number.')
  if (typeof d.dataset !== 'string') invalid('dataset', 'must be a preset name in a job.')
  if ((d.input === undefined) === (d.source === undefined)) invalid('input', 'or options.source must be given, not both.')
  if (d.input !== undefined && (typeof d.input !== 'string' || d.input === '' || d.input === '-')) invalid('input', 'must be a file path every worker can read (not stdin) in a job.')
  if (d.source !== undefined && (typeof d.source.kind !== 'string' || typeof d.source.tokenRef !== 'string' || d.source.tokenRef === '')) invalid('source', 'must be { kind, tokenRef }.')
  if (d.mode !== undefined && !MODES.includes(d.mode)) invalid('mode', `must be one of ${MODES.map(m => JSON.stringify(m)).join(', ')}, got ${JSON.stringify(d.mode)}.`)
  for (const k of Object.keys(d.options ?? {})) if (!JOB_OPTION_KEYS.has(k as keyof JobSyncOptions)) invalid(k, 'is not an option a job can carry.')
  return { ...(d as SyncJobData), scope: canonicalScope(d.scope) }
}
