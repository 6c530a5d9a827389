/**
 * What a person sees: `brx-sync sync` in a real pseudo-terminal (util-linux
 * `script`) shows a progress bar whose percent climbs to 100 and readable log
 * lines; piped, stderr is JSON lines without a single escape code; --json and
 * --no-progress turn the bar off; --log-format json wins on a terminal too.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { migrate } from '../src'
import { DATABASE_URL, randomUser, removeTmp } from './helpers'
import { CLI, spawnCli, writeProducts } from './fault-helpers'

let input: string
const ESC = '\u001b'
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g

before(async () => {
  await migrate({ databaseUrl: DATABASE_URL })
  // Big enough for several progress updates (every 250 ms) on a fast machine too.
  input = writeProducts({ products: 60_000, seed: 7 }, 'tty').path
})

after(() => removeTmp())

/** Runs the CLI under `script`, which gives it a pseudo-terminal for stdin, stdout and stderr. */
async function inPty (args: string[]): Promise<{ code: number | null, out: string }> {
  const cmd = [process.execPath, CLI, ...args].map(a => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...process.env, DATABASE_URL, COLUMNS: '160', LINES: '40' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { code, out }
}

const percents = (s: string): number[] => [...s.replace(ANSI, '').matchAll(/ (\d{1,3})% \|/g)].map(m => Number(m[1]))

test('script (util-linux) is installed: the pseudo-terminal tests need it', () => {
  assert.match(execFileSync('script', ['--version'], { encoding: 'utf8' }), /util-linux/)
})

test('on a terminal: a progress bar that reaches 100%, readable log lines, then the report', { timeout: 60_000 }, async () => {
  const r = await inPty(['sync', '--input', input, '--user', randomUser(), '--no-mapping', '--partition-bytes', '262144'])
  assert.equal(r.code, 0, r.out)
  assert.ok(r.out.includes(ESC), 'a terminal gets escape codes (bar redraws, colours)')
  const p = percents(r.out)
  assert.ok(p.length >= 2, `progress updates: ${JSON.stringify(p)}\n${r.out.replace(ANSI, '').slice(0, 2000)}`)
  assert.equal(p[p.length - 1], 100)
  assert.deepEqual(p, [...p].sort((a, b) => a - b), 'the percent never goes back')
  const plain = r.out.replace(ANSI, '')
  assert.match(plain, /done\s+\S+ 100% \| 60,000 rows \| /)
  assert.match(plain, /load\s+\S* ?\d+% \| [\d,]+ rows \| [\d.]+ MiB of [\d.]+ MiB \| [\d,]+ rows\/s/)
  assert.match(plain, /\[\d\d:\d\d:\d\d\.\d{3}\] INFO: sync started/)
  assert.match(plain, /INFO: load finished/)
  assert.match(plain, /inserted\s+60,000/)
  assert.doesNotMatch(plain, /"level":30/)
})

test('piped: JSON log lines, no escape codes, no bar', { timeout: 60_000 }, async () => {
  const r = await spawnCli(['sync', '--input', input, '--user', randomUser(), '--no-mapping'], { DATABASE_URL }).exited
  assert.equal(r.code, 0, r.stderr)
  assert.ok(!r.stderr.includes(ESC) && !r.stdout.includes(ESC), 'piped output has no escape codes')
  const lines = r.stderr.trimEnd().split('\n')
  assert.ok(lines.length >= 3)
  for (const l of lines) assert.equal(typeof (JSON.parse(l) as { msg: string }).msg, 'string', l)
  assert.match(r.stdout, /inserted\s+60,000/)
})

test('on a terminal, --json, --no-progress and --log-format json turn off what they name', { timeout: 60_000 }, async () => {
  const json = await inPty(['sync', '--input', input, '--user', randomUser(), '--no-mapping', '--json', '--log-level', 'warn'])
  assert.equal(json.code, 0, json.out)
  assert.deepEqual(percents(json.out), [], 'no bar with --json')
  assert.equal(JSON.parse(json.out.replace(ANSI, '').replace(/\r/g, '')).rows.inserted, 60_000)
  const quiet = await inPty(['sync', '--input', input, '--user', randomUser(), '--no-mapping', '--no-progress', '--log-format', 'json'])
  assert.equal(quiet.code, 0, quiet.out)
  assert.deepEqual(percents(quiet.out), [], 'no bar with --no-progress')
  assert.match(quiet.out, /^\{"level":30,.*"msg":"sync started"\}\r?$/m)
})
