/**
 * src/db/copy-out.ts, the engine diff's scope read: the bytes it hands over
 * must be exactly those pg-copy-streams' COPY TO gives for the same query,
 * whatever the socket's chunk boundaries (a proxy between the client and the
 * real server re-cuts the server's bytes into random small pieces, so the
 * 5-byte message headers straddle chunks), with the server's notices in
 * between, and the connection must stay usable after an error mid-COPY or
 * fail cleanly when the backend dies.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import { copyOutTo } from '../src/db/copy-out'
import { DATABASE_URL, Prng, seedFromEnv } from './helpers'

const seed = seedFromEnv()
const target = new URL(DATABASE_URL)

/** A TCP proxy to the server that re-cuts what the server sends into pieces of 1..maxPiece bytes, each written on its own turn. */
async function rechunkingProxy (rng: Prng, maxPiece: number): Promise<{ port: number, close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer(client => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    sockets.add(client); sockets.add(upstream)
    client.pipe(upstream)
    let queue = Promise.resolve()
    upstream.on('data', (b: Buffer) => {
      upstream.pause()
      queue = queue.then(async () => {
        for (let i = 0; i < b.length;) {
          const n = Math.min(b.length - i, rng.int(1, maxPiece))
          client.write(b.subarray(i, i + n))
          i += n
          if (rng.chance(0.2)) await new Promise(resolve => setImmediate(resolve))
        }
        upstream.resume()
      })
    })
    const end = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    },
  }
}

function clientAt (port?: number): pg.Client {
  return new pg.Client({ connectionString: DATABASE_URL, ...(port !== undefined ? { host: '127.0.0.1', port } : {}), query_timeout: 60_000 })
}

/** A connected client for `fn`, ended after it whatever happens. */
async function withClient (fn: (c: pg.Client) => Promise<void>, c: pg.Client = clientAt()): Promise<void> {
  await c.connect()
  try {
    await fn(c)
  } finally {
    await c.end().catch(() => {})
  }
}

/** What pg-copy-streams receives for `sql`: the reference. */
async function referenceBytes (client: pg.Client, sql: string): Promise<Buffer> {
  const parts: Buffer[] = []
  const stream = client.query(copyTo(sql))
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => parts.push(c))
    stream.on('error', reject)
    stream.on('end', resolve)
  })
  return Buffer.concat(parts)
}

async function copyOutBytes (client: pg.Client, sql: string, yieldBytes?: number): Promise<{ bytes: Buffer, calls: number }> {
  const parts: Buffer[] = []
  let calls = 0
  await copyOutTo(client, sql, (b, s, e) => { calls++; parts.push(Buffer.from(b.subarray(s, e))) }, yieldBytes)
  return { bytes: Buffer.concat(parts), calls }
}

/** Rows of random widths (0 to 300 bytes of text, NULLs, numbers, jsonb): headers land anywhere in a chunk. */
const ROWS_SQL = (n: number, s: number): string => `COPY (SELECT g, CASE WHEN (g * ${s}) % 7 = 0 THEN NULL ELSE repeat(chr(97 + (g * ${s}) % 26), (g * ${s}) % 301) END,
  (g * 1.5)::numeric, jsonb_build_object('k', g % 13, 'v', repeat('x', g % 17)) FROM generate_series(1, ${n}) g) TO STDOUT (FORMAT binary)`

// The reference client has no query_timeout: pg-copy-streams' COPY TO would leave its timer armed (see copyOut).
const direct = new pg.Client({ connectionString: DATABASE_URL })
before(async () => {
  await direct.connect()
  await direct.query(`CREATE OR REPLACE FUNCTION brx_test_noisy (g int) RETURNS int LANGUAGE plpgsql AS $$
    BEGIN IF g % 500 = 0 THEN RAISE NOTICE 'row %', g; END IF; RETURN g; END $$`)
})
after(async () => { await direct.end() })

test(`re-cut at random byte boundaries by a proxy, the bytes equal pg-copy-streams' (seed ${seed})`, { timeout: 60_000 }, async () => {
  const rng = new Prng(seed)
  for (const maxPiece of [1, 7, 300, 70_000]) {
    const proxy = await rechunkingProxy(rng, maxPiece)
    const c = clientAt(proxy.port)
    await c.connect()
    try {
      const n = maxPiece === 1 ? 300 : 20_000
      const sql = ROWS_SQL(n, rng.int(1, 1000))
      const want = await referenceBytes(direct, sql)
      const got = await copyOutBytes(c, sql, rng.int(1, 64) * 1024)
      assert.equal(got.bytes.length, want.length, `max piece ${maxPiece}: length`)
      assert.ok(got.bytes.equals(want), `max piece ${maxPiece}: bytes`)
      // The socket went back to pg's parser in order: the connection answers the next query.
      assert.equal((await c.query('SELECT 41 + 1 AS x')).rows[0].x, 42)
    } finally {
      await c.end().catch(() => {})
      await proxy.close()
    }
  }
})

