/**
 * A set of 53-bit key hashes (see transform/key-hash.ts) in one Float64Array
 * with open addressing: 8 bytes a slot, no object per key. A Set<number>
 * holds each such hash as a heap number, about 40 bytes a key, which at
 * 5,000,000 keys is most of the process's memory bound.
 */
export class KeySet {
  private slots: Float64Array
  private mask: number
  private count = 0
  /** 0 marks an empty slot, so the hash 0 itself is tracked apart. */
  private hasZero = false

  constructor (capacity = 1 << 16) {
    let n = 16
    while (n * 3 < capacity * 4) n *= 2
    this.slots = new Float64Array(n)
    this.mask = n - 1
  }

  get size (): number { return this.count + (this.hasZero ? 1 : 0) }

  /** Adds `h`; true when it was not there yet. */
  add (h: number): boolean {
    if (h === 0) {
      if (this.hasZero) return false
      this.hasZero = true
      return true
    }
    const slots = this.slots; const mask = this.mask
    // The low 32 bits are one of the hash's two independent halves: spread enough for linear probing.
    let i = (h >>> 0) & mask
    for (;;) {
      const s = slots[i]
      if (s === 0) break
      if (s === h) return false
      i = (i + 1) & mask
    }
    slots[i] = h
    // Grown at 3/4 full: linear probing stays short, and 5,000,000 keys fit in 8 Mi slots (64 MiB).
    if (++this.count * 4 > slots.length * 3) this.grow()
    return true
  }

  private grow (): void {
    const old = this.slots
    this.slots = new Float64Array(old.length * 2)
    this.mask = this.slots.length - 1
    const slots = this.slots; const mask = this.mask
    for (let k = 0; k < old.length; k++) {
      const h = old[k]
      if (h === 0) continue
      let i = (h >>> 0) & mask
      while (slots[i] !== 0) i = (i + 1) & mask
      slots[i] = h
    }
  }
}
