/**
 * Detaches one empty ArrayBuffer, once per thread, before any hot code runs.
 *
 * V8 compiles typed-array reads without a "was this buffer detached?" check
 * for as long as no ArrayBuffer of the isolate has ever been detached (its
 * ArrayBufferDetaching protector). A sync detaches buffers on every
 * partition (they move between the main thread and the workers without
 * copying), so the first move threw away every optimized function that
 * reads bytes — the field reader, the scanner, the encoder, all at once —
 * and V8 compiled them again: in a 250k sync, one such wave per thread
 * (main and every worker). Detaching first means they are compiled once,
 * already in the form they end up in.
 */
let done = false
export function detachOnce (): void {
  if (done) return
  done = true
  const spent = new ArrayBuffer(0)
  structuredClone(spent, { transfer: [spent] })
}
