import fs from 'node:fs'
import { optionError } from '../../errors'

/** `sync({ source: { cardtrader: … } })`: where the export comes from and how politely it is fetched. */
export interface CardTraderOptions {
  /** The seller's API token. Fallback: the file `tokenFile`, then CARDTRADER_TOKEN. Never logged. */
  token?: string
  tokenFile?: string
  /** Fallback CARDTRADER_API_URL, then https://api.cardtrader.com/api/v2. */
  baseUrl?: string
  /** 'expansion': one request per expansion, each retried alone, fed into one sync. */
  splitBy?: 'none' | 'expansion'
  connectTimeoutMs?: number
  /** Time to the response headers (CardTrader builds large exports before answering). */
  headersTimeoutMs?: number
  /** Longest silence while the body streams. */
  bodyTimeoutMs?: number
  /** Attempts per request for 429, 5xx and connection failures before the body starts. */
  retries?: number
  /** Cap on the time one request spends retrying. */
  retryMaxMs?: number
  /** First backoff step; each retry doubles it (full jitter, capped at 30 s). */
  retryBaseMs?: number
  rateLimit?: RateLimitOptions
  /** Requests in flight per sync with splitBy 'expansion'. */
  concurrency?: number
}

export interface RateLimitOptions {
  /** CardTrader: 200 requests per 10 s per token, all endpoints together. */
  requests?: number
  windowMs?: number
  /** Shared bucket across processes. Fallback REDIS_URL; null keeps the bucket in-process. */
  redisUrl?: string | null
  redisKeyPrefix?: string
  /** Wait after a 429 without Retry-After (jittered ±20%). */
  backoffMs?: number
  /** Redis commands slower than this fall back to the in-process bucket. */
  redisTimeoutMs?: number
}

export interface ResolvedCardTrader {
  /** Not enumerable: JSON.stringify, pino and util.inspect of the filled options never show it. */
  readonly token: string
  baseUrl: string
  splitBy: 'none' | 'expansion'
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  retries: number
  retryMaxMs: number
  retryBaseMs: number
  concurrency: number
  rateLimit: Required<Omit<RateLimitOptions, 'redisUrl'>> & { redisUrl: string | null }
}

export const cardTraderDefaults = {
  baseUrl: 'https://api.cardtrader.com/api/v2',
  splitBy: 'none',
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 180_000,
  bodyTimeoutMs: 180_000,
  retries: 6,
  retryMaxMs: 120_000,
  retryBaseMs: 500,
  concurrency: 4,
  rateLimit: { requests: 200, windowMs: 10_000, redisKeyPrefix: 'brx:ratelimit', backoffMs: 10_000, redisTimeoutMs: 1_000 },
} as const

function fail (option: string, rule: string): never {
  throw optionError(`source.cardtrader.${option}`, rule)
}

function positive (o: Record<string, unknown>, k: string, prefix = ''): void {
  const v = o[k]
  if (v !== undefined && !(Number.isInteger(v) && (v as number) > 0)) fail(prefix + k, `must be a positive integer, got ${JSON.stringify(v)}.`)
}

