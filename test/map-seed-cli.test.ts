import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import mysql from 'mysql2/promise'
import { catalogCommand } from '../src/map'

const MYSQL_URL = process.env.BRX_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
const SFX = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`

async function run (argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await catalogCommand(argv, { out: s => { out += s }, err: s => { err += s } })
  return { code, out, err }
}

test('catalog command: --help, and exit 2 on usage errors', async () => {
  const help = await run(['--help'])
  assert.equal(help.code, 0)
  assert.match(help.out, /^Usage: brx-sync catalog seed --file/)
  assert.equal(help.err, '')
  const saved = process.env.MYSQL_URL
  delete process.env.MYSQL_URL
  try {
    for (const [argv, re] of [
      [[], /Missing subcommand/],
      [['load', '--file', 'x.csv'], /Unknown subcommand "load"/],
      [['seed'], /Missing --file/],
      [['seed', '--file', 'x.csv'], /Missing --mysql-url/],
      [['seed', '--fiel', 'x.csv'], /Unknown option '--fiel'/],
      [['seed', '--file', 'x.csv', '--mysql-url', 'http://h/db'], /must start with mysql:\/\//],
    ] as Array<[string[], RegExp]>) {
      const r = await run(argv)
      assert.equal(r.code, 2, argv.join(' '))
      assert.match(r.err, re)
      assert.equal(r.out, '')
    }
  } finally {
    if (saved !== undefined) process.env.MYSQL_URL = saved
  }
})

test('catalog seed loads the four default tables; a missing file exits 6 without the password', async () => {
  // A database of its own: the default table names must not clobber anyone's catalog.
  const db = `brx_map_seed_${SFX}`
  const admin = await mysql.createConnection({ uri: MYSQL_URL })
  await admin.query(`CREATE DATABASE \`${db}\``)
  const url = new URL(MYSQL_URL)
  url.pathname = '/' + db
  const file = path.join(os.tmpdir(), `brx-map-cli-${SFX}.ndjson`)
  const tables = ['cards_prints', 'op_prints', 'pk_prints', 'sealed_products']
  fs.writeFileSync(file, Array.from({ length: 1000 }, (_, i) => JSON.stringify({ cardtrader_id: i, print_id: i, table: tables[i % 3] })).join('\n'))
  try {
    const r = await run(['seed', '-f', file, '--mysql-url', url.toString()])
    assert.equal(r.err, '')
    assert.equal(r.code, 0)
    assert.match(r.out, new RegExp(`^Seeded 1000 catalog rows into MySQL at 127\\.0\\.0\\.1:3306/${db} in \\d+ ms \\(cards_prints 334, op_prints 333, pk_prints 333, sealed_products 0\\)\\.\\n$`))
    const [rows] = await admin.query('SELECT TABLE_NAME AS t, TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1', [db]) as any
    assert.deepEqual(rows.map((x: any) => x.t), tables)
    const withPassword = new URL(url)
    withPassword.password = 's3cret'
    withPassword.port = '1'
    const bad = await run(['seed', '--file', file + '.missing', '--mysql-url', withPassword.toString()])
    assert.equal(bad.code, 6)
    assert.match(bad.err, /^brx-sync catalog: BRX_ERR_CATALOG_UNAVAILABLE: /)
    assert.ok(!bad.err.includes('s3cret'))
    const missing = await run(['seed', '--file', file + '.missing', '--mysql-url', url.toString()])
    assert.equal(missing.code, 6)
    assert.match(missing.err, /Catalog file .*\.missing cannot be read: it does not exist/)
  } finally {
    fs.rmSync(file, { force: true })
    await admin.query(`DROP DATABASE IF EXISTS \`${db}\``)
    await admin.end()
  }
})
