import { once } from 'node:events'
import type { Writable } from 'node:stream'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { COPY_HEADER, COPY_TRAILER } from '../encode'

/**
 * One COPY ... FROM STDIN (FORMAT binary) on one connection. Partitions'
 * tuple buffers are written as they arrive; `write()` resolves once the
 * stream accepts more (honouring write() === false), so a slow database
 * slows the producers. `abort()` destroys the stream, which makes
 * pg-copy-streams send CopyFail: the server discards the COPY.
 */
export class CopyWriter {
  private stream: Writable
  private failed: Error | null = null

  constructor (client: pg.PoolClient, sql: string) {
    this.stream = client.query(copyFrom(sql))
    this.stream.on('error', (err: Error) => { this.failed ??= err })
    this.stream.write(COPY_HEADER)
  }

  /** Bytes queued but not yet handed to the socket: used to pick the least busy writer. */
  get backlog (): number {
    return this.stream.writableLength
  }

  async write (buf: Uint8Array): Promise<void> {
    if (this.failed !== null) throw this.failed
    if (!this.stream.write(buf)) await once(this.stream, 'drain')
  }

  /** Ends the COPY and waits for the server's CommandComplete. */
  async finish (): Promise<void> {
    if (this.failed !== null) throw this.failed
    this.stream.end(COPY_TRAILER)
    if (!this.stream.writableFinished) await once(this.stream, 'finish')
    if (this.failed !== null) throw this.failed
  }

  abort (reason: Error): void {
    if (!this.stream.destroyed) this.stream.destroy(reason)
  }
}
