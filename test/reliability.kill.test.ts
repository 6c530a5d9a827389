/**
 * Atomicity under SIGKILL: the CLI syncs a user who already holds an older
 * inventory and is killed at randomized points of every phase (startup, scope
 * lock taken, mid-COPY, each merge statement, just before COMMIT, at a random
 * time), plus the first sync of an empty scope (the direct path: COPY into the
 * target inside the transaction). After each kill the user's rows are exactly
 * the old inventory or exactly the new one — the new one only if the killed
 * run is recorded as succeeded (data and run row commit together). A rerun
 * succeeds, converges, marks the killed run failed with BRX_ERR_ABANDONED and
 * drops its staging table. Every other kill runs the engine diff (--diff engine).
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import pino from 'pino'
import { createEngine } from '../src'
import { Prng, removeTmp, seedFromEnv } from './helpers'
import {
  MERGE_PHASES, PG_URL, adminPool, blockStatement, closeEngine, appName, backends, ms, phaseOf, runsOf, spawnCli, stateHash, tableExists, taggedUrl, waitFor, writeProducts,
  type Backend, type Child, type RunRow, type StateHash, newUser, forgetUsers } from './fault-helpers'

const seed = seedFromEnv()
const N = Number(process.env.BRX_KILL_PRODUCTS ?? 40_000)

type Kind = 'startup' | 'locked' | 'copy' | 'analyze' | 'update' | 'insert' | 'delete' | 'commit' | 'timed' | 'direct-copy' | 'direct-commit'
/** Kinds whose kill provably lands before COMMIT: the old inventory must survive. */
const BEFORE_COMMIT = new Set<Kind>(['startup', 'locked', 'copy', 'commit', 'direct-copy', 'direct-commit'])

after(async () => {
  const admin = adminPool(1)
  await forgetUsers(admin).catch(err => console.log(`# cleanup: ${String(err)}`))
  await admin.end()
  removeTmp()
})

