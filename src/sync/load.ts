import { setMaxListeners } from 'node:events'
import { SyncError, fromPgError, syncError } from '../errors'
import { MappingChannel } from '../map/channel'
import { defaults } from '../options'
import { Partitioner, type Partition } from '../read/partitioner'
import { sourceError, type OpenedSource } from '../read/source'
import { RejectsFile } from '../report/rejects'
import { recordProgress } from '../runs/runs'
import { transformPartition, type ClassifyAnswer, type ClassifyTask, type TransformResult, type TransformTask, type TupleLayout } from '../transform/partition'
import type { Sink } from '../write/sinks'
import type { SyncRun } from './run'

/**
 * Unless set, partitions shrink for small inputs so every worker gets work
 * (about four partitions per worker), between 64 KiB and the 1 MiB default.
 * A gzip file's size is its compressed size: assume ~8x.
 */
export function partitionSize (set: number | null, workers: number, source: OpenedSource): number {
  const max = defaults.partitionBytes
  if (set !== null) return set
  const bytes = expectedBytes(source)
  if (bytes === null) return max
  return Math.min(max, Math.max(64 * 1024, Math.ceil(bytes / (workers * 4))))
}

/** The input's uncompressed size as far as it is known before reading it (a gzip file: ~8x its size). */
export function expectedBytes (source: OpenedSource): number | null {
  if (source.size === null) return null
  return source.gzip ? source.size * 8 : source.size
}

/**
 * read → transform → write for one attempt. At most `maxInFlight`
 * partitions exist at once (being read, transformed, or waiting to be
 * written): memory stays flat however large the input. Workers finish in
 * any order; results are written in input order (a chain of promises), which
 * is what lets the direct path tell a key's first occurrence from later ones.
 */
class Load {
  private readonly abort = new AbortController()
  private readonly rejects: RejectsFile
  private failure: unknown = null
  private inFlight = 0
  private wake: (() => void) | null = null
  private chain: Promise<void> = Promise.resolve()
  private lastProgress = 0
  private lastDbProgress = 0
  private partitioner: Partitioner | null = null
  private partBytes = defaults.partitionBytes

  constructor (private readonly run: SyncRun, private readonly source: OpenedSource, private readonly sink: Sink, private readonly layout: TupleLayout) {
    this.rejects = new RejectsFile(run.options.rejectsFile)
    // One abort listener per task in flight: while the engine diff reads its scope, more than the default 10.
    setMaxListeners(4096, this.abort.signal)
  }

  fail (err: unknown): void {
    if (this.failure !== null) return
    this.failure = err
    this.abort.abort()
    this.sink.abort(err instanceof Error ? err : new Error(String(err)))
  }

  async pump (): Promise<void> {
    const { options, engine } = this.run
    this.partBytes = partitionSize(options.partitionBytes, engine.settings.workers, this.source)
    const partitioner = new Partitioner(options.format, this.partBytes, this.source.name)
    // CSV: the header it parses goes with every task.
    this.partitioner = partitioner
    try {
      for await (const chunk of this.source.stream) {
        if (this.failure !== null) break
        this.run.totals.bytesRead += chunk.length
        partitioner.push(chunk as Buffer)
        for (let p = partitioner.take(); p !== undefined; p = partitioner.take()) await this.dispatch(p)
        if (this.failure !== null) break
      }
      if (this.failure === null) {
        partitioner.end()
        for (let p = partitioner.take(); p !== undefined; p = partitioner.take()) await this.dispatch(p)
      }
    } catch (err) {
      this.fail(err instanceof SyncError ? err : sourceError(err, this.source.name))
    }
    await this.chain
    if (this.failure !== null) throw this.failure
  }

  async finish (): Promise<void> {
    try {
      await this.sink.finish()
    } catch (err) {
      throw fromPgError(err, `COPY into ${this.layout.seq ? (this.run.light ? 'the temporary staging table' : this.run.staging) : this.run.dataset.table}`)
    }
    await this.rejects.close()
    this.run.totals.maybeDuplicates = this.sink.maybeDuplicates
  }

  async failed (err: unknown): Promise<never> {
    this.fail(err)
    await this.rejects.close().catch(() => {})
    throw this.failure
  }

  /** In-flight bound: raised while the engine diff reads its scope, within the room its budget leaves (run.overlapBytes). */
  private limit (): number {
    const pending = this.run.pendingDiff
    const extra = pending !== null && !pending.isOpen ? Math.floor(this.run.overlapBytes / this.partBytes) : 0
    return this.run.options.maxInFlight + extra
  }

  private async dispatch (p: Partition): Promise<void> {
    while (this.inFlight >= this.limit() && this.failure === null) await new Promise<void>(resolve => { this.wake = resolve })
    if (this.failure !== null) return
    this.inFlight++
    const result = this.transform(p).then(async res => await this.marked(p, res))
    result.catch(() => {}) // observed by the chain below; this only marks it handled meanwhile
    this.chain = this.chain.then(async () => {
      if (this.failure !== null) return
      await this.write(p, await result)
    }).catch(err => this.fail(err)).finally(() => {
      this.inFlight--
      const w = this.wake; this.wake = null; w?.()
    })
  }

