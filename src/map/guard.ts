import { SyncError, cancelledError as cancelled } from '../errors'

export function cancelledError (): SyncError {
  return cancelled('during the blueprint catalog lookup')
}

/**
 * A deadline and an optional AbortSignal in one place. race() settles with the
 * first of: the promise, the deadline, the abort. A resource that arrives after
 * we gave up (a pooled connection) is handed to onLate so it can be released.
 */
export class Guard {
  private error?: SyncError
  private readonly timer?: NodeJS.Timeout
  private readonly waiters = new Set<(e: SyncError) => void>()
  private readonly onAbort?: () => void

  constructor (ms: number, timeoutError: () => SyncError, private readonly signal?: AbortSignal) {
    this.timer = setTimeout(() => this.fail(timeoutError()), ms)
    if (signal !== undefined) {
      if (signal.aborted) this.fail(cancelledError())
      else signal.addEventListener('abort', this.onAbort = () => this.fail(cancelledError()), { once: true })
    }
  }

  private fail (e: SyncError): void {
    if (this.error !== undefined) return
    this.error = e
    for (const w of this.waiters) w(e)
    this.waiters.clear()
    this.dispose()
  }

  throwIfDone (): void {
    if (this.error !== undefined) throw this.error
  }

  race<T> (p: Promise<T>, onLate?: (v: T) => void): Promise<T> {
    if (this.error !== undefined) {
      p.then(v => onLate?.(v), () => {})
      return Promise.reject(this.error)
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const giveUp = (e: SyncError): void => { settled = true; reject(e) }
      this.waiters.add(giveUp)
      p.then(v => {
        if (settled) { onLate?.(v); return }
        settled = true
        this.waiters.delete(giveUp)
        resolve(v)
      }, e => {
        if (settled) return
        settled = true
        this.waiters.delete(giveUp)
        reject(e)
      })
    })
  }

  dispose (): void {
    clearTimeout(this.timer)
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort)
  }
}