/** Checks the shape only; the token is looked up when the source opens (it may live in a file). */
export function validateCardTraderOptions (source: unknown): void {
  if (source === null || typeof source !== 'object') throw optionError('source', 'must be { cardtrader: { … } }.')
  const ct = (source as { cardtrader?: unknown }).cardtrader
  if (ct === null || typeof ct !== 'object') throw optionError('source.cardtrader', 'must be an object (e.g. { token }).')
  const o = ct as Record<string, unknown>
  for (const k of ['connectTimeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'retryMaxMs', 'retryBaseMs', 'concurrency']) positive(o, k)
  if (o.retries !== undefined && !(Number.isInteger(o.retries) && (o.retries as number) >= 0)) fail('retries', `must be an integer >= 0, got ${JSON.stringify(o.retries)}.`)
  // Never echo the token, whatever its type.
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token.length === 0)) fail('token', 'must be a non-empty string.')
  if (o.tokenFile !== undefined && typeof o.tokenFile !== 'string') fail('tokenFile', 'must be a path.')
  if (o.splitBy !== undefined && o.splitBy !== 'none' && o.splitBy !== 'expansion') fail('splitBy', `must be "none" or "expansion", got ${JSON.stringify(o.splitBy)}.`)
  if (o.baseUrl !== undefined) checkUrl(o.baseUrl)
  const rl = o.rateLimit as Record<string, unknown> | undefined
  if (rl !== undefined) {
    if (rl === null || typeof rl !== 'object') fail('rateLimit', 'must be an object.')
    for (const k of ['requests', 'windowMs', 'backoffMs', 'redisTimeoutMs']) positive(rl, k, 'rateLimit.')
    if (rl.windowMs !== undefined && (rl.windowMs as number) % 1000 !== 0) fail('rateLimit.windowMs', 'must be a whole number of seconds (the shared bucket counts in seconds).')
    if (rl.redisUrl !== undefined && rl.redisUrl !== null && !(typeof rl.redisUrl === 'string' && /^rediss?:\/\//.test(rl.redisUrl))) fail('rateLimit.redisUrl', 'must be a redis:// or rediss:// URL, or null.')
  }
}

function checkUrl (u: unknown): void {
  if (typeof u !== 'string' || !/^https?:\/\//.test(u)) fail('baseUrl', 'must be an http:// or https:// URL.')
  try { new URL(u) } catch { fail('baseUrl', 'is not a valid URL.') }
}

/** The one place CARDTRADER_TOKEN, CARDTRADER_API_URL and REDIS_URL are read; called once per sync by fillSyncOptions. */
export function resolveCardTrader (o: CardTraderOptions): ResolvedCardTrader {
  const d = cardTraderDefaults
  const baseUrl = (o.baseUrl ?? process.env.CARDTRADER_API_URL ?? d.baseUrl).replace(/\/+$/, '')
  checkUrl(baseUrl)
  const rl = o.rateLimit ?? {}
  const resolved: Omit<ResolvedCardTrader, 'token'> = {
    baseUrl,
    splitBy: o.splitBy ?? d.splitBy,
    connectTimeoutMs: o.connectTimeoutMs ?? d.connectTimeoutMs,
    headersTimeoutMs: o.headersTimeoutMs ?? d.headersTimeoutMs,
    bodyTimeoutMs: o.bodyTimeoutMs ?? d.bodyTimeoutMs,
    retries: o.retries ?? d.retries,
    retryMaxMs: o.retryMaxMs ?? d.retryMaxMs,
    retryBaseMs: o.retryBaseMs ?? d.retryBaseMs,
    concurrency: o.concurrency ?? d.concurrency,
    rateLimit: {
      requests: rl.requests ?? d.rateLimit.requests,
      windowMs: rl.windowMs ?? d.rateLimit.windowMs,
      redisUrl: rl.redisUrl === null ? null : (rl.redisUrl ?? process.env.REDIS_URL ?? null),
      redisKeyPrefix: rl.redisKeyPrefix ?? d.rateLimit.redisKeyPrefix,
      backoffMs: rl.backoffMs ?? d.rateLimit.backoffMs,
      redisTimeoutMs: rl.redisTimeoutMs ?? d.rateLimit.redisTimeoutMs,
    },
  }
  // Copies made with spread or JSON lose it too: only code that names `.token` reads it.
  return Object.defineProperty(resolved, 'token', { value: readToken(o), enumerable: false }) as ResolvedCardTrader
}

function readToken (o: CardTraderOptions): string {
  let token = o.token
  if (token === undefined && o.tokenFile !== undefined) {
    try {
      token = fs.readFileSync(o.tokenFile, 'utf8').trim()
    } catch (err) {
      throw optionError('source.cardtrader.tokenFile', `${o.tokenFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`)
    }
  }
  token ??= process.env.CARDTRADER_TOKEN
  if (token === undefined || token === '') throw optionError('source.cardtrader.token', 'is missing: set CARDTRADER_TOKEN, pass --token-file, or give options.source.cardtrader.token.')
  // A header value with a newline would be a header injection; say so without echoing it.
  if (!/^[\x21-\x7e]+$/.test(token)) throw optionError('source.cardtrader.token', 'contains spaces or control characters.')
  return token
}
