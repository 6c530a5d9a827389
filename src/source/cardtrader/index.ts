/**
 * A CardTrader seller's export as a sync input: the same OpenedSource a file
 * gives (src/read/source.ts), except that opening it fetches.
 *
 *   GET /info ─ validates the token, logs the CardTrader user
 *     │
 *   GET /products/export ─ or, split by expansion: /expansions/export + one request each (split.ts)
 *     │  body streamed as it arrives (body.ts): counted, gunzipped, both ends checked
 *     ▼
 *   OpenedSource.stream → the partitioner
 *
 * Every request waits for the token's budget (limiter.ts) and retries what
 * fails before its body (http.ts). A body that breaks fails the attempt with
 * BRX_ERR_SOURCE_INTERRUPTED: the sync's retry loop opens the source again
 * (a new fetch), because a partial export must never be merged.
 */
import type { Logger } from 'pino'
import type { OpenedSource } from '../../read/source'
import { exportBody } from './body'
import { get, type RequestContext } from './http'
import { TokenLimiter } from './limiter'
import type { ResolvedCardTrader } from './options'
import { splitByExpansion } from './split'
import { tokenKey } from './token'

export { resolveCardTrader, validateCardTraderOptions, type CardTraderOptions, type RateLimitOptions, type ResolvedCardTrader } from './options'
export { TokenLimiter, budgetOf, type LimiterSettings } from './limiter'
export { tokenKey } from './token'

export interface SourceContext {
  logger: Logger
  signal?: AbortSignal
}

/** `o` comes filled from fillSyncOptions (resolveCardTrader): the token and env were read once per sync. */
export async function openCardTraderSource (o: ResolvedCardTrader, ctx: SourceContext): Promise<OpenedSource> {
  const key = tokenKey(o.token)
  const log = ctx.logger.child({ source: 'cardtrader', tokenKey: key })
  const limiter = new TokenLimiter(o.rateLimit, log)
  const rc: RequestContext = { o, limiter, key, log, signal: ctx.signal }
  try {
    const info = await readInfo(rc)
    log.info({ cardtraderUserId: info.id, cardtraderUser: info.name, sharedLimiter: limiter.shared, splitBy: o.splitBy }, 'CardTrader token accepted')
    if (o.splitBy === 'expansion') {
      const s = await splitByExpansion(rc)
      s.stream.on('close', () => limiter.close())
      log.info({ expansions: s.expansions }, 'fetching the export per expansion')
      return { stream: s.stream, name: 'CardTrader export (by expansion)', size: null, rawBytes: s.rawBytes, gzip: false, destroy: () => s.stream.destroy() }
    }
    const body = exportBody(await get(rc, '/products/export'), '/products/export', o.token)
    body.stream.on('close', () => limiter.close())
    log.info({ contentLength: body.size, gzip: body.gzip }, 'CardTrader export streaming')
    // Destroying the guard tears the socket down with it (body.ts): a stalled body cannot keep a read waiting.
    return { stream: body.stream, name: 'CardTrader /products/export', size: body.size, rawBytes: body.rawBytes, gzip: body.gzip, destroy: () => body.stream.destroy() }
  } catch (err) {
    limiter.close()
    throw err
  }
}

/** /info answers an object: read it whole (it is small) and keep only what the log needs. */
async function readInfo (rc: RequestContext): Promise<{ id?: unknown, name?: unknown }> {
  const res = await get(rc, '/info')
  const text = await res.body.text()
  try {
    const j = JSON.parse(text) as { id?: unknown, name?: unknown, username?: unknown }
    return { id: j.id, name: j.name ?? j.username }
  } catch {
    return {}
  }
}

