import type { TransformResult } from '../transform/partition'
import type { Sink } from '../write/sinks'
import { DiffSink } from './sink'
import type { ExistingRows } from './store'

export interface OpenedDiff {
  /** Where results go: the DiffSink, or staging itself when the scope was not read (database diff). */
  sink: Sink
  diff: DiffSink | null
}

/**
 * The engine diff with its scope read overlapping the load. The control
 * connection reads the scope (and only then opens staging, whose first
 * writer it is) while the workers already transform partitions; results
 * wait here, in input order, until the scope is read. Partitions transformed
 * before that carry no marks and are marked afterwards by a worker (see
 * load.ts), so every row is compared, none is staged unmarked.
 *
 * How much may wait is bounded by the load (the in-flight partitions); the
 * bound is raised while the read runs only as far as the diff's memory
 * budget leaves room (see readScope in orchestrator.ts).
 */
export class PendingDiff implements Sink {
  private opened: OpenedDiff | null = null
  private failure: Error | null = null
  /** Resolves once the scope is read and staging is open; rejects with the read's or the open's error. */
  readonly ready: Promise<OpenedDiff>
  /** `ready`, never rejecting: what cleanup waits for before giving the connections back. */
  readonly settled: Promise<void>

  constructor (open: (stillWanted: () => void) => Promise<{ existing: ExistingRows | null, staging: Sink }>) {
    this.ready = open(() => { if (this.failure !== null) throw this.failure }).then(({ existing, staging }) => {
      const diff = existing !== null ? new DiffSink(staging, existing) : null
      this.opened = { sink: diff ?? staging, diff }
      if (this.failure !== null) this.opened.sink.abort(this.failure)
      return this.opened
    })
    this.settled = this.ready.then(() => {}, () => {})
  }

  get isOpen (): boolean { return this.opened !== null }

  get maybeDuplicates (): boolean { return this.opened?.sink.maybeDuplicates ?? false }

  async write (res: TransformResult): Promise<void> {
    const o = this.opened ?? await this.ready
    await o.sink.write(res)
  }

  async finish (): Promise<void> {
    await (await this.ready).sink.finish()
  }

  abort (err: Error): void {
    if (this.failure === null) this.failure = err
    this.opened?.sink.abort(err)
  }
}
