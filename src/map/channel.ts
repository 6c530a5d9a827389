import { MessageChannel, type MessagePort } from 'node:worker_threads'
import type { MappingAnswer } from '../transform/partition'
import type { BlueprintResolver, MappingStats } from './types'

/**
 * The mapping channel of one partition: the worker posts the distinct
 * external ids it needs, the main thread answers from the engine's resolver
 * (shared LRU, batched lookups). `worker` goes to the worker in the task's
 * transfer list; `error` is the resolver's failure, if any, which explains a
 * worker that then fails.
 */
export class MappingChannel {
  readonly worker: MessagePort
  private readonly main: MessagePort
  error: unknown = null

  constructor (resolver: BlueprintResolver, stats: MappingStats, signal?: AbortSignal) {
    const ch = new MessageChannel()
    this.main = ch.port1
    this.worker = ch.port2
    this.main.on('message', (ids: Int32Array) => {
      resolver.resolve(ids, stats, signal).then(res => {
        const answer: MappingAnswer = { printIds: res.printIds, kinds: res.kinds, kindNames: resolver.kinds, excluded: resolver.excluded }
        this.main.postMessage(answer, [res.printIds.buffer as ArrayBuffer, res.kinds.buffer as ArrayBuffer])
      }, err => {
        this.error = err
        this.main.postMessage({ error: String((err as Error).message ?? err) })
      })
    })
  }

  close (): void { this.main.close() }
}
