/**
 * Throwaway database servers for fault tests: a PostgreSQL 15 cluster, a
 * mariadbd and a redis-server, each in a temp directory on a free port of
 * its own, that a test may restart, kill, freeze (SIGSTOP) and thaw
 * (SIGCONT). The shared servers on 5432/3306/6379 are never touched: every
 * command names the throwaway's own data directory, port or pid.
 *
 * Cleanup happens in the test's after() hook (`close()`), and, should the
 * process die first, in a process 'exit' handler that SIGKILLs whatever is
 * still running and removes the directories (synchronously: 'exit' allows
 * nothing else).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const PG_BIN = process.env.BRX_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const SHARED_PORTS = new Set([5432, 3306, 6379])

/** What every throwaway server offers. `startMs` is how long its first start took (init included). */
export interface Server {
  readonly kind: 'postgres' | 'mariadb' | 'redis'
  readonly port: number
  readonly url: string
  readonly dir: string
  readonly startMs: number
  /** The server's main process id (postmaster, mariadbd, redis-server); undefined while stopped. */
  pid: () => number | undefined
  start: () => Promise<void>
  /** Graceful stop (PostgreSQL: fast shutdown, sessions get 57P01). */
  stop: () => Promise<void>
  restart: () => Promise<void>
  /** SIGKILL of the server and (PostgreSQL) its backends: a crash. */
  kill: () => Promise<void>
  /** SIGSTOP of the server and its children: a frozen server that accepts TCP but never answers. */
  freeze: () => void
  /** SIGCONT after freeze(). */
  thaw: () => void
  /** Stops for good and removes the directory; idempotent. */
  close: () => Promise<void>
}

const live = new Set<{ kill: () => void, dir: string }>()
let exitHook = false

function onExit (entry: { kill: () => void, dir: string }): () => void {
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => {
      for (const e of live) {
        try { e.kill() } catch { /* already gone */ }
        fs.rmSync(e.dir, { recursive: true, force: true })
      }
    })
  }
  live.add(entry)
  return () => live.delete(entry)
}

/** A TCP port nobody listens on right now, never one of the shared servers'. */
export async function freePort (): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer()
      s.on('error', reject)
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port
        s.close(() => resolve(p))
      })
    })
    if (!SHARED_PORTS.has(port)) return port
  }
}

