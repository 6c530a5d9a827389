/**
 * The changes file under SIGKILL: the CLI re-syncs a user (old export -> new
 * export, --changes FILE) and is killed at randomized times across its whole
 * run. After each kill, FILE exists only if the run committed, and then it is
 * complete (one line per inserted, updated and deleted row of the committed
 * report). A kill between COMMIT and the rename may leave only the temporary
 * file: that direction ("committed, file missing") is allowed, the other
 * never. The last run is not killed and must leave the file. (A killed
 * process leaves its hidden temporary file, `.FILE.<run id>.tmp`, behind.)
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import { createEngine } from '../src'
import { Prng, readNdjson, removeTmp, seedFromEnv, tmpPath } from './helpers'
import { adminPool, forgetUsers, ms, newUser, runsOf, spawnCli, taggedUrl, writeProducts } from './fault-helpers'

const seed = seedFromEnv()
const N = 10_000

after(async () => {
  const admin = adminPool(1)
  await forgetUsers(admin).catch(() => {})
  await admin.end()
  removeTmp()
})

test(`SIGKILL of a sync writing --changes: the file exists only complete and only if the commit happened (seed ${seed})`, { timeout: 90_000 }, async () => {
  const rng = new Prng(seed)
  const s = rng.int(1, 1_000_000)
  const A = writeProducts({ products: N, seed: s }, 'old')
  const B = writeProducts({ products: N, seed: s, change: 0.2, add: 0.02, remove: 0.02 }, 'new')
  const engine = createEngine({ databaseUrl: taggedUrl('changes-kill'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }), workers: 1 })
  const db = adminPool(2)
  try {
    const user = newUser()
    await engine.sync({ input: A.path, userId: user })
    const args = (file: string): string[] => ['sync', '--input', B.path, '--user', user, '--no-mapping', '--changes', file, '--database-url', taggedUrl('changes-kill-cli'), '--log-level', 'warn']
    const t0 = performance.now()
    const probe = tmpPath('probe.ndjson')
    const full = await spawnCli(args(probe)).exited
    assert.equal(full.code, 0, full.stderr)
    const fullMs = ms(t0)
    const outcomes: string[] = []
    // timed: a random moment of the run; tmp: the moment the temporary file appears (changes written,
    // COMMIT not yet sent); committed: the moment the run row reads succeeded; none: not killed.
    const modes = ['timed', 'timed', 'tmp', 'committed', 'none'] as const
    for (let i = 0; i < modes.length; i++) {
      const mode = modes[i]
      await engine.sync({ input: A.path, userId: user }) // back to the old inventory (also reaps a killed run)
      const file = tmpPath(`changes-${i}.ndjson`)
      const child = spawnCli(args(file))
      const kill = mode !== 'none'
      const delay = rng.int(Math.round(fullMs * 0.2), Math.round(fullMs * 1.05))
      const timer = mode === 'timed' ? setTimeout(() => child.child.kill('SIGKILL'), delay) : undefined
      let exited = false
      const watcher = (async () => {
        const tmpPrefix = `.${path.basename(file)}.`
        while (!exited && (mode === 'tmp' || mode === 'committed')) {
          const hit = mode === 'tmp'
            ? fs.readdirSync(path.dirname(file)).some(f => f.startsWith(tmpPrefix))
            : (await db.query("SELECT 1 FROM sync_runs WHERE pid = $1 AND status = 'succeeded' AND scope = jsonb_build_object('user_id', $2::text)", [child.child.pid, user])).rowCount === 1
          if (hit) { child.child.kill('SIGKILL'); return }
          await new Promise(resolve => setTimeout(resolve, 2))
        }
      })()
      const exit = await child.exited
      exited = true
      await watcher
      clearTimeout(timer)
      // This CLI run's row, if it got that far (a kill at startup leaves none).
      const run = (await runsOf(db, user)).filter(r => r.pid === child.child.pid).at(-1)
      const committed = run?.status === 'succeeded'
      const exists = fs.existsSync(file)
      outcomes.push(`${mode}:${exit.signal ?? exit.code}${mode === 'timed' ? `@${delay}ms` : ''}:${committed ? 'committed' : 'not'}${exists ? '+file' : ''}`)
      if (exists) {
        assert.ok(committed && run !== undefined, `kill ${i} (${outcomes.at(-1)}): the changes file exists but the run did not commit`)
        const r = run.report.rows
        assert.equal(readNdjson(file).length, r.inserted + r.updated + r.deleted, `kill ${i}: the changes file is incomplete`)
      }
      if (!kill) assert.ok(exists && committed, `the run that was not killed (exit ${exit.code}, ${exit.stderr}) left its changes file`)
      // A killed process cannot remove its temporary file (.FILE.<run id>.tmp, hidden); FILE itself
      // never appears for a run that did not commit (checked above).
    }
    console.log(`# ops.changes-kill seed=${seed} full=${fullMs}ms ${outcomes.join(' ')}`)
  } finally {
    await engine.close()
    await db.end()
  }
})
