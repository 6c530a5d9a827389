/**
 * The light path (an input of at most 64 KiB, no mapping: TEMP staging in the
 * merge transaction, its run row committed with the data): a failure still
 * leaves a failed run in sync_runs and the target untouched, a retry of the
 * same run id after a failure is recorded once, and a success is recorded
 * with its report.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import pg from 'pg'
import { createEngine, migrate, type Engine } from '../src'
import { DATABASE_URL, removeTmp, tmpPath } from './helpers'

let engine: Engine
let db: pg.Client
/** This run of the test's own sync_runs rows: those started since (the database outlives test runs). */
let since: string
before(async () => {
  await migrate({ databaseUrl: DATABASE_URL, dataset: 'catalog-snapshots' })
  engine = createEngine({ databaseUrl: DATABASE_URL, mapping: { source: 'none' } })
  db = new pg.Client({ connectionString: DATABASE_URL })
  await db.connect()
  await db.query('DELETE FROM catalog_snapshots WHERE csv_upload_id = 777')
  since = (await db.query<{ t: string }>('SELECT clock_timestamp()::text AS t')).rows[0].t
})
after(async () => { await engine.close(); await db.end(); removeTmp() })

const csv = (rows: string[]): string => {
  const f = tmpPath(`light-${Math.random().toString(36).slice(2)}.csv`)
  fs.writeFileSync(f, ['variant_id,sku,product_name,price,currency,stock,attributes', ...rows].join('\n') + '\n')
  return f
}
const runs = async (): Promise<Array<{ status: string, error_code: string | null, n: number }>> =>
  (await db.query("SELECT status, error_code, (report->'rows'->>'inserted')::int AS n FROM sync_runs WHERE dataset = 'catalog-snapshots' AND scope = '{\"csv_upload_id\": 777}'::jsonb AND started_at >= $1::timestamptz ORDER BY started_at", [since])).rows

test('a small sync is recorded with its report; a failed one as failed, nothing written', async () => {
  const rep = await engine.sync({ input: csv(['a,1,A,1.00,EUR,1,', 'b,2,B,2.00,EUR,2,']), dataset: 'catalog-snapshots', scope: { csv_upload_id: 777 } })
  assert.equal(rep.rows.inserted, 2)
  assert.deepEqual(await runs(), [{ status: 'succeeded', error_code: null, n: 2 }])
  const before = (await db.query('SELECT variant_id, xmin::text FROM catalog_snapshots WHERE csv_upload_id = 777 ORDER BY 1')).rows
  // Mirror mode, every record rejected: refused before the merge.
  await assert.rejects(engine.sync({ input: csv(['c,3,C,x,EUR,1,']), dataset: 'catalog-snapshots', scope: { csv_upload_id: 777 }, mode: 'mirror' }), { code: 'BRX_ERR_INPUT_MALFORMED' })
  // Mirror mode deleting both rows for one new one: the wipe guard fails inside the merge transaction.
  await assert.rejects(engine.sync({ input: csv(['z,9,Z,1.00,EUR,1,']), dataset: 'catalog-snapshots', scope: { csv_upload_id: 777 }, mode: 'mirror' }), { code: 'BRX_ERR_WIPE_GUARD' })
  assert.deepEqual((await runs()).map(r => [r.status, r.error_code]), [['succeeded', null], ['failed', 'BRX_ERR_INPUT_MALFORMED'], ['failed', 'BRX_ERR_WIPE_GUARD']])
  assert.deepEqual((await db.query('SELECT variant_id, xmin::text FROM catalog_snapshots WHERE csv_upload_id = 777 ORDER BY 1')).rows, before)
  assert.equal((await db.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'brx_light'")).rows[0].n, 0, 'no staging left behind')
})