test(`SIGKILL of the CLI at >= 20 randomized points never leaves a mix (seed ${seed})`, { timeout: 180_000 }, async () => {
  console.log(`# reliability.kill seed=${seed} products=${N} (rerun with BRX_SEED=${seed})`)
  const rng = new Prng(seed)
  const t0 = performance.now()
  const s = rng.int(1, 1_000_000)
  const A = writeProducts({ products: N, seed: s }, 'old')
  const B = writeProducts({ products: N, seed: s, change: 0.3, add: 0.02, remove: 0.02 }, 'new')
  const poll = new pg.Client({ connectionString: PG_URL, application_name: 'brx-reliability-kill' })
  await poll.connect()
  const holder = new pg.Client({ connectionString: PG_URL, application_name: 'brx-reliability-kill-lock' })
  await holder.connect()
  const engine = createEngine({ databaseUrl: taggedUrl('kill-rerun'), mapping: { source: 'none' }, logger: pino({ level: 'silent' }) })
  try {
    const user = newUser()
    await engine.sync({ input: A.path, userId: user })
    const hashA = await stateHash(poll, user)
    // The new inventory's hash and the length of a whole CLI run, from one uninterrupted CLI run.
    const ref = newUser()
    const tRef = performance.now()
    const refRun = spawnCli(['sync', '--input', B.path, '--user', ref, '--no-mapping', '--database-url', taggedUrl('kill-ref'), '--log-level', 'warn'])
    const refExit = await refRun.exited
    assert.equal(refExit.code, 0, refExit.stderr)
    const fullMs = ms(tRef)
    const hashB = await stateHash(poll, ref)
    await poll.query('DELETE FROM user_inventory_items WHERE user_id = $1', [ref])
    assert.notEqual(hashA.hash, hashB.hash)
    assert.ok(hashA.n > 0 && hashB.n > 0)

    const plan: Kind[] = rng.shuffle([
      'startup', 'startup', 'locked', 'locked', 'copy', 'copy', 'copy', 'copy', 'analyze', 'update', 'update', 'insert', 'insert',
      'delete', 'delete', 'commit', 'commit', 'timed', 'timed', 'direct-copy', 'direct-copy', 'direct-commit',
    ])
    let current = A
    let currentHash = hashA
    const survived: string[] = []
    for (const [i, kind] of plan.entries()) {
      const direct = kind.startsWith('direct')
      const subject = direct ? newUser() : user
      const target = direct ? B : current === A ? B : A
      const oldHash: StateHash = direct ? { n: 0, hash: (await stateHash(poll, subject)).hash } : currentHash
      const newHash = target === A ? hashA : hashB
      const tag = `kill-${seed}-${i}`
      const app = appName(tag)
      const tIter = performance.now()
      // Every other kill runs the engine diff: its scope read (a COPY), classify, gone-key COPY and delete are kill points too.
      const diff = i % 2 === 0 ? 'engine' : 'database'
      // A merge statement can end between two polls, and so can every one after it: for a statement's
      // kill point, lock a row it must touch, so that it waits visibly until the kill (then provably
      // before COMMIT).
      const hold = kind === 'update' || kind === 'insert' || kind === 'delete' ? kind : undefined
      if (hold !== undefined) await blockStatement(holder, subject, hold, current.records, target.records)
      const child = spawnCli(['sync', '--input', target.path, '--user', subject, '--no-mapping', '--database-url', taggedUrl(tag), '--log-level', 'warn', '--diff', diff])
      const ctx = `kill #${i} (${kind}, diff ${diff}, seed ${seed})`
      missedCommitWindow = false
      let seen: string
      try {
        seen = await killAt(kind, child, app, subject, poll, rng, fullMs)
      } finally {
        // The killed backend waits on the lock until it is released; only then does it notice its client is gone.
        if (hold !== undefined) await holder.query('ROLLBACK')
      }
      // A COPY-kind kill is provably early only if the child was still copying or merging when killed.
      const sure = (BEFORE_COMMIT.has(kind) || hold !== undefined) && !missedCommitWindow && (!kind.endsWith('copy') || /copy|analyze|classify|update|insert|delete/.test(seen))
      const tKill = performance.now()
      const exit = await child.exited
      const completed = kind === 'timed' && exit.code === 0
      assert.ok(exit.signal === 'SIGKILL' || completed, `${ctx}: the child must have been killed, it exited with ${exit.code}: ${exit.stderr}`)
      // The server notices a dead client only when it next talks to it: wait for its backends to end.
      await waitFor(`${ctx}: the killed child's backends to end`, async () => (await backends(poll, app)).length === 0 ? true : undefined, 20_000, 10)

      const tGone = performance.now()
      const h = await stateHash(poll, subject)
      const killed = (await runsOf(poll, subject)).filter(r => r.pid === child.child.pid).at(-1)
      assert.ok(h.hash === oldHash.hash || h.hash === newHash.hash,
        `${ctx}: after the kill (seen: ${seen}) the user's ${h.n} rows are neither the old (${oldHash.n}) nor the new (${newHash.n}) inventory: a partial merge`)
      const committed = h.hash === newHash.hash
      assert.equal(committed, killed?.status === 'succeeded',
        `${ctx}: data and run row must commit together (data is ${committed ? 'new' : 'old'}, run is ${killed?.status ?? 'absent'})`)
      if (completed) assert.equal(committed, true, `${ctx}: a child that exited 0 committed`)
      if (sure) assert.equal(committed, false, `${ctx}: killed before COMMIT (seen: ${seen}), the old inventory must remain`)
      survived.push(`${kind}@${seen}${committed ? '(committed)' : ''}`)

      const tRerun = performance.now()
      const rerun = await engine.sync({ input: target.path, userId: subject, lockTimeoutMs: 30_000 })
      assert.equal(rerun.status, 'succeeded')
      assert.deepEqual(await stateHash(poll, subject), newHash, `${ctx}: the rerun converges to the export`)
      const runs = await runsOf(poll, subject)
      assert.deepEqual(runs.filter(r => r.status === 'running').map(r => r.id), [], `${ctx}: no run stays 'running' after the rerun`)
      if (killed !== undefined) {
        const k = runs.find(r => r.id === killed.id) as RunRow
        if (killed.status === 'running') {
          assert.equal(k.status, 'failed', `${ctx}: the killed run is marked failed`)
          assert.equal(k.error_code, 'BRX_ERR_ABANDONED', `${ctx}: with error_code BRX_ERR_ABANDONED`)
        }
        if (k.staging_table !== null) assert.equal(await tableExists(poll, k.staging_table), false, `${ctx}: staging ${k.staging_table} is dropped`)
      }
      if (process.env.BRX_KILL_VERBOSE === '1') console.log(`# ${ctx}: kill after ${Math.round(tKill - tIter)} ms, backends gone ${Math.round(tGone - tKill)} ms, checks ${Math.round(tRerun - tGone)} ms, rerun+checks ${ms(tRerun)} ms`)
      if (direct) {
        await poll.query('DELETE FROM user_inventory_items WHERE user_id = $1', [subject])
      } else {
        current = target
        currentHash = newHash
      }
    }
    console.log(`# ${survived.length} kill points survived in ${ms(t0)} ms (full CLI run ${fullMs} ms): ${survived.join(', ')}`)
    assert.ok(survived.length >= 20)
    await poll.query('DELETE FROM user_inventory_items WHERE user_id = $1', [user])
  } finally {
    await closeEngine(engine)
    await poll.end()
    await holder.end()
  }
})

