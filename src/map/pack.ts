/**
 * A mapping travels as one number: code * 2^32 + (printId as uint32). 0 means
 * "maps nowhere", so negative results cache as 0. Fits a double exactly
 * (code <= 255), and a number value keeps lru-cache free of per-entry objects.
 */
const TWO32 = 4294967296

export function pack (code: number, printId: number): number {
  return code * TWO32 + (printId >>> 0)
}

export function codeOf (v: number): number {
  return Math.floor(v / TWO32)
}

export function printIdOf (v: number): number {
  return (v % TWO32) | 0
}
