import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { PoolStats } from '../map/types'
import type { RowCounts } from '../report/types'

/**
 * An engine's metrics: one prom-client Registry per engine (never the global
 * default registry, so two engines in one process, or the host's own
 * metrics, never collide). Counters move once per sync, never per row; pool
 * and worker gauges are read when collected.
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

export class SyncMetrics {
  readonly registry = new Registry()
  private readonly syncs: Counter<'status'>
  private readonly rows: Counter<'kind'>
  private readonly duration: Histogram<'status'>
  private readonly running: Gauge
  private readonly snap: MetricsSnapshot

  constructor (private readonly src: MetricSources) {
    const registers = [this.registry]
    this.snap = {
      syncs: Object.fromEntries(OUTCOMES.map(o => [o, 0])) as Record<SyncOutcome, number>,
      running: 0,
      rows: Object.fromEntries(ROW_KINDS.map(k => [k, 0])) as Record<keyof RowCounts, number>,
      duration: { count: 0, sumSeconds: 0 },
      pg: { inUse: 0, idle: 0, waiting: 0, max: src.pgPoolMax },
      mysql: null,
      workers: { utilization: 0, queuedPartitions: 0, threads: 0 },
    }
    this.syncs = new Counter({ name: 'brx_syncs_total', help: 'Syncs finished, by status (dry_run: rolled back on purpose).', labelNames: ['status'], registers })
    for (const o of OUTCOMES) this.syncs.inc({ status: o }, 0)
    this.rows = new Counter({ name: 'brx_rows_total', help: 'Rows of finished syncs by kind (the report\'s counts; a dry run counts nothing).', labelNames: ['kind'], registers })
    for (const k of ROW_KINDS) this.rows.inc({ kind: k }, 0)
    this.duration = new Histogram({ name: 'brx_sync_duration_seconds', help: 'Wall time of a sync, start to report or failure.', labelNames: ['status'], buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers })
    this.running = new Gauge({ name: 'brx_syncs_running', help: 'Syncs in progress in this engine.', registers })
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
  }

  /** Marks a sync started; the returned function records how it ended. */
  start (): (status: SyncOutcome, rows?: RowCounts) => void {
    const t0 = performance.now()
    this.running.inc(); this.snap.running++
    let done = false
    return (status, rows) => {
      if (done) return
      done = true
      const seconds = (performance.now() - t0) / 1000
      this.running.dec(); this.snap.running--
      this.syncs.inc({ status }); this.snap.syncs[status]++
      this.duration.observe({ status }, seconds)
      this.snap.duration.count++; this.snap.duration.sumSeconds += seconds
      if (rows !== undefined && status === 'succeeded') {
        for (const k of ROW_KINDS) { this.rows.inc({ kind: k }, rows[k]); this.snap.rows[k] += rows[k] }
      }
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
    return { ...snapshot, text: await this.registry.metrics(), contentType: this.registry.contentType }
  }
}
