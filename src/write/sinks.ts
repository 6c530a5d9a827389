import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { COPY_HEADER, COPY_TRAILER } from '../encode'
import { syncError } from '../errors'
import type { TransformResult } from '../transform/partition'
import { CopyWriter } from './copy-writer'
import { KeySet } from './key-set'

/** Where encoded partitions go. Results arrive in input order (see src/sync/load.ts). */
export interface Sink {
  write: (res: TransformResult) => Promise<void>
  finish: () => Promise<void>
  abort: (err: Error) => void
  /** A key hash repeated: the merge must deduplicate. */
  readonly maybeDuplicates: boolean
}

/**
 * Staging: every row goes to one of the writers' COPY streams (the least
 * busy). Duplicates are resolved by the merge from the sequence column; the
 * main thread only needs to know whether any key repeated, so it stops
 * tracking keys at the first repeat.
 */
export class StagingSink implements Sink {
  private seen: KeySet | null = new KeySet()
  maybeDuplicates = false

  constructor (private readonly writers: CopyWriter[]) {}

  async write (res: TransformResult): Promise<void> {
    const seen = this.seen
    if (seen !== null) {
      for (let i = 0; i < res.hashes.length; i++) {
        if (!seen.add(res.hashes[i])) { this.maybeDuplicates = true; this.seen = null; break }
      }
    }
    if (res.rows === 0) return
    let w = this.writers[0]
    for (const x of this.writers) if (x.backlog < w.backlog) w = x
    await w.write(res.tuples)
  }

  async finish (): Promise<void> {
    await Promise.all(this.writers.map(async w => await w.finish()))
  }

  abort (err: Error): void {
    for (const w of this.writers) w.abort(err)
  }
}

/**
 * First sync of a scope: rows go straight into the target with one COPY
 * inside the merge transaction. A key's first occurrence is copied; any
 * later occurrence (input order) is spilled to a file of tuples, which the
 * merge loads into a temp table and applies last-wins before COMMIT. The
 * spill keeps memory flat however many duplicates the input has.
 */
export class DirectSink implements Sink {
  private readonly seen = new KeySet()
  private spill: fs.WriteStream | null = null
  private spillError: Error | null = null
  readonly spillPath: string
  copied = 0
  spilled = 0

  constructor (private readonly writer: CopyWriter, runId: string) {
    this.spillPath = path.join(os.tmpdir(), `brx-late-${runId}.bin`)
  }

  get maybeDuplicates (): boolean { return this.spilled > 0 }

  async write (res: TransformResult): Promise<void> {
    const { hashes, tupleEnds, tuples } = res
    let runStart = 0
    let late = 0
    for (let i = 0; i < hashes.length; i++) {
      if (this.seen.add(hashes[i])) continue
      const start = i === 0 ? 0 : tupleEnds[i - 1]
      if (start > runStart) await this.writer.write(tuples.subarray(runStart, start))
      await this.toSpill(tuples.subarray(start, tupleEnds[i]))
      late++
      runStart = tupleEnds[i]
    }
    const end = hashes.length === 0 ? 0 : tupleEnds[hashes.length - 1]
    if (end > runStart) await this.writer.write(tuples.subarray(runStart, end))
    this.copied += res.rows - late
    this.spilled += late
  }

  private async toSpill (tuple: Uint8Array): Promise<void> {
    this.checkSpill()
    if (this.spill === null) {
      this.spill = fs.createWriteStream(this.spillPath)
      // Without a listener a full or missing temp directory would crash the host process.
      this.spill.on('error', err => { this.spillError ??= err })
      this.spill.write(COPY_HEADER)
    }
    if (!this.spill.write(tuple)) await Promise.race([once(this.spill, 'drain'), once(this.spill, 'close')])
    this.checkSpill()
  }

  private checkSpill (): void {
    if (this.spillError !== null) {
      throw syncError('BRX_ERR_LOCAL_IO', ['duplicate-key spill file', this.spillPath, this.spillError.message], { cause: this.spillError, file: this.spillPath })
    }
  }

  async finish (): Promise<void> {
    await this.writer.finish()
    if (this.spill !== null) {
      this.checkSpill()
      const s = this.spill
      await new Promise<void>(resolve => { s.once('close', resolve); s.end(COPY_TRAILER) })
      this.checkSpill()
    }
  }

  abort (err: Error): void {
    this.writer.abort(err)
    this.spill?.destroy()
  }

  cleanup (): void {
    if (this.spill !== null) fs.rmSync(this.spillPath, { force: true })
  }

}
