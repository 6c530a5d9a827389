import { setTimeout as sleep } from 'node:timers/promises'
import { isTransient } from '../errors'

/**
 * The one retry policy: transient failures (serialization, deadlock,
 * connection loss) are retried up to `retries` times within `maxMs`, after
 * an exponential backoff with full jitter, so syncs that failed together do
 * not retry together.
 */
export interface RetryPolicy {
  retries: number
  maxMs: number
  signal?: AbortSignal
  /** Whether this failure may be retried at all (e.g. the input can be read again). */
  allowed?: (err: unknown) => boolean
  /** Called before the wait (to log it). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** Called after the wait: prepares the next attempt (a fresh connection). */
  prepare?: (err: unknown) => Promise<void>
}

export function backoffMs (attempt: number): number {
  return Math.random() * Math.min(5_000, 100 * 2 ** attempt)
}

export async function withRetry<T> (policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<T> {
  const t0 = performance.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      const retry = isTransient(err) && attempt <= policy.retries && performance.now() - t0 < policy.maxMs &&
        policy.signal?.aborted !== true && (policy.allowed?.(err) ?? true)
      if (!retry) throw err
      const delay = backoffMs(attempt)
      policy.onRetry?.(err, attempt, delay)
      await sleep(delay)
      await policy.prepare?.(err)
    }
  }
}
