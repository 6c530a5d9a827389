/**
 * Piscina entry: one partition in, encoded COPY tuples out. All the work is
 * in src/transform/partition.ts (a pure function, tested without threads);
 * this file only connects the mapping port and moves the result buffers back
 * to the main thread without copying them.
 */
import os from 'node:os'
import Piscina from 'piscina'
import { workerData, type MessagePort } from 'node:worker_threads'
import { detachOnce } from '../src/transform/detach-once'
import { classifyTuples, transformPartition, type ClassifyAnswer, type ClassifyTask, type TransformTask, type MappingAnswer, type TransformResult } from '../src/transform/partition'

// On Linux niceness is a per-thread attribute: this lowers only this worker thread, so the
// host's event loop (and PostgreSQL's backends) win the CPU when they need it.
const nice = (workerData as { nice?: number } | undefined)?.nice ?? 0
if (nice > 0) {
  try { os.setPriority(nice) } catch { /* not permitted here: run at normal priority */ }
}

detachOnce()

type Task = TransformTask & { port?: MessagePort }

function askMainThread (port: MessagePort) {
  return async (ids: Int32Array): Promise<MappingAnswer> => await new Promise((resolve, reject) => {
    port.once('message', (m: MappingAnswer | { error: string }) => {
      if ('error' in m) reject(new Error(m.error)); else resolve(m)
    })
    port.postMessage(ids, [ids.buffer as ArrayBuffer])
  })
}

async function transform (task: Task): Promise<TransformResult> {
  try {
    const r = await transformPartition(task, task.port !== undefined ? askMainThread(task.port) : undefined)
    return Piscina.move({
      get [Piscina.transferableSymbol] () { return [r.tuples.buffer, r.hashes.buffer, r.tupleEnds.buffer, ...(r.marks !== undefined ? [r.marks.slots.buffer, r.marks.same.buffer] : [])] },
      get [Piscina.valueSymbol] () { return r },
    } as any) as unknown as TransformResult
  } finally {
    task.port?.close()
  }
}

/**
 * Piscina task `classify` (load.ts): tuples transformed before the engine
 * diff's scope was read, marked now; they go back with the marks, moved both
 * ways. A function of its own: with this path inside `transform`, the
 * getters' closure kept every task (its 1 MiB input) alive with its result,
 * and the initial 250k sync peaked at 310 MB instead of 225 MB.
 */
function classify (task: ClassifyTask): ClassifyAnswer {
  const marks = classifyTuples(task)
  const answer: ClassifyAnswer = { marks, tuples: task.tuples }
  return Piscina.move({
    get [Piscina.transferableSymbol] () { return [marks.slots.buffer, marks.same.buffer, answer.tuples.buffer] },
    get [Piscina.valueSymbol] () { return answer },
  } as any) as unknown as ClassifyAnswer
}

// Piscina runs `default` (transform) unless a task names `classify`.
export = Object.assign(transform, { classify })
