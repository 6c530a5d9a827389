/**
 * The one-shot fixed costs of `brx-sync sync` (issue 10): the initial sync of
 * one export, run as a CLI process N times, each timed from spawn to the
 * first byte read from the input, and from the merge's COMMIT to the
 * process's end; with wall time and user+sys CPU of the whole process (all
 * its threads: up to the first read, and up to its 'exit' event). CPU is
 * the steadier figure on a shared machine: contention stretches wall time.
 * The scope is emptied before each run, so each is a first sync.
 *
 *   node dist/bench/one-shot.js --input FILE [--runs 3] [--dist DIR] [--database-url URL]
 *
 * `--dist` points at another build (e.g. one of main, for a before/after
 * race: alternate the two, the machine is shared and noisy).
 */
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { parseArgs } from 'node:util'

interface Run { startToRead: number, cpuToRead: number, commitToExit: number, wall: number, cpu: number }

const { values: a } = parseArgs({ options: { input: { type: 'string' }, runs: { type: 'string', default: '3' }, dist: { type: 'string' }, 'database-url': { type: 'string' } } })
if (a.input === undefined) throw new Error('--input FILE is required')
const input = path.resolve(a.input)
const dist = path.resolve(a.dist ?? path.join(__dirname, '..'))
const db = a['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const probe = path.join(__dirname, 'one-shot-probe.js')
const now = (): number => performance.timeOrigin + performance.now()

function once (): Run {
  const user = randomUUID()
  const t0 = now()
  const r = spawnSync(process.execPath, ['-r', probe, path.join(dist, 'src/cli/main.js'), 'sync', '--input', input, '--user', user, '--no-mapping', '--database-url', db, '--log-level', 'warn'],
    { env: { ...process.env, BRX_PROBE_INPUT: input }, encoding: 'utf8', maxBuffer: 64 << 20 })
  const t1 = now()
  const p: Record<string, [number, number]> = {}
  for (const line of r.stderr.split('\n')) {
    const m = /^PROBE (\w+) ([\d.]+) ([\d.]+)$/.exec(line)
    if (m !== null) p[m[1]] = [Number(m[2]), Number(m[3])]
  }
  if (r.status !== 0 || p.firstread === undefined || p.commit === undefined || p.exit === undefined) throw new Error(`sync failed (${String(r.status)}): ${r.stderr}`)
  // Leave the database as it was: the next run is a first sync too.
  spawnSync('psql', [db, '-qc', `delete from user_inventory_items where user_id = '${user}'; delete from sync_runs where scope->>'user_id' = '${user}'`], { stdio: 'ignore' })
  return { startToRead: p.firstread[0] - t0, cpuToRead: p.firstread[1], commitToExit: t1 - p.commit[0], wall: (t1 - t0) / 1000, cpu: p.exit[1] / 1000 }
}

const median = (xs: number[]): number => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] }
const runs: Run[] = []
for (let i = 0; i < Number(a.runs); i++) {
  const r = once()
  runs.push(r)
  process.stdout.write(`run ${i + 1}: start->first read ${r.startToRead.toFixed(0)} ms (CPU ${r.cpuToRead.toFixed(0)} ms), commit->exit ${r.commitToExit.toFixed(0)} ms, wall ${r.wall.toFixed(2)} s, user+sys ${r.cpu.toFixed(2)} s\n`)
}
const m = (k: keyof Run): number => median(runs.map(r => r[k]))
process.stdout.write(`median of ${runs.length}: start->first read ${m('startToRead').toFixed(0)} ms (CPU ${m('cpuToRead').toFixed(0)} ms), commit->exit ${m('commitToExit').toFixed(0)} ms, wall ${m('wall').toFixed(2)} s, user+sys ${m('cpu').toFixed(2)} s\n`)
