/**
 * The CLI with a spec file: `migrate --dataset` creates the table,
 * `sync --dataset --scope` syncs CSV into it, and mirror without a scope is
 * refused with exit 2 unless --allow-unscoped-mirror is given.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { DATABASE_URL, removeTmp, tmpPath } from './helpers'

const run = promisify(execFile)
const CLI = path.resolve(__dirname, '../src/cli/main.js')
after(removeTmp)

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL } })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err: any) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

test('migrate --dataset, sync --dataset --scope from CSV, and the unscoped-mirror refusal', async () => {
  const spec = tmpPath('cli-spec.json')
  fs.writeFileSync(spec, JSON.stringify({
    name: 'cli-readings', table: 'cli_readings', scope: [{ name: 'station_id', type: 'text' }, { name: 'site', type: 'int4' }],
    columns: [{ name: 'ts', type: 'timestamptz', nullable: false }, { name: 'v', type: 'numeric(6,3)' }], key: ['ts'],
  }))
  const admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
  await admin.query('DROP TABLE IF EXISTS cli_readings, cli_events')
  await admin.end()
  const m = await cli(['migrate', '--dataset', spec])
  assert.equal(m.code, 0, m.stderr)
  const csv = tmpPath('cli.csv')
  fs.writeFileSync(csv, 'ts,v\n2026-01-01T00:00:00Z,1.2345\n2026-01-01T00:01:00Z,\n2026-01-01T00:02:00Z,"1,5"\n')
  const s = await cli(['sync', '--dataset', spec, '--scope', 'station_id=A', '--scope', 'site=7', '--input', csv, '--json', '--log-level', 'silent'])
  assert.equal(s.code, 0, s.stderr)
  const report = JSON.parse(s.stdout)
  assert.deepEqual([report.rows.read, report.rows.inserted, report.rows.rejected, report.rejectReasons], [3, 2, 1, { invalid_value: 1 }])
  const db = new pg.Client({ connectionString: DATABASE_URL })
  await db.connect()
  try {
    const { rows } = await db.query("SELECT station_id, site, v::text FROM cli_readings WHERE station_id = 'A' ORDER BY ts")
    assert.deepEqual(rows, [{ station_id: 'A', site: 7, v: '1.235' }, { station_id: 'A', site: 7, v: null }])
  } finally {
    await db.end()
  }
  const bad = await cli(['sync', '--dataset', spec, '--scope', 'station_id=A', '--input', csv, '--log-level', 'silent'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /options\.scope\.site is required by dataset cli-readings/)
  const unscoped = tmpPath('unscoped.json')
  fs.writeFileSync(unscoped, JSON.stringify({ name: 'cli-events', table: 'cli_events', scope: [], columns: [{ name: 'id', type: 'int4' }], key: ['id'] }))
  assert.equal((await cli(['migrate', '--dataset', unscoped])).code, 0)
  const ids = tmpPath('ids.ndjson')
  fs.writeFileSync(ids, '{"id":1}\n')
  const refused = await cli(['sync', '--dataset', unscoped, '--input', ids, '--log-level', 'silent'])
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /BRX_ERR_OPTIONS_INVALID: options\.mode "mirror" would delete every row of cli_events missing from the input: dataset cli-events has no scope columns/)
  assert.equal((await cli(['sync', '--dataset', unscoped, '--input', ids, '--allow-unscoped-mirror', '--log-level', 'silent'])).code, 0)
})
