import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { SyncError } from '../../errors'
import { exportBody, readArray } from './body'
import { get, type RequestContext } from './http'

/**
 * `--split-by expansion`: /expansions/export, then one /products/export per
 * expansion, `concurrency` at a time under the limiter, emitted in order as
 * one JSON array. Each expansion's body is small: it is held until it is
 * complete and valid, so a failure of one request (even mid-body) retries
 * that request alone and never leaks half an expansion into the sync.
 */
export async function splitByExpansion (ctx: RequestContext): Promise<{ stream: Readable, rawBytes: () => number, expansions: number }> {
  const list = await readArray(exportBody(await get(ctx, '/expansions/export'), 'expansions', ctx.o.token), '/expansions/export')
  const ids = list.items.map(e => (e as { id?: unknown }).id).filter((id): id is number => Number.isSafeInteger(id))
  let raw = list.text.length
  const stop = new AbortController()
  const sub: RequestContext = { ...ctx, signal: ctx.signal === undefined ? stop.signal : AbortSignal.any([ctx.signal, stop.signal]) }
  const fetchOne = async (id: number): Promise<Buffer> => {
    const path = `/products/export?expansion_id=${id}`
    for (let attempt = 1; ; attempt++) {
      try {
        const body = exportBody(await get(sub, path), path, ctx.o.token)
        const { text } = await readArray(body, path)
        raw += body.rawBytes()
        return text
      } catch (err) {
        if (!(err instanceof SyncError && err.code === 'BRX_ERR_SOURCE_INTERRUPTED') || attempt > ctx.o.retries || sub.signal?.aborted === true) throw err
        ctx.log.warn({ path, attempt, reason: err.message }, 'an expansion\'s export broke; retrying that request alone')
        await sleep(Math.random() * Math.min(30_000, ctx.o.retryBaseMs * 2 ** (attempt - 1)), undefined, { signal: sub.signal })
      }
    }
  }
  async function * arrayOf (): AsyncGenerator<Buffer> {
    const pending: Array<Promise<Buffer>> = []
    let next = 0
    const fill = (): void => {
      while (pending.length < ctx.o.concurrency && next < ids.length) {
        const p = fetchOne(ids[next++])
        p.catch(() => {}) // awaited in order below
        pending.push(p)
      }
    }
    let first = true
    yield Buffer.from('[')
    try {
      fill()
      while (pending.length > 0) {
        const text = await (pending.shift() as Promise<Buffer>)
        fill()
        const inner = innerOf(text)
        if (inner.length === 0) continue
        yield first ? inner : Buffer.concat([Buffer.from(',\n'), inner])
        first = false
      }
    } finally {
      stop.abort()
    }
    yield Buffer.from('\n]\n')
  }
  const stream = Readable.from(arrayOf(), { objectMode: false })
  stream.on('error', () => { /* surfaced by the consumer's iterator */ })
  stream.on('close', () => stop.abort())
  return { stream, rawBytes: () => raw, expansions: ids.length }
}

/** The elements of a validated array, without its brackets. */
function innerOf (text: Buffer): Buffer {
  const s = text.indexOf(0x5b)
  const e = text.lastIndexOf(0x5d)
  const inner = text.subarray(s + 1, e)
  return inner.toString('latin1').trim().length === 0 ? Buffer.alloc(0) : inner
}