/** Set when a commit-kind kill could not hold the run row in time (the kill is then not provably before COMMIT). */
let missedCommitWindow = false

/** Waits for the kill point of `kind`, SIGKILLs the child and returns what was observed at that moment. */
async function killAt (kind: Kind, c: Child, app: string, user: string, db: pg.Client, rng: Prng, fullMs: number): Promise<string> {
  const active = async (): Promise<Backend[]> => (await backends(db, app)).filter(b => b.state === 'active')
  const observe = async (): Promise<string> => {
    const bs = await backends(db, app)
    const phases = bs.filter(b => b.state === 'active').map(b => phaseOf(b.query))
    return phases.length > 0 ? phases.join('+') : bs.length > 0 ? 'idle' : 'no-connection'
  }
  const runRow = async (): Promise<RunRow | undefined> => (await runsOf(db, user)).find(r => r.pid === c.child.pid)
  const kill = async (): Promise<string> => {
    const seen = await observe()
    c.child.kill('SIGKILL')
    return seen
  }
  const started = performance.now()
  // A child that ends before its kill point (it should not) fails the wait instead of hanging it.
  let exited = false
  void c.exited.then(() => { exited = true })
  const until = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> =>
    await waitFor(what, async () => { if (exited) throw new Error(`the child exited before ${what}`); return await probe() }, 30_000, 2)

  switch (kind) {
    case 'startup':
      await sleep(rng.int(0, Math.min(400, fullMs / 4)))
      return await kill()
    case 'timed':
      // Up to a little past a whole run: sometimes after COMMIT, or after the child is gone.
      await sleep(rng.int(0, Math.round(fullMs * 1.15)))
      return exited ? 'completed' : await kill()
    case 'locked':
      await until('the run row', runRow)
      await sleep(rng.int(0, 20))
      return await kill()
    case 'copy':
    case 'direct-copy': {
      await until('a COPY', async () => (await active()).find(b => phaseOf(b.query) === 'copy'))
      const load = Math.max(50, fullMs * 0.3)
      const deadline = performance.now() + rng.int(0, load)
      // Stay inside the COPY: stop waiting as soon as it is over.
      while (performance.now() < deadline && (await active()).some(b => phaseOf(b.query) === 'copy')) await sleep(5)
      return await kill()
    }
    case 'analyze':
    case 'update':
    case 'insert':
    case 'delete': {
      await until(`the merge's ${kind}`, async () => {
        const ph = (await active()).map(b => phaseOf(b.query))
        if (ph.includes(kind)) return true
        // A statement too quick to see: the next merge statement (or the commit) will do.
        const order = ['analyze', 'classify', 'update', 'insert', 'delete', 'succeed']
        if (ph.some(p => order.indexOf(p) > order.indexOf(kind))) return true
        return undefined
      })
      if (rng.chance(0.5)) await sleep(rng.int(0, 3))
      return await kill()
    }
    case 'commit':
    case 'direct-commit': {
      // Hold the run's sync_runs row: the sync's last statement before COMMIT (marking the run
      // succeeded) waits on it, then kill the child while it waits.
      const run = await until('the run row', runRow)
      if (kind === 'commit') await until('the merge', async () => (await active()).some(b => MERGE_PHASES.has(phaseOf(b.query))) ? true : undefined)
      else await until('the direct COPY', async () => (await active()).some(b => phaseOf(b.query) === 'copy') ? true : undefined)
      const holder = new pg.Client({ connectionString: PG_URL, application_name: 'brx-reliability-kill-holder' })
      await holder.connect()
      try {
        await holder.query('BEGIN')
        try {
          // NOWAIT: if the sync already updated its row, the window is missed (the kill is then "late").
          await holder.query('SELECT 1 FROM sync_runs WHERE id = $1 AND status = \'running\' FOR UPDATE NOWAIT', [run.id])
        } catch {
          missedCommitWindow = true
          return await kill()
        }
        await until('the succeeded update to wait', async () => (await active()).some(b => phaseOf(b.query) === 'succeed' && b.wait_event_type === 'Lock') ? true : undefined)
        return await kill()
      } finally {
        await sleep(20)
        await holder.query('ROLLBACK').catch(() => {})
        await holder.end()
      }
    }
  }
  throw new Error(`unknown kill kind ${String(kind)} after ${Math.round(performance.now() - started)} ms`)
}
