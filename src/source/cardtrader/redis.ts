import Redis from 'ioredis'
import type { Logger } from 'pino'

interface Shared { client: Redis, users: number }

/**
 * One Redis connection per process and URL, shared by every sync that is
 * running (seed 001's first finding was a connection per call). It is
 * closed when the last sync using it ends, so a CLI process can exit.
 */
const shared = new Map<string, Shared>()

export interface RedisLease { client: Redis, release: () => void }

export function leaseRedis (url: string, timeoutMs: number, logger: Logger): RedisLease {
  let s = shared.get(url)
  if (s === undefined) {
    const client = new Redis(url, {
      // Fail fast instead of queueing while disconnected: the limiter then uses its in-process bucket.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(timeoutMs, 1000),
      retryStrategy: times => Math.min(times * 200, 2000),
      lazyConnect: false,
    })
    client.on('error', err => logger.debug({ err: (err as Error).message }, 'redis connection error'))
    s = { client, users: 0 }
    shared.set(url, s)
  }
  s.users++
  const entry = s
  let released = false
  return {
    client: entry.client,
    release: () => {
      if (released) return
      released = true
      if (--entry.users > 0) return
      shared.delete(url)
      entry.client.disconnect()
    },
  }
}

/** Waits (bounded) for a fresh connection to be ready, so the first requests do not needlessly fall back. */
export async function whenReady (client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(t); client.off('ready', done); resolve() }
    const t = setTimeout(done, timeoutMs)
    client.once('ready', done)
  })
}
