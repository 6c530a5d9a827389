/**
 * Run by `npm test` before the suite: a fresh database for the tests
 * (DATABASE_URL, set by the test script to brx_test unless
 * BRX_TEST_DATABASE_URL says otherwise), dropped and recreated so that runs
 * on one machine never accumulate rows, and migrated.
 */
import pg from 'pg'
import { migrate } from '../src'

/** Drops and recreates the database of `connectionString` (named brx_test* or brx_bench*, nothing else), then migrates it. */
export async function recreateDatabase (connectionString: string): Promise<string> {
  const url = new URL(connectionString)
  const name = decodeURIComponent(url.pathname.slice(1))
  if (!/^brx_(test|bench)[a-z0-9_]*$/.test(name)) throw new Error(`refusing to recreate database "${name}": only brx_test* and brx_bench* databases are thrown away`)
  const admin = new URL(url.toString())
  admin.pathname = '/postgres'
  const client = new pg.Client({ connectionString: admin.toString() })
  await client.connect()
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await client.query(`CREATE DATABASE "${name}"`)
  } finally {
    await client.end()
  }
  await migrate({ databaseUrl: url.toString() })
  return name
}

if (require.main === module) {
  recreateDatabase(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/brx_test').then(name => {
    process.stdout.write(`test database ${name} ready\n`)
  }, err => {
    process.stderr.write(`setup-db: ${String((err as Error).message)}\n`)
    process.exitCode = 1
  })
}
