/** KeySet against a plain Set on random 53-bit hashes, with repeats, zero and low-bit collisions. No database. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { KeySet } from '../src/write/key-set'
import { Prng, seedFromEnv } from './helpers'

test('KeySet.add answers as a Set would, through growth', () => {
  const seed = seedFromEnv()
  const rng = new Prng(seed)
  const ref = new Set<number>()
  const ks = new KeySet(4)
  const pool: number[] = [0]
  for (let i = 0; i < 200_000; i++) {
    let h: number
    const r = rng.next()
    if (r < 0.2 && pool.length > 0) h = pool[Math.floor(rng.next() * pool.length)] // a repeat
    else if (r < 0.3) h = rng.int(0, 0x1fffff) * 0x100000000 + 12345 // same low 32 bits: one probe chain
    else h = rng.int(0, 0x1fffff) * 0x100000000 + rng.int(0, 0xffffffff)
    if (pool.length < 5000) pool.push(h)
    assert.equal(ks.add(h), !ref.has(h), `seed ${seed}: add(${h}) at step ${i}`)
    ref.add(h)
  }
  assert.equal(ks.size, ref.size)
})