  /**
   * A result transformed before the engine diff's scope was read carries no
   * marks: once the read is done, a worker marks its tuples (moved there and
   * back), in parallel with the other waiting partitions.
   */
  private async marked (p: Partition, res: TransformResult): Promise<TransformResult> {
    const pending = this.run.pendingDiff
    if (pending === null || res.marks !== undefined) return res
    const { diff } = await pending.ready
    if (diff === null) return res
    this.run.totals.markedLate++
    if (res.rows === 0) return { ...res, marks: { slots: new Int32Array(0), same: new Uint8Array(0) } }
    const task: ClassifyTask = { classify: true, tuples: res.tuples, tupleEnds: res.tupleEnds, existing: diff.existing, dataset: this.run.dataset, prefix: this.layout.prefix.length }
    try {
      const ans: ClassifyAnswer = await this.run.engine.piscina.run(task, { name: 'classify', transferList: [res.tuples.buffer as ArrayBuffer], signal: this.abort.signal })
      return { ...res, tuples: ans.tuples, marks: ans.marks }
    } catch (err) {
      if (this.failure !== null) throw this.failure
      throw syncError('BRX_ERR_WORKER_FAILED', [p.firstRow, p.byteOffset, (err as Error).message], { cause: err, row: p.firstRow })
    }
  }

  private async transform (p: Partition): Promise<TransformResult> {
    const { run } = this
    const task: TransformTask & { port?: MessagePort } = {
      data: p.data, offsets: p.offsets, firstRow: p.firstRow, byteOffset: p.byteOffset,
      dataset: run.dataset, keepRaw: run.options.rejectsFile !== null, unmapped: run.unmapped, layout: this.layout,
      format: run.options.format === 'csv' ? 'csv' : 'json', header: this.partitioner?.header ?? undefined, existing: run.diff?.existing,
    }
    // The light path's one small partition: a worker round trip would cost more than the work.
    if (run.light) return await transformPartition(task)
    const transferList: any[] = [p.data.buffer, p.offsets.buffer]
    const channel = run.unmapped !== null ? new MappingChannel(run.engine.resolver, run.mappingStats, run.signal) : null
    if (channel !== null) {
      task.port = channel.worker as unknown as MessagePort
      transferList.push(channel.worker)
    }
    try {
      return await run.engine.piscina.run(task, { transferList, signal: this.abort.signal })
    } catch (err) {
      if (channel?.error != null) throw channel.error
      if (this.failure !== null) throw this.failure
      throw syncError('BRX_ERR_WORKER_FAILED', [p.firstRow, p.byteOffset, (err as Error).message], { cause: err, row: p.firstRow })
    } finally {
      channel?.close()
    }
  }

  private async write (p: Partition, res: TransformResult): Promise<void> {
    const t = this.run.totals
    t.partitions++
    t.read += p.count
    t.valid += res.valid
    t.rejected += res.rejected
    t.unmapped += res.unmapped
    t.excluded += res.excluded
    t.mapped += res.mapped
    t.workerBusyMs += res.cpuMs
    for (const k in res.reasons) t.reasons[k] = (t.reasons[k] ?? 0) + res.reasons[k]
    await this.rejects.write(res.rejects)
    await this.sink.write(res)
    t.staged += res.rows
    this.progress()
  }

  private progress (): void {
    const now = performance.now()
    if (now - this.lastProgress < 250) return
    this.lastProgress = now
    const { run, source } = this
    const p = run.progress('load', run.totals.read, run.totals.staged)
    if (source.size !== null) p.percent = Math.min(100, Math.round(1000 * source.rawBytes() / source.size) / 10)
    run.options.onProgress?.(p)
    // Progress in sync_runs only when a connection is idle: never wait for one, never per row.
    const pool = run.engine.pool
    if (now - this.lastDbProgress > 1000 && pool.idleCount > 0) {
      this.lastDbProgress = now
      recordProgress(pool, run.id, p).catch(() => {})
    }
  }
}

/** Streams the run's source through the workers into its sink; fills run.totals. */
export async function load (run: SyncRun, layout: TupleLayout): Promise<void> {
  const source = run.source
  const sink = run.sink
  if (source === null || sink === null) throw new Error('load() before the source and sink are open')
  const l = new Load(run, source, sink, layout)
  const onAbort = (): void => {
    l.fail(run.cancelled())
    // An input that sends nothing (a stalled pipe) would otherwise keep the read loop waiting forever.
    source.destroy()
  }
  if (run.aborted()) onAbort()
  run.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await l.pump()
    await l.finish()
  } catch (err) {
    await l.failed(err)
  } finally {
    run.signal?.removeEventListener('abort', onAbort)
  }
}
