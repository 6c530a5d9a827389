import fs from 'node:fs'
import zlib from 'node:zlib'
import { Readable } from 'node:stream'
import { SyncError, syncError } from '../errors'

export interface OpenedSource {
  stream: Readable
  name: string
  /** Size on disk when the input is a plain file (compressed size for .gz). */
  size: number | null
  /** Bytes consumed from disk, for progress on gzip input. */
  rawBytes: () => number
  /** Ends the input now (cancellation): destroys the caller's stream too, so a stalled pipe cannot keep a read waiting. */
  destroy: () => void
  gzip: boolean
}


/** Opens a path, '-' (stdin) or a stream; gunzips when told to or, with 'auto', by extension or gzip's magic bytes. */
export async function openSource (input: string | Readable, gzip: boolean | 'auto'): Promise<OpenedSource> {
  let raw: Readable
  let name: string
  let size: number | null = null
  let isFile = false
  let gz = gzip === true
  if (typeof input === 'string' && input !== '-') {
    name = input
    try {
      const st = await fs.promises.stat(input)
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' })
      size = st.size
    } catch (err) {
      throw syncError('BRX_ERR_INPUT_UNREADABLE', [`file ${input}`, (err as Error).message], { cause: err, file: input })
    }
    raw = fs.createReadStream(input, { highWaterMark: 256 * 1024 })
    isFile = true
    if (gzip === 'auto') gz = /\.gz$/i.test(input) || await hasGzipMagic(input)
  } else {
    name = input === '-' ? 'stdin' : 'input stream'
    raw = input === '-' ? process.stdin : input as Readable
  }
  // Not a 'data' listener: that would switch the stream to flowing mode before the consumer reads.
  const rawBytes = (): number => (raw as fs.ReadStream).bytesRead ?? 0
  let stream: Readable = raw
  if (!gz && gzip === 'auto' && !isFile) {
    stream = await sniffGzip(raw)
  } else if (gz) {
    const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 })
    raw.on('error', err => gunzip.destroy(err))
    stream = raw.pipe(gunzip)
  }
  stream.on('error', () => { /* surfaced by the consumer's iterator */ })
  const destroy = (): void => { raw.destroy(); stream.destroy() }
  return { stream, name, size, rawBytes, gzip: gz, destroy }
}

export function sourceError (err: unknown, name: string): SyncError {
  if (err instanceof SyncError) return err
  const e = err as { code?: string, message?: string }
  const what = e?.code?.startsWith('Z_') === true ? 'is not valid gzip or is truncated' : 'cannot be read'
  return new SyncError('BRX_ERR_INPUT_UNREADABLE', `Input ${name} ${what}: ${e?.message ?? String(err)}.`, { cause: err, file: name })
}


const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])

async function hasGzipMagic (file: string): Promise<boolean> {
  const fh = await fs.promises.open(file, 'r')
  try {
    const b = Buffer.alloc(2)
    const { bytesRead } = await fh.read(b, 0, 2, 0)
    return bytesRead === 2 && b.equals(GZIP_MAGIC)
  } finally {
    await fh.close()
  }
}

/** A stream (or stdin) cannot be reopened: peek at its first bytes and gunzip when they are gzip's magic. */
async function sniffGzip (raw: Readable): Promise<Readable> {
  const it = raw[Symbol.asyncIterator]()
  let head: Buffer | null = null
  while (head === null || head.length < 2) {
    const r = await it.next()
    if (r.done === true) break
    head = head === null ? Buffer.from(r.value as Buffer) : Buffer.concat([head, r.value as Buffer])
  }
  async function * rest (): AsyncGenerator<Buffer> {
    if (head !== null) yield head
    for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value as Buffer
  }
  const joined = Readable.from(rest(), { objectMode: false })
  if (head === null || head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return joined
  const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 })
  joined.on('error', err => gunzip.destroy(err))
  return joined.pipe(gunzip)
}
