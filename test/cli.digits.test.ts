import { test } from 'node:test'
import assert from 'node:assert/strict'
import { grouped } from '../src/cli/digits'
import { rng } from './helpers'

test('grouped writes a number as toLocaleString("en-US") does', () => {
  const r = rng(11)
  const cases = [0, -0, 1, 12, 123, 999, 1000, 1001, 999_999, 1_000_000, -1, -1234, -999_999_999, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1.5, 1234.5678, NaN, Infinity, -Infinity, 2 ** 60]
  for (let i = 0; i < 20_000; i++) {
    const digits = 1 + Math.floor(r() * 16)
    cases.push(Math.floor((r() - 0.3) * 10 ** digits))
  }
  for (const x of cases) assert.equal(grouped(x), x.toLocaleString('en-US'), String(x))
})
