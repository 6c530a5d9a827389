import fs from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { copyOut } from '../db/connections'
import { syncError, type SyncError } from '../errors'
import type { DatasetSpec } from '../dataset/types'
import { buildChangeSql, type ChangeSql } from './changes-sql'
import type { MergeCapture } from './merge'

/** Up to this many keys per kind of change in a dry run's report. */
export const SAMPLE_SIZE = 10

export interface ChangeLine {
  op: 'insert' | 'update' | 'delete'
  key: Record<string, unknown>
  /** update: each changed compared column as [old, new]. */
  changed?: Record<string, [unknown, unknown]>
  /** insert: the new row; delete: the old row. */
  row?: Record<string, unknown>
}

export interface ChangeSamples {
  inserted: ChangeLine[]
  updated: ChangeLine[]
  deleted: ChangeLine[]
}

/** The mass-delete guard's verdict, as a dry run reports it instead of failing. */
export interface GuardVerdict {
  wouldRefuse: boolean
  deleted: number
  existing: number
  maxDeleteRatio: number
  allowMassDelete: boolean
}

export interface Preview {
  dryRun: true
  guard: GuardVerdict
  samples: ChangeSamples
}

export async function sampleChanges (client: pg.ClientBase, sql: ChangeSql): Promise<ChangeSamples> {
  const take = async (op: string): Promise<ChangeLine[]> =>
    (await client.query<{ line: string }>(sql.sample, [op, SAMPLE_SIZE])).rows.map(r => JSON.parse(r.line) as ChangeLine)
  return { inserted: await take('insert'), updated: await take('update'), deleted: await take('delete') }
}

/**
 * The changes file: written from brx_changes inside the merge transaction to
 * a temporary name next to the target, renamed only after COMMIT. A consumer
 * watching `file` never sees changes that were rolled back; a failure or
 * cancel removes the temporary file.
 */
export class ChangesFile {
  readonly tmpPath: string

  constructor (readonly file: string, runId: string) {
    this.tmpPath = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${runId}.tmp`)
  }

  /** COPY … TO STDOUT of every captured line into the temporary file (before COMMIT). */
  async write (client: pg.ClientBase, sql: ChangeSql): Promise<void> {
    let out: fs.WriteStream
    try {
      out = fs.createWriteStream(this.tmpPath)
    } catch (err) {
      throw this.ioError(err)
    }
    try {
      await pipeline(copyOut(client, sql.copyOut), out)
    } catch (err) {
      this.discard()
      // A COPY that failed on the server is a database error; anything else is the local file.
      if ((err as { code?: unknown }).code !== undefined && /^[0-9A-Z]{5}$/.test(String((err as { code: unknown }).code))) throw err
      throw this.ioError(err)
    }
  }

  /** After COMMIT: the file appears complete, at once (rename is atomic within a file system). */
  publish (): void {
    try {
      fs.renameSync(this.tmpPath, this.file)
    } catch (err) {
      throw syncError('BRX_ERR_LOCAL_IO', ['changes file', this.file, `the sync committed, but renaming ${this.tmpPath} to it failed: ${(err as Error).message}`], { cause: err, file: this.file, option: 'changesFile' })
    }
  }

  discard (): void {
    fs.rmSync(this.tmpPath, { force: true })
  }

  private ioError (err: unknown): SyncError {
    return syncError('BRX_ERR_LOCAL_IO', ['changes file', this.file, `${(err as Error).message}; nothing was committed`], { cause: err, file: this.file, option: 'changesFile' })
  }
}

/** The capture a sync asks for, or undefined (a plain merge) when it asks for neither a dry run nor a changes file. */
export function captureFor (dataset: DatasetSpec, runId: string, o: { dryRun: boolean, changesFile: string | null }): MergeCapture | undefined {
  if (!o.dryRun && o.changesFile === null) return undefined
  return { sql: buildChangeSql(dataset), dryRun: o.dryRun, changes: o.changesFile === null ? undefined : new ChangesFile(o.changesFile, runId) }
}
