/**
 * Requests to CardTrader through undici (the library inside Node's fetch,
 * used directly for its connect / headers / body timeouts and its streaming
 * body). Everything before the body starts — the limiter, 429, 5xx,
 * connection failures, header timeouts — is retried here, with exponential
 * backoff and full jitter, bounded in attempts and in time. What happens
 * after the body starts is the caller's (export.ts / split.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { Agent, request, type Dispatcher } from 'undici'
import { syncError, type SyncError } from '../../errors'
import type { TokenLimiter } from './limiter'
import type { ResolvedCardTrader } from './options'
import { scrub } from './token'

const agents = new Map<string, Agent>()

/** Sockets per origin for the whole process, whatever the number of syncs. */
export const MAX_CONNECTIONS = 16

/** One agent per process (per set of timeouts): its pool bounds the sockets of every sync. */
function agentFor (o: ResolvedCardTrader): Agent {
  const key = `${o.connectTimeoutMs}/${o.headersTimeoutMs}/${o.bodyTimeoutMs}`
  let a = agents.get(key)
  if (a === undefined) {
    a = new Agent({ connect: { timeout: o.connectTimeoutMs }, headersTimeout: o.headersTimeoutMs, bodyTimeout: o.bodyTimeoutMs, connections: MAX_CONNECTIONS, keepAliveTimeout: 4_000 })
    agents.set(key, a)
  }
  return a
}

export type Response = Dispatcher.ResponseData

export interface RequestContext {
  o: ResolvedCardTrader
  limiter: TokenLimiter
  key: string
  log: Logger
  signal?: AbortSignal
}

/** GET `path`; resolves with a 2xx JSON response whose body is still unread. */
export async function get (ctx: RequestContext, path: string): Promise<Response> {
  const { o, signal } = ctx
  const t0 = Date.now()
  let last = 'no attempt'
  for (let attempt = 1; ; attempt++) {
    await ctx.limiter.acquire(ctx.key, signal)
    let res: Response
    try {
      res = await request(o.baseUrl + path, {
        method: 'GET',
        dispatcher: agentFor(o),
        headers: { authorization: `Bearer ${o.token}`, 'accept-encoding': 'gzip', accept: 'application/json' },
        signal,
      })
    } catch (err) {
      if (signal?.aborted === true) throw err
      last = describe(err, o.token)
      await backoffOrFail(ctx, path, attempt, t0, last)
      continue
    }
    const status = res.statusCode
    if (status >= 200 && status < 300) return await checkJson(res, path)
    if (status === 429) {
      await res.body.dump().catch(() => {})
      last = 'HTTP 429 (rate limited)'
      if (attempt > o.retries || Date.now() - t0 > o.retryMaxMs) fail(path, last, attempt)
      // The limiter holds the next acquire() until the pause is over, here and in other processes.
      await ctx.limiter.penalize(ctx.key, retryAfterMs(res.headers['retry-after']))
      continue
    }
    if (status >= 500) {
      last = `HTTP ${status}${isHtml(res) ? ' (an HTML error page)' : ''}`
      await res.body.dump().catch(() => {})
      await backoffOrFail(ctx, path, attempt, t0, last)
      continue
    }
    throw await clientError(res, path, o.token)
  }
}

async function backoffOrFail (ctx: RequestContext, path: string, attempt: number, t0: number, last: string): Promise<void> {
  const { o } = ctx
  const delay = Math.random() * Math.min(30_000, o.retryBaseMs * 2 ** (attempt - 1))
  if (attempt > o.retries || Date.now() - t0 + delay > o.retryMaxMs) fail(path, last, attempt)
  ctx.log.warn({ path: path, attempt, reason: last, delayMs: Math.round(delay) }, 'CardTrader request failed before the body; retrying')
  await sleep(delay, undefined, { signal: ctx.signal })
}

function fail (path: string, last: string, attempts: number): never {
  throw syncError('BRX_ERR_SOURCE_UNAVAILABLE', [path, attempts, last])
}


function describe (err: unknown, token: string): string {
  const e = err as { code?: string, message?: string }
  return scrub(`${e.code ?? 'error'}: ${e.message ?? String(err)}`, token)
}

function isHtml (res: Response): boolean {
  return /html/i.test(String(res.headers['content-type'] ?? ''))
}

/** Retry-After in seconds or as an HTTP date; null when absent or unreadable. */
export function retryAfterMs (h: string | string[] | undefined): number | null {
  const v = Array.isArray(h) ? h[0] : h
  if (v === undefined || v === '') return null
  const s = Number(v)
  if (Number.isFinite(s) && s >= 0) return Math.min(s * 1000, 300_000)
  const at = Date.parse(v)
  return Number.isNaN(at) ? null : Math.max(0, Math.min(at - Date.now(), 300_000))
}

async function checkJson (res: Response, path: string): Promise<Response> {
  const type = String(res.headers['content-type'] ?? '')
  if (type === '' || /json/i.test(type)) return res
  await res.body.dump().catch(() => {})
  throw syncError('BRX_ERR_SOURCE_NOT_JSON', [`GET ${path}`, `HTTP ${res.statusCode} answered ${type.split(';')[0]} (a proxy's error page?)`])
}

/** 401/403: the token; 404/422 and other 4xx: CardTrader's own error_code and message. */
async function clientError (res: Response, path: string, token: string): Promise<SyncError> {
  const status = res.statusCode
  let text = ''
  try { text = (await res.body.text()).slice(0, 4096) } catch { /* the status says enough */ }
  if (status === 401 || status === 403) {
    return syncError('BRX_ERR_SOURCE_AUTH', [status, path])
  }
  let errorCode: string | undefined
  let message: string | undefined
  try {
    const j = JSON.parse(text) as { error_code?: unknown, message?: unknown, error?: unknown }
    errorCode = typeof j.error_code === 'string' ? j.error_code : undefined
    message = typeof j.message === 'string' ? j.message : typeof j.error === 'string' ? j.error : undefined
  } catch { /* not JSON */ }
  if (errorCode === undefined && message === undefined && isHtml(res)) {
    return syncError('BRX_ERR_SOURCE_NOT_JSON', [`GET ${path}`, `HTTP ${status} answered an HTML page (a proxy's error page?)`])
  }
  const said = scrub([errorCode, message].filter(Boolean).join(': ') || text.slice(0, 200) || 'no details', token)
  // pgCode holds SQLSTATEs only: the status is in the message, CardTrader's error_code in detail.
  return syncError('BRX_ERR_SOURCE_REQUEST', [path, status, said], { detail: errorCode })
}
