import { Transform, type Readable, type TransformCallback } from 'node:stream'
import zlib from 'node:zlib'
import { SyncError, syncError } from '../../errors'
import type { Response } from './http'
import { scrub } from './token'

export interface ExportBody {
  stream: Readable
  /** Bytes received from the network (compressed when gzip). */
  rawBytes: () => number
  size: number | null
  gzip: boolean
}

const isSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

/**
 * The export body as it arrives: counted, gunzipped when the server says
 * gzip, and checked at both ends without parsing — it must start with `[`
 * (anything else is an API error or a proxy's page, not an export) and end
 * with `]` (a connection that closes early without an error still did not
 * deliver the export). Every failure of the body becomes a SyncError:
 * BRX_ERR_SOURCE_INTERRUPTED, which the sync retries by fetching again.
 */
export function exportBody (res: Response, what: string, token: string): ExportBody {
  let raw = 0
  const counter = new Transform({
    transform (chunk: Buffer, _e, cb) { raw += chunk.length; cb(null, chunk) },
  })
  const guard = new EndsGuard(what)
  const interrupted = (err: unknown): SyncError => err instanceof SyncError
    ? err
    : syncError('BRX_ERR_SOURCE_INTERRUPTED', [what, `it broke mid-body after ${raw} bytes: ${scrub(String((err as Error)?.message ?? err), token)}`], { cause: err })
  const gzip = /gzip/i.test(String(res.headers['content-encoding'] ?? ''))
  res.body.on('error', err => guard.destroy(interrupted(err)))
  counter.on('error', err => guard.destroy(interrupted(err)))
  let tail: Readable = res.body.pipe(counter)
  if (gzip) {
    const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 })
    gunzip.on('error', err => guard.destroy(interrupted(err)))
    tail = tail.pipe(gunzip)
  }
  tail.pipe(guard)
  // The consumer may stop early (another failure): tear the socket down with it.
  guard.on('close', () => { if (!res.body.destroyed) res.body.destroy() })
  guard.on('error', () => { /* surfaced by the consumer's iterator */ })
  const len = Number(res.headers['content-length'])
  return { stream: guard, rawBytes: () => raw, size: Number.isFinite(len) && len > 0 ? len : null, gzip }
}

class EndsGuard extends Transform {
  private first = -1
  private last = -1
  constructor (private readonly what: string) { super() }

  _transform (chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    if (this.first < 0) {
      let i = 0
      while (i < chunk.length && isSpace(chunk[i])) i++
      if (i < chunk.length) {
        this.first = chunk[i]
        if (this.first !== 0x5b) {
          cb(syncError('BRX_ERR_SOURCE_NOT_JSON', [`export (${this.what})`, `it is not a JSON array, it starts with ${JSON.stringify(chunk.subarray(i, i + 40).toString('utf8'))}`]))
          return
        }
      }
    }
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (!isSpace(chunk[i])) { this.last = chunk[i]; break }
    }
    cb(null, chunk)
  }

  _flush (cb: TransformCallback): void {
    if (this.first < 0) cb(syncError('BRX_ERR_SOURCE_INTERRUPTED', [this.what, 'it was empty']))
    else if (this.last !== 0x5d) cb(syncError('BRX_ERR_SOURCE_INTERRUPTED', [this.what, 'it ended before its closing bracket (truncated)']))
    else cb()
  }
}

/** A whole (small) body: collected, then parsed and checked to be an array. */
export async function readArray (body: ExportBody, what: string): Promise<{ text: Buffer, items: unknown[] }> {
  const parts: Buffer[] = []
  for await (const c of body.stream) parts.push(c as Buffer)
  const text = Buffer.concat(parts)
  let items: unknown
  try { items = JSON.parse(text.toString('utf8')) } catch (err) {
    throw syncError('BRX_ERR_SOURCE_INTERRUPTED', [what, `it is not valid JSON: ${(err as Error).message}`])
  }
  if (!Array.isArray(items)) throw syncError('BRX_ERR_SOURCE_NOT_JSON', [`response (${what})`, 'it is valid JSON but not an array'])
  return { text, items }
}
