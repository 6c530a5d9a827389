/**
 * A 53-bit hash of a row's key, computed in the worker so the main thread
 * can spot duplicate keys across partitions with a Set of numbers (cheap)
 * instead of strings. A collision only costs an exact SQL dedup pass that
 * was not needed; it never merges two distinct keys.
 */
export function keyHash (s: string): number {
  let h1 = 0x811c9dc5
  let h2 = 0x01000193 ^ s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995)
    h2 ^= h2 >>> 15
  }
  return (h2 & 0x1fffff) * 0x100000000 + (h1 >>> 0)
}
