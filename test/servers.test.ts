/**
 * The throwaway-server harness itself (test/servers.ts), on a redis-server
 * (the cheapest to start): restart, kill and freeze do what the fault tests
 * rely on, the shared ports are never used, and a process that dies without
 * cleaning up leaves no server and no directory behind. The PostgreSQL and
 * MariaDB parts are exercised by reliability.server-faults.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { freePort, startRedis } from './servers'

/** PING over RESP; resolves 'PONG', or 'no answer' after `ms` (a frozen server), or the socket error's code. */
async function ping (port: number, ms = 1_000): Promise<string> {
  return await new Promise(resolve => {
    const s = net.connect(port, '127.0.0.1')
    const timer = setTimeout(() => { s.destroy(); resolve('no answer') }, ms)
    s.on('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(err.code ?? err.message) })
    s.on('data', d => { clearTimeout(timer); s.destroy(); resolve(String(d).trim().replace(/^\+/, '')) })
    s.write('PING\r\n')
  })
}

function alive (pid: number | undefined): boolean {
  if (pid === undefined) return false
  // A zombie (exited, parent gone, not yet reaped by an init that may never reap it) is dead.
  try { return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

test('freePort never hands out a shared server port', async () => {
  for (let i = 0; i < 20; i++) assert.ok(![5432, 3306, 6379].includes(await freePort()))
})

test('a throwaway redis-server restarts, dies, freezes and thaws on its own port, and close() removes it', { timeout: 30_000 }, async () => {
  const r = await startRedis()
  try {
    console.log(`# throwaway redis on ${r.port} started in ${r.startMs} ms`)
    assert.notEqual(r.port, 6379)
    assert.equal(await ping(r.port), 'PONG')
    const before = r.pid()
    await r.restart()
    assert.notEqual(r.pid(), before, 'a restart is a new process')
    assert.equal(await ping(r.port), 'PONG')
    r.freeze()
    // Stopped, the kernel still accepts the connection; nothing answers.
    assert.equal(await ping(r.port, 300), 'no answer')
    r.thaw()
    assert.equal(await ping(r.port), 'PONG')
    const pid = r.pid()
    await r.kill()
    assert.equal(alive(pid), false)
    assert.equal(await ping(r.port), 'ECONNREFUSED')
    await r.start()
    assert.equal(await ping(r.port), 'PONG')
  } finally {
    const pid = r.pid()
    await r.close()
    assert.equal(alive(pid), false)
    assert.equal(fs.existsSync(r.dir), false)
  }
})

test('a process that exits without close() leaves no server and no directory behind', { timeout: 30_000 }, () => {
  const servers = path.join(__dirname, 'servers.js')
  const script = `require(${JSON.stringify(servers)}).startRedis().then(r => { console.log(JSON.stringify({ pid: r.pid(), dir: r.dir })); process.exit(3) })`
  // Without node:test's context variable: the child would otherwise act as a test file of ours.
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000, env })
  assert.equal(child.status, 3, child.stderr)
  const { pid, dir } = JSON.parse(child.stdout.trim()) as { pid: number, dir: string }
  assert.equal(alive(pid), false, 'the exit hook kills the server')
  assert.equal(fs.existsSync(dir), false, 'and removes its directory')
})