test('notices between the CopyData messages are skipped; the data is unchanged', { timeout: 30_000 }, async () => {
  const sql = 'COPY (SELECT brx_test_noisy(g), repeat(\'n\', g % 50) FROM generate_series(1, 20000) g) TO STDOUT (FORMAT binary)'
  const want = await referenceBytes(direct, sql)
  const c = clientAt()
  await c.connect()
  let notices = 0
  c.on('notice', () => { notices++ })
  try {
    const got = await copyOutBytes(c, sql)
    assert.ok(got.bytes.equals(want))
    assert.equal((await c.query('SELECT 1 AS x')).rows[0].x, 1)
  } finally {
    await c.end()
  }
  // Skipped as pg-copy-streams skips them: they reached neither pg's parser (the socket was ours) nor the data.
  assert.equal(notices, 0)
})

test('an error after data was sent rejects with the server\'s error, and the connection stays usable', { timeout: 30_000 }, async () => {
  await withClient(async c => {
    let kept = 0
    await assert.rejects(copyOutTo(c, 'COPY (SELECT g, 1 / (g - 30000) FROM generate_series(1, 60000) g) TO STDOUT (FORMAT binary)', (_b, s, e) => { kept += e - s }),
      (err: any) => err.code === '22012')
    assert.ok(kept > 0, 'rows before the error were read')
    assert.equal((await c.query('SELECT 2 AS x')).rows[0].x, 2)
    // And a COPY after it reads whole.
    const want = await referenceBytes(direct, ROWS_SQL(2000, 3))
    assert.ok((await copyOutBytes(c, ROWS_SQL(2000, 3))).bytes.equals(want))
  })
})

test('an SQL error before any data rejects with it', { timeout: 30_000 }, async () => {
  await withClient(async c => {
    await assert.rejects(copyOutTo(c, 'COPY (SELECT nope FROM brx_no_such_table) TO STDOUT (FORMAT binary)', () => {}), (err: any) => err.code === '42P01')
    assert.equal((await c.query('SELECT 3 AS x')).rows[0].x, 3)
  })
})

test('the backend terminated mid-COPY rejects (no hang)', { timeout: 30_000 }, async () => {
  const c = clientAt()
  await c.connect()
  c.on('error', () => {})
  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid
  let killed = false
  const copy = copyOutTo(c, 'COPY (SELECT g, pg_sleep(CASE WHEN g % 20000 = 0 THEN 0.05 ELSE 0 END), repeat(\'z\', 100) FROM generate_series(1, 2000000) g) TO STDOUT (FORMAT binary)', () => {
    if (!killed) { killed = true; direct.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => {}) }
  })
  await assert.rejects(copy)
  assert.ok(killed)
  await c.end().catch(() => {})
})

test('pg\'s query timeout mid-COPY rejects; the rest is drained and the connection answers the next query', { timeout: 30_000 }, async () => {
  await withClient(async c => {
    const sql = 'COPY (SELECT g, pg_sleep(CASE WHEN g % 1000 = 0 THEN 0.05 ELSE 0 END), repeat(\'t\', 200) FROM generate_series(1, 20000) g) TO STDOUT (FORMAT binary)'
    let kept = 0
    await assert.rejects(copyOutTo(c, sql, (_b, s, e) => { kept += e - s }), /timeout/i)
    assert.ok(kept > 0, 'the COPY had started')
    // Queued behind the drain (the server still sends the rest of the COPY): its own longer timeout.
    assert.equal((await c.query({ text: 'SELECT 5 AS x', query_timeout: 20_000 } as any)).rows[0].x, 5)
  }, new pg.Client({ connectionString: DATABASE_URL, query_timeout: 400 }))
})

test('a sink that throws rejects with its error; the connection stays usable', { timeout: 30_000 }, async () => {
  await withClient(async c => {
    let calls = 0
    await assert.rejects(copyOutTo(c, ROWS_SQL(20000, 5), () => { if (++calls === 3) throw new RangeError('store full') }), /store full/)
    assert.equal((await c.query('SELECT 6 AS x')).rows[0].x, 6)
  })
})

test('a statement that is not a COPY TO STDOUT rejects (no hang); the connection stays usable', { timeout: 30_000 }, async () => {
  await withClient(async c => {
    await c.query('CREATE TEMP TABLE brx_copy_in (x int)')
    for (const sql of ['SELECT 1', '', 'COPY brx_copy_in FROM STDIN', 'SET work_mem = \'8MB\'']) {
      await assert.rejects(copyOutTo(c, sql, () => {}), /not copy-out|COPY TO expected|COPY from stdin failed/i, sql)
      assert.equal((await c.query('SELECT 7 AS x')).rows[0].x, 7, sql)
    }
  })
})
