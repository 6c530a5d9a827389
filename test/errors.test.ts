import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ERROR_CODES, SyncError, fromPgError, redact } from '../src/errors'

const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8')

test('every error code is documented in the README, and every documented code exists', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(readme, new RegExp('`' + code + '`'), `${code} is not in the README`)
  const documented = [...readme.matchAll(/`(BRX_ERR_[A-Z_]+)`/g)].map(m => m[1])
  for (const code of documented) assert.ok(code in ERROR_CODES, `README documents ${code}, which does not exist`)
})

test('exit codes in the README table match ERROR_CODES', () => {
  for (const [code, { exit }] of Object.entries(ERROR_CODES)) {
    const row = readme.split('\n').find(l => l.startsWith(`| \`${code}\``))
    assert.ok(row !== undefined, `no README row for ${code}`)
    if (code !== 'BRX_ERR_ABANDONED') assert.ok(row.includes(`| ${exit} |`), `README row for ${code} does not say exit ${exit}: ${row}`)
  }
})

test('a pg error keeps SQLSTATE, detail and constraint, and maps to a stable code', () => {
  const pgErr = Object.assign(new Error('duplicate key value violates unique constraint "k"'), { code: '23505', detail: 'Key (a)=(1) already exists.', constraint: 'k' })
  const e = fromPgError(pgErr, 'The merge')
  assert.equal(e.code, 'BRX_ERR_DB_QUERY')
  assert.equal(e.pgCode, '23505')
  assert.equal(e.detail, 'Key (a)=(1) already exists.')
  assert.equal(e.constraint, 'k')
  assert.equal(e.cause, pgErr)
  assert.equal(fromPgError(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }), 'x').code, 'BRX_ERR_DB_TIMEOUT')
  assert.equal(fromPgError(Object.assign(new Error('relation "t" does not exist'), { code: '42P01' }), 'x').code, 'BRX_ERR_DB_SCHEMA')
  assert.equal(fromPgError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'x').code, 'BRX_ERR_DB_CONNECT')
})

test('passwords are redacted from URLs and key=value strings', () => {
  assert.equal(redact('failed for postgres://bob:hunter2@db:5432/x'), 'failed for postgres://bob:***@db:5432/x')
  assert.equal(redact('host=db password=hunter2 user=bob'), 'host=db password=*** user=bob')
  assert.ok(!JSON.stringify(new SyncError('BRX_ERR_DB_CONNECT', redact('mysql://root:s3cret@h/db down'))).includes('s3cret'))
})
