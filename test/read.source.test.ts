import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import zlib from 'node:zlib'
import { Readable } from 'node:stream'
import { openSource, sourceError } from '../src/read/source'
import { SyncError } from '../src/errors'
import { removeTmp, tmpPath } from './helpers'

const TEXT = '[{"id":1},{"id":2}]\n'

async function readAll (input: string | Readable, gzip: boolean | 'auto' = 'auto'): Promise<string> {
  const s = await openSource(input, gzip)
  const parts: Buffer[] = []
  try {
    for await (const c of s.stream) parts.push(c as Buffer)
  } catch (err) {
    throw sourceError(err, s.name)
  }
  return Buffer.concat(parts).toString()
}

test('gzip is recognised by extension, by magic bytes in a file, and by magic bytes in a stream', async () => {
  const gz = zlib.gzipSync(TEXT)
  const withExt = tmpPath('x.json.gz'); fs.writeFileSync(withExt, gz)
  const noExt = tmpPath('x.json'); fs.writeFileSync(noExt, gz)
  const plain = tmpPath('plain.json'); fs.writeFileSync(plain, TEXT)
  assert.equal(await readAll(withExt), TEXT)
  assert.equal(await readAll(noExt), TEXT)
  assert.equal(await readAll(plain), TEXT)
  assert.equal(await readAll(Readable.from([gz.subarray(0, 1), gz.subarray(1)])), TEXT)
  assert.equal(await readAll(Readable.from([Buffer.from(TEXT)])), TEXT)
  assert.equal(await readAll(Readable.from([])), '')
  removeTmp()
})

test('a missing file and a corrupt gzip are BRX_ERR_INPUT_UNREADABLE naming the file', async () => {
  await assert.rejects(openSource('/nonexistent/export.json', 'auto'), (e: SyncError) => e.code === 'BRX_ERR_INPUT_UNREADABLE' && e.message.includes('/nonexistent/export.json'))
  const bad = tmpPath('bad.json.gz')
  fs.writeFileSync(bad, Buffer.concat([zlib.gzipSync(TEXT).subarray(0, 12), Buffer.from('garbage')]))
  await assert.rejects(readAll(bad), (e: SyncError) => e.code === 'BRX_ERR_INPUT_UNREADABLE' && e.message.includes(bad))
  removeTmp()
})
