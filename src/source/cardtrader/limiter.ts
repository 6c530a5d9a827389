/**
 * Per-token request budget for CardTrader (200 requests per 10 s, every
 * endpoint together).
 *
 * rate-limiter-flexible counts fixed windows. Any sliding window of W ms
 * overlaps at most W/D + 1 fixed windows of D ms, so with D = W/10 (whole
 * seconds: the Redis store counts in seconds) each window gets
 * floor(limit / 12) points — 11 windows, plus one of slack for requests that
 * arrive a window later than they were granted — and no sliding window
 * exceeds the limit (200/10 s → 16 per second, 160 per 10 s sustained).
 *
 * Shared through Redis when configured (RateLimiterRedis over one pooled
 * connection per process); when Redis is down or slow each request falls
 * back to the in-process RateLimiterMemory with one warning per process —
 * never to "unlimited".
 *
 * Adaptive: a 429 blocks the token's bucket (in Redis too, so every process
 * pauses) for Retry-After or the backoff, and halves this process's rate for
 * that token (each request costs more points); the rate recovers by a
 * quarter per window without a 429.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { leaseRedis, whenReady, type RedisLease } from './redis'

export interface LimiterSettings {
  requests: number
  windowMs: number
  redisUrl: string | null
  redisKeyPrefix: string
  backoffMs: number
  redisTimeoutMs: number
}

interface Adaptive { factor: number, since: number, pausedUntil: number }

const memoryStores = new Map<string, RateLimiterMemory>()
const adaptive = new Map<string, Adaptive>()
let warnedFallback = false

export interface Budget { points: number, durationSec: number }

/** The fixed-window budget that keeps every sliding window under the limit. */
export function budgetOf (requests: number, windowMs: number): Budget {
  const durationSec = Math.max(1, Math.floor(windowMs / 10_000))
  const windows = Math.max(1, Math.round(windowMs / 1000 / durationSec))
  // One more window of slack: a request granted late in one window may reach CardTrader in the
  // next (network and event-loop delays), which the fixed-window count cannot see.
  return { points: Math.max(1, Math.floor(requests / (windows + 2))), durationSec }
}

export class TokenLimiter {
  private readonly budget: Budget
  private readonly memory: RateLimiterMemory
  private readonly redis: RateLimiterRedis | null = null
  private readonly lease: RedisLease | null = null
  private ready: Promise<void> = Promise.resolve()

  constructor (private readonly s: LimiterSettings, private readonly logger: Logger) {
    this.budget = budgetOf(s.requests, s.windowMs)
    const key = `${s.redisKeyPrefix}:${s.requests}/${s.windowMs}`
    let memory = memoryStores.get(key)
    if (memory === undefined) {
      memory = new RateLimiterMemory({ points: this.budget.points, duration: this.budget.durationSec, keyPrefix: key })
      memoryStores.set(key, memory)
    }
    this.memory = memory
    if (s.redisUrl !== null) {
      this.lease = leaseRedis(s.redisUrl, s.redisTimeoutMs, logger)
      this.redis = new RateLimiterRedis({ storeClient: this.lease.client, points: this.budget.points, duration: this.budget.durationSec, keyPrefix: key })
      this.ready = whenReady(this.lease.client, s.redisTimeoutMs)
    }
  }

  get shared (): boolean { return this.redis !== null }

  /** Resolves when `key` (a token hash) may send one request. */
  async acquire (key: string, signal?: AbortSignal): Promise<void> {
    await this.ready
    for (;;) {
      const a = stateOf(key, this.s.windowMs)
      const wait = a.pausedUntil - Date.now()
      if (wait > 0) { await sleep(wait, undefined, { signal }); continue }
      const cost = Math.min(this.budget.points, Math.ceil(1 / a.factor))
      const res = await this.consume(key, cost)
      if (res === null) return
      await sleep(res.msBeforeNext + Math.random() * 50, undefined, { signal })
    }
  }

  /** After a 429: pause the token everywhere and slow it down here. Returns the pause in ms. */
  async penalize (key: string, retryAfterMs: number | null): Promise<number> {
    const pause = retryAfterMs ?? this.s.backoffMs * (0.8 + 0.4 * Math.random())
    const a = stateOf(key, this.s.windowMs)
    a.factor = Math.max(0.25, a.factor / 2)
    a.since = Date.now()
    a.pausedUntil = Math.max(a.pausedUntil, Date.now() + pause)
    if (this.redis !== null) await this.redis.block(key, Math.max(1, Math.ceil(pause / 1000))).catch(() => {})
    this.logger.warn({ tokenKey: key, pauseMs: Math.round(pause), rateFactor: a.factor }, 'CardTrader answered 429; pausing this token and lowering its rate')
    return pause
  }

  close (): void {
    this.lease?.release()
  }

  /** null: granted; otherwise the store's answer saying how long to wait. */
  private async consume (key: string, cost: number): Promise<RateLimiterRes | null> {
    const store: RateLimiterAbstract = this.redis ?? this.memory
    try {
      await store.consume(key, cost)
      return null
    } catch (err) {
      if (err instanceof RateLimiterRes) return err
      if (!warnedFallback) {
        warnedFallback = true
        this.logger.warn({ err: (err as Error).message }, 'Redis rate-limit store unavailable; using the in-process bucket (warned once per process)')
      }
    }
    try {
      await this.memory.consume(key, cost)
      return null
    } catch (err) {
      if (err instanceof RateLimiterRes) return err
      throw err
    }
  }
}

function stateOf (key: string, windowMs: number): Adaptive {
  let a = adaptive.get(key)
  if (a === undefined) {
    a = { factor: 1, since: 0, pausedUntil: 0 }
    adaptive.set(key, a)
  }
  if (a.factor < 1) {
    const windows = Math.floor((Date.now() - a.since) / windowMs)
    if (windows > 0) { a.factor = Math.min(1, a.factor + 0.25 * windows); a.since = Date.now() }
  }
  return a
}

/** For tests: forget the adaptive state and the fallback warning. */
export function resetLimiterState (): void {
  adaptive.clear()
  memoryStores.clear()
  warnedFallback = false
}
