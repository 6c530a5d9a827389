import { Readable } from 'node:stream'
import type { OpenedSource } from './source'

/**
 * Reads up to `limit` bytes of the source to learn whether the whole input is
 * that small (a file's size says so at once; a stream must be read). The
 * source's stream is replaced by one that replays what was read, then the
 * rest, so the caller reads the same bytes either way.
 */
export async function isSmallInput (source: OpenedSource, limit: number): Promise<boolean> {
  if (source.size !== null && !source.gzip) return source.size <= limit
  const it = source.stream[Symbol.asyncIterator]()
  const head: Buffer[] = []
  let bytes = 0
  let ended = false
  try {
    while (bytes <= limit) {
      const n = await it.next()
      if (n.done === true) { ended = true; break }
      const chunk = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value as Uint8Array)
      head.push(chunk)
      bytes += chunk.length
    }
  } catch (err) {
    // Surfaced where the input is read, with the reader's error handling.
    source.stream = Readable.from((async function * () { yield * head; throw err })())
    return false
  }
  const rest = source.stream
  source.stream = Readable.from(ended ? head : (async function * () { yield * head; for (;;) { const n = await it.next(); if (n.done === true) return; yield n.value } })())
  source.stream.on('error', () => { /* surfaced by the consumer's iterator */ })
  source.stream.once('close', () => { if (!ended) rest.destroy() })
  return ended
}
