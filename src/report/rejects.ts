import fs from 'node:fs'
import { once } from 'node:events'
import { syncError } from '../errors'
import type { Reject } from './types'

/** NDJSON of rejected, unmapped and excluded records: one line each, written per partition. */
export class RejectsFile {
  private stream: fs.WriteStream | null
  private failed: Error | null = null

  constructor (readonly path: string | null) {
    this.stream = path === null ? null : fs.createWriteStream(path)
    this.stream?.on('error', err => { this.failed = err })
  }

  async write (rejects: Reject[]): Promise<void> {
    if (this.stream === null || rejects.length === 0) return
    this.check()
    let s = ''
    // `record` arrives as JSON text from the worker (see transformPartition): spliced in, not re-encoded.
    for (const r of rejects) s += `{"row":${r.row},"offset":${r.offset},"reason":${JSON.stringify(r.reason)},"message":${JSON.stringify(r.message)},"record":${String(r.record ?? 'null')}}\n`
    if (!this.stream.write(s)) await once(this.stream, 'drain')
  }

  async close (): Promise<void> {
    if (this.stream === null) return
    const st = this.stream
    this.stream = null
    await new Promise<void>(resolve => st.end(resolve))
    this.check()
  }

  private check (): void {
    if (this.failed !== null) throw syncError('BRX_ERR_LOCAL_IO', ['rejects file', String(this.path), this.failed.message], { cause: this.failed, option: 'rejectsFile', file: this.path ?? undefined })
  }
}
