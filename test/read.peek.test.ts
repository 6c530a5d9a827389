/**
 * isSmallInput on streams: a small stream that ends is small; a large one is
 * not; a stream that stalls is not (and is not waited for beyond the peek's
 * bound, so the sync records and locks its run before waiting for input);
 * a stream that fails surfaces its error to the reader. In every case the
 * replacement stream yields exactly the original bytes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { isSmallInput } from '../src/read/peek'
import type { OpenedSource } from '../src/read/source'

const opened = (stream: Readable): OpenedSource => ({ stream, name: 'input stream', size: null, rawBytes: () => 0, gzip: false, destroy: () => stream.destroy() })

async function drain (s: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of s) parts.push(Buffer.from(c as Uint8Array))
  return Buffer.concat(parts)
}

const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251))

test('a small stream that ends is small; its bytes are replayed', async () => {
  const data = [bytes(1000, 1), bytes(2000, 2), bytes(5, 3)]
  const src = opened(Readable.from(data))
  assert.equal(await isSmallInput(src, 64 * 1024), true)
  assert.deepEqual(await drain(src.stream), Buffer.concat(data))
})

test('a stream over the limit is not small; every byte is still read, in order', async () => {
  const data = Array.from({ length: 40 }, (_, i) => bytes(4096, i))
  const src = opened(Readable.from(data))
  assert.equal(await isSmallInput(src, 64 * 1024), false)
  assert.deepEqual(await drain(src.stream), Buffer.concat(data))
})

test('a stalled stream is not small, the peek returns, and later bytes still arrive', async () => {
  const pt = new PassThrough()
  pt.write(bytes(100, 7))
  const src = opened(pt)
  assert.equal(await isSmallInput(src, 64 * 1024, 30), false)
  const all = drain(src.stream)
  pt.write(bytes(50, 8))
  pt.end(bytes(10, 9))
  assert.deepEqual(await all, Buffer.concat([bytes(100, 7), bytes(50, 8), bytes(10, 9)]))
})

test('a stream that fails: not small, and the reader gets the bytes read, then the error', async () => {
  const src = opened(Readable.from((async function * () { yield bytes(10, 1); throw new Error('socket gone') })()))
  assert.equal(await isSmallInput(src, 64 * 1024), false)
  const got: Buffer[] = []
  await assert.rejects((async () => { for await (const c of src.stream) got.push(Buffer.from(c as Uint8Array)) })(), /socket gone/)
  assert.deepEqual(Buffer.concat(got), bytes(10, 1))
})