/** Idempotent close of a throwaway server: kill it, drop its exit hook, remove its directory. */
function closer (kill: () => Promise<void>, forget: () => void, dir: string): () => Promise<void> {
  let closed = false
  return async () => {
    if (closed) return
    closed = true
    await kill().catch(() => {})
    forget()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function waitPort (port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect(port, '127.0.0.1')
      s.on('connect', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`)
    await sleep(50)
  }
}

function signalTree (pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return
  // Children first for SIGSTOP (nothing reacts to the parent stopping), parent first for SIGCONT.
  const kids = childrenOf(pid)
  if (sig === 'SIGCONT') process.kill(pid, sig)
  for (const k of kids) { try { process.kill(k, sig) } catch { /* exited */ } }
  if (sig !== 'SIGCONT') { try { process.kill(pid, sig) } catch { /* exited */ } }
}

function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8')
      // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(d))
    } catch { /* exited meanwhile */ }
  }
  return out
}

function alive (pid: number | undefined): boolean {
  if (pid === undefined) return false
  // A zombie (exited, parent gone, not yet reaped by an init that may never reap it) is dead.
  try { return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

async function waitGone (pid: number | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (alive(pid) && Date.now() < deadline) await sleep(20)
}

const execFileP = promisify(execFile)

/** Runs a PostgreSQL binary, asynchronously: the event loop (and the engine under test) keeps running meanwhile. */
async function asPostgres (cmd: string, args: string[]): Promise<void> {
  // We run as root in CI; initdb and postgres refuse root, so run them as the postgres user.
  const argv = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args]
  await execFileP(argv[0], argv.slice(1), { encoding: 'utf8' })
}

/**
 * A PostgreSQL 15 cluster in a temp directory: trust auth, fsync off, its
 * socket in its own directory, database `brx` created. `url` points at it.
 */
export async function startPostgres (o: { database?: string } = {}): Promise<Server> {
  const t0 = performance.now()
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brx-pg-'))
  fs.chmodSync(dir, 0o755)
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:', dir])
  const data = path.join(dir, 'data')
  const log = path.join(dir, 'log')
  const database = o.database ?? 'brx'
  await asPostgres(path.join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C'])
  fs.appendFileSync(path.join(data, 'postgresql.conf'), [
    `port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`,
    'fsync = off', 'synchronous_commit = off', 'full_page_writes = off', 'shared_buffers = 32MB',
    'max_connections = 40', 'autovacuum = off', 'logging_collector = off', '',
  ].join('\n'))
  const pidOf = (): number | undefined => {
    try { return Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) } catch { return undefined }
  }
  const ctl = async (...args: string[]): Promise<void> => await asPostgres(path.join(PG_BIN, 'pg_ctl'), ['-D', data, '-l', log, ...args])
  const start = async (): Promise<void> => {
    await ctl('start', '-w', '-t', '30')
    await waitPort(port, 10_000, 'PostgreSQL')
  }
  const kill = async (): Promise<void> => {
    const pid = pidOf()
    if (!alive(pid)) return
    signalTree(pid, 'SIGCONT')
    for (const k of childrenOf(pid as number)) { try { process.kill(k, 'SIGKILL') } catch { /* gone */ } }
    process.kill(pid as number, 'SIGKILL')
    await waitGone(pid, 10_000)
    fs.rmSync(path.join(data, 'postmaster.pid'), { force: true })
  }
  const stop = async (): Promise<void> => {
    if (!alive(pidOf())) return
    signalTree(pidOf(), 'SIGCONT')
    await ctl('stop', '-m', 'fast', '-w', '-t', '30')
  }
  await start()
  await asPostgres(path.join(PG_BIN, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', database])
  const entry = { dir, kill: () => { const p = pidOf(); if (p !== undefined) { try { process.kill(p, 'SIGCONT'); process.kill(p, 'SIGKILL') } catch { /* gone */ } } } }
  const forget = onExit(entry)
  return {
    kind: 'postgres',
    port,
    dir,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    startMs: Math.round(performance.now() - t0),
    pid: () => alive(pidOf()) ? pidOf() : undefined,
    start,
    stop,
    restart: async () => { signalTree(pidOf(), 'SIGCONT'); await ctl('restart', '-m', 'fast', '-w', '-t', '30'); await waitPort(port, 10_000, 'PostgreSQL') },
    kill,
    freeze: () => signalTree(pidOf(), 'SIGSTOP'),
    thaw: () => signalTree(pidOf(), 'SIGCONT'),
    close: closer(kill, forget, dir),
  }
}

/** A server run as a child process of ours (mariadbd, redis-server), restartable with the same arguments. */
async function childServer (kind: 'mariadb' | 'redis', dir: string, port: number, url: string, t0: number, argv: () => [string, string[]]): Promise<Server> {
  let child: ChildProcess | undefined
  let frozen = false
  const start = async (): Promise<void> => {
    const [cmd, args] = argv()
    const out = fs.openSync(path.join(dir, `${kind}.log`), 'a')
    child = spawn(cmd, args, { stdio: ['ignore', out, out] })
    fs.closeSync(out)
    child.on('error', () => {}) // a failed spawn shows as the port never opening
    await waitPort(port, 30_000, kind)
  }
  const waitExit = async (c: ChildProcess | undefined, sig: NodeJS.Signals): Promise<void> => {
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise(resolve => c.once('exit', resolve))
    if (frozen) { c.kill('SIGCONT'); frozen = false }
    c.kill(sig)
    await Promise.race([gone, sleep(20_000, undefined, { ref: false })])
  }
  const stop = async (): Promise<void> => { await waitExit(child, 'SIGTERM'); child = undefined }
  const kill = async (): Promise<void> => { await waitExit(child, 'SIGKILL'); child = undefined }
  await start()
  const forget = onExit({ dir, kill: () => { child?.kill('SIGCONT'); child?.kill('SIGKILL') } })
  return {
    kind,
    port,
    dir,
    url,
    startMs: Math.round(performance.now() - t0),
    pid: () => child?.pid,
    start,
    stop,
    restart: async () => { await stop(); await start() },
    kill,
    freeze: () => { child?.kill('SIGSTOP'); frozen = true },
    thaw: () => { child?.kill('SIGCONT'); frozen = false },
    close: closer(kill, forget, dir),
  }
}

/**
 * A mariadbd with its own datadir, socket and port, run as root with
 * --skip-grant-tables (any user, no password). `url` names database `brx`.
 */
export async function startMariaDb (): Promise<Server> {
  const t0 = performance.now()
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brx-maria-'))
  const data = path.join(dir, 'data')
  await execFileP('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'])
  fs.mkdirSync(path.join(data, 'brx'))
  return await childServer('mariadb', dir, port, `mysql://root@127.0.0.1:${port}/brx`, t0, () => ['/usr/sbin/mariadbd', [
    '--no-defaults', `--datadir=${data}`, `--port=${port}`, `--socket=${path.join(dir, 'sock')}`, `--pid-file=${path.join(dir, 'pid')}`,
    '--bind-address=127.0.0.1', '--user=root', '--skip-grant-tables', '--skip-name-resolve', '--skip-log-bin',
    '--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M', '--innodb-flush-log-at-trx-commit=0', '--skip-innodb-doublewrite',
    '--performance-schema=OFF', '--max-connections=50',
  ]])
}

/** A redis-server on its own port, no persistence. `url` is redis://127.0.0.1:<port>. */
export async function startRedis (): Promise<Server> {
  const t0 = performance.now()
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brx-redis-'))
  return await childServer('redis', dir, port, `redis://127.0.0.1:${port}`, t0, () => ['redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no',
  ]])
}
