import { Readable } from 'node:stream'
import type { OpenedSource } from './source'

/**
 * How long a stream may take to show it is small (end within the limit).
 * Only a choice of path depends on it, never a result: a stream that is
 * slower (stdin typed by hand, a stalled producer) takes the normal path,
 * which records and locks the run before it waits for more input.
 */
export const PEEK_WAIT_MS = 20

const TIMEOUT = Symbol('timeout')

/**
 * Whether the whole input is at most `limit` bytes. A file's size says so at
 * once; a stream is read ahead, up to `limit` bytes or `waitMs`. The
 * source's stream is then replaced by one that replays what was read (and a
 * read still pending), then the rest, so the caller reads the same bytes
 * either way.
 */
export async function isSmallInput (source: OpenedSource, limit: number, waitMs = PEEK_WAIT_MS): Promise<boolean> {
  if (source.size !== null && !source.gzip) return source.size <= limit
  const it = source.stream[Symbol.asyncIterator]()
  const head: Buffer[] = []
  let bytes = 0
  let ended = false
  let pending: Promise<IteratorResult<unknown>> | null = null
  const deadline = performance.now() + waitMs
  try {
    while (bytes <= limit) {
      const left = deadline - performance.now()
      if (left <= 0) break
      pending = it.next()
      pending.catch(() => { /* rethrown where it is awaited: below, or in the replay */ })
      const n = await raceTimeout(pending, left)
      if (n === TIMEOUT) break
      pending = null
      if (n.done === true) { ended = true; break }
      const chunk = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value as Uint8Array)
      head.push(chunk)
      bytes += chunk.length
    }
  } catch (err) {
    // Surfaced where the input is read, with the reader's error handling.
    replace(source, Readable.from((async function * () { yield * head; throw err })()))
    return false
  }
  const rest = source.stream
  const late = pending
  replace(source, Readable.from(ended ? head : (async function * () {
    yield * head
    if (late !== null) { const n = await late; if (n.done === true) return; yield n.value }
    for (;;) { const n = await it.next(); if (n.done === true) return; yield n.value }
  })()))
  source.stream.once('close', () => { if (!ended) rest.destroy() })
  return ended && bytes <= limit
}

/** The replay becomes the source's stream; destroying the source (a cancel) ends both. */
function replace (source: OpenedSource, replay: Readable): void {
  replay.on('error', () => { /* surfaced by the consumer's iterator */ })
  const destroyOriginal = source.destroy
  source.stream = replay
  source.destroy = () => { destroyOriginal(); replay.destroy() }
}

async function raceTimeout<T> (p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<typeof TIMEOUT>(resolve => { timer = setTimeout(() => resolve(TIMEOUT), ms) })
  try {
    return await Promise.race([p, t])
  } finally {
    clearTimeout(timer)
  }
}
