import type { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { PoolStats } from '../map/types'
import type { RowCounts } from '../report/types'

/**
 * An engine's metrics: one prom-client Registry per engine (never the global
 * default registry, so two engines in one process, or the host's own
 * metrics, never collide). Counters move once per sync, never per row; pool
 * and worker gauges are read when collected. prom-client is loaded at the
 * first collect(), not at engine start: a one-shot sync (the CLI without
 * --metrics-file) never pays for it. Until then each sync's outcome waits in
 * a short list, replayed into the registry when it is built (after
 * UNREPORTED_MAX syncs it is built anyway, so the list stays short).
 */
export interface MetricSources {
  pgPool: () => PoolStats
  mysqlPool: () => PoolStats | null
  pgPoolMax: number
  /** Piscina: fraction of the pool's capacity used since start (0..1), tasks waiting for a thread, threads. */
  workers: () => { utilization: number, queued: number, threads: number }
}

export type SyncOutcome = 'succeeded' | 'failed' | 'cancelled' | 'dry_run'

export interface MetricsSnapshot {
  syncs: Record<SyncOutcome, number>
  running: number
  rows: Record<keyof RowCounts, number>
  duration: { count: number, sumSeconds: number }
  pg: { inUse: number, idle: number, waiting: number, max: number }
  mysql: { inUse: number, idle: number, waiting: number } | null
  workers: { utilization: number, queuedPartitions: number, threads: number }
}

export interface EngineMetrics extends MetricsSnapshot {
  /** Prometheus text exposition (serve it with `contentType`). */
  text: string
  contentType: string
}

const ROW_KINDS: Array<keyof RowCounts> = ['read', 'valid', 'rejected', 'duplicates', 'unmapped', 'excluded', 'written', 'inserted', 'updated', 'unchanged', 'deleted', 'existing']
const OUTCOMES: SyncOutcome[] = ['succeeded', 'failed', 'cancelled', 'dry_run']
const UNREPORTED_MAX = 1_000

interface Finished { status: SyncOutcome, seconds: number, rows?: RowCounts }

interface Prom {
  registry: Registry
  syncs: Counter<'status'>
  rows: Counter<'kind'>
  duration: Histogram<'status'>
  running: Gauge
}

export class SyncMetrics {
  private prom: Prom | null = null
  /** Syncs finished before the registry was built, oldest first. */
  private unreported: Finished[] = []
  private readonly snap: MetricsSnapshot

  constructor (private readonly src: MetricSources) {
    this.snap = {
      syncs: Object.fromEntries(OUTCOMES.map(o => [o, 0])) as Record<SyncOutcome, number>,
      running: 0,
      rows: Object.fromEntries(ROW_KINDS.map(k => [k, 0])) as Record<keyof RowCounts, number>,
      duration: { count: 0, sumSeconds: 0 },
      pg: { inUse: 0, idle: 0, waiting: 0, max: src.pgPoolMax },
      mysql: null,
      workers: { utilization: 0, queuedPartitions: 0, threads: 0 },
    }
  }

  /** This engine's prom-client registry (built, and prom-client loaded, on first use). */
  get registry (): Registry {
    return this.built().registry
  }

  private built (): Prom {
    if (this.prom !== null) return this.prom
    const { Counter, Gauge, Histogram, Registry } = require('prom-client') as typeof import('prom-client')
    const registry = new Registry()
    const registers = [registry]
    const syncs = new Counter({ name: 'brx_syncs_total', help: 'Syncs finished, by status (dry_run: rolled back on purpose).', labelNames: ['status'], registers })
    for (const o of OUTCOMES) syncs.inc({ status: o }, 0)
    const rows = new Counter({ name: 'brx_rows_total', help: 'Rows of finished syncs by kind (the report\'s counts; a dry run counts nothing).', labelNames: ['kind'], registers })
    for (const k of ROW_KINDS) rows.inc({ kind: k }, 0)
    const duration = new Histogram({ name: 'brx_sync_duration_seconds', help: 'Wall time of a sync, start to report or failure.', labelNames: ['status'], buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers })
    const running = new Gauge({ name: 'brx_syncs_running', help: 'Syncs in progress in this engine.', registers })
    running.set(this.snap.running)
    const self = this
    new Gauge({
      name: 'brx_pg_pool_connections', help: 'PostgreSQL pool connections by state (in_use, idle, waiting requests, max).', labelNames: ['state'], registers,
      collect () { const p = self.pg(); for (const [k, v] of Object.entries({ in_use: p.inUse, idle: p.idle, waiting: p.waiting, max: p.max })) this.set({ state: k }, v) },
    })
    new Gauge({
      name: 'brx_mysql_pool_connections', help: 'MySQL (blueprint catalog) pool connections by state; absent until the first connection.', labelNames: ['state'], registers,
      collect () { const m = self.mysql(); if (m !== null) for (const [k, v] of Object.entries({ in_use: m.inUse, idle: m.idle, waiting: m.waiting })) this.set({ state: k }, v) },
    })
    new Gauge({ name: 'brx_worker_utilization', help: 'Share of worker-thread capacity used since the engine started (0..1).', registers, collect () { this.set(self.src.workers().utilization) } })
    new Gauge({ name: 'brx_queued_partitions', help: 'Partitions waiting for a worker thread.', registers, collect () { this.set(self.src.workers().queued) } })
    this.prom = { registry, syncs, rows, duration, running }
    for (const f of this.unreported) this.report(this.prom, f)
    this.unreported = []
    return this.prom
  }

  private report (p: Prom, f: Finished): void {
    p.syncs.inc({ status: f.status })
    p.duration.observe({ status: f.status }, f.seconds)
    if (f.rows !== undefined) for (const k of ROW_KINDS) p.rows.inc({ kind: k }, f.rows[k])
  }

  /** Marks a sync started; the returned function records how it ended. */
  start (): (status: SyncOutcome, rows?: RowCounts) => void {
    const t0 = performance.now()
    this.prom?.running.inc(); this.snap.running++
    let done = false
    return (status, rows) => {
      if (done) return
      done = true
      const seconds = (performance.now() - t0) / 1000
      this.prom?.running.dec(); this.snap.running--
      this.snap.syncs[status]++
      this.snap.duration.count++; this.snap.duration.sumSeconds += seconds
      const counted = rows !== undefined && status === 'succeeded' ? rows : undefined
      if (counted !== undefined) for (const k of ROW_KINDS) this.snap.rows[k] += counted[k]
      const f: Finished = { status, seconds, rows: counted === undefined ? undefined : { ...counted } }
      if (this.prom !== null) this.report(this.prom, f)
      else if (this.unreported.push(f) >= UNREPORTED_MAX) this.built()
    }
  }

  private pg (): MetricsSnapshot['pg'] {
    const p = this.src.pgPool()
    return { inUse: p.total - p.idle, idle: p.idle, waiting: p.waiting, max: this.src.pgPoolMax }
  }

  private mysql (): MetricsSnapshot['mysql'] {
    const m = this.src.mysqlPool()
    return m === null ? null : { inUse: m.total - m.idle, idle: m.idle, waiting: m.waiting }
  }

  async collect (): Promise<EngineMetrics> {
    const w = this.src.workers()
    const snapshot: MetricsSnapshot = {
      ...structuredClone(this.snap),
      pg: this.pg(),
      mysql: this.mysql(),
      workers: { utilization: w.utilization, queuedPartitions: w.queued, threads: w.threads },
    }
    const { registry } = this.built()
    return { ...snapshot, text: await registry.metrics(), contentType: registry.contentType }
  }
}
