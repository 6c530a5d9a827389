/**
 * Seeded randomness for the generator.
 *
 * Every random decision is a pure function of (seed, index, salt) rather than
 * a position in one long stream. That is what lets product i come out
 * byte-identical in the base export and in any "changed version" of it, lets
 * the dup writer regenerate product i thousands of records later instead of
 * remembering it, and lets `summarize` count outcomes without building records.
 */

/** murmur3's 32-bit finalizer: cheap, and good enough avalanche for test data. */
export function fmix32 (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A uint32 that depends on all three inputs. */
export function hash3 (seed: number, index: number, salt: number): number {
  // Fold the index in two 32-bit halves so indexes past 2^32 still differ.
  const lo = index >>> 0
  const hi = Math.floor(index / 0x100000000) >>> 0
  let h = fmix32((seed >>> 0) ^ Math.imul(salt, 0x9e3779b9))
  h = fmix32(h ^ lo)
  h = fmix32((h + Math.imul(hi, 0x27d4eb2f) + 0x165667b1) >>> 0)
  return h
}

/** Uniform in [0, 1). */
export function unit3 (seed: number, index: number, salt: number): number {
  return hash3(seed, index, salt) / 0x100000000
}

/**
 * mulberry32: for the many small draws that make up one product. It is seeded
 * from hash3 per product, so its sequence never leaks from one product into the next.
 */
export class Rng {
  private s: number
  constructor (seed: number) { this.s = seed >>> 0 }

  u32 (): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Uniform in [0, 1). */
  next (): number { return this.u32() / 0x100000000 }

  /** Integer in [lo, hi]. */
  int (lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)) }

  pick<T> (xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)] }

  chance (p: number): boolean { return this.next() < p }

  /** Picks by cumulative weights (ascending, last one is the total). */
  weighted<T> (xs: readonly T[], cumulative: readonly number[]): T {
    const x = this.next() * cumulative[cumulative.length - 1]
    for (let i = 0; i < cumulative.length; i++) if (x < cumulative[i]) return xs[i]
    return xs[xs.length - 1]
  }
}

export function cumulative (weights: readonly number[]): number[] {
  let acc = 0
  return weights.map(w => (acc += w))
}

/**
 * A bijection on [0, 2^bits): distinct inputs give distinct outputs, so print
 * ids derived from blueprint ids can never collide within a catalog table.
 */
export function permute (x: number, bits: number, key: number): number {
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1
  const half = bits >> 1
  let v = (x ^ key) & mask
  for (let round = 0; round < 3; round++) {
    v = Math.imul(v, 0x2c1b3c6d | 1) & mask // odd multiplier: invertible mod 2^bits
    v ^= v >>> half // xorshift right: invertible
    v = (v + ((key >>> round) | 1)) & mask
  }
  return v >>> 0
}
