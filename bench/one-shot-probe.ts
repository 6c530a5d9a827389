/**
 * Preloaded (`node -r dist/bench/one-shot-probe.js`) by bench/one-shot.ts
 * into a CLI sync: writes `PROBE <event> <epoch ms> <process CPU ms>` lines
 * on stderr at the first read of the input file (BRX_PROBE_INPUT), when the
 * merge's COMMIT resolves, and at the process's 'exit' event. Timing only:
 * it wraps fs.open/fs.read and pg's Client.query, nothing else.
 */
import fs from 'node:fs'
import Module from 'node:module'

const now = (): number => performance.timeOrigin + performance.now()
const stamp = (event: string): void => {
  const c = process.cpuUsage()
  fs.writeSync(2, `PROBE ${event} ${now().toFixed(2)} ${((c.user + c.system) / 1000).toFixed(1)}\n`)
}

const input = process.env.BRX_PROBE_INPUT
const fds = new Set<number>()
type Cb = (...a: unknown[]) => void
const open = fs.open as unknown as (...a: unknown[]) => void
;(fs as unknown as { open: unknown }).open = function (this: unknown, p: unknown, ...rest: unknown[]) {
  const cb = rest[rest.length - 1] as Cb
  if (String(p) === input) rest[rest.length - 1] = (err: unknown, fd: number) => { if (err == null) fds.add(fd); cb(err, fd) }
  return open.call(this, p, ...rest)
}
let firstRead = true
const read = fs.read as unknown as (...a: unknown[]) => void
;(fs as unknown as { read: unknown }).read = function (this: unknown, fd: number, ...rest: unknown[]) {
  if (firstRead && fds.has(fd)) {
    firstRead = false
    const cb = rest[rest.length - 1] as Cb
    rest[rest.length - 1] = (...r: unknown[]) => { stamp('firstread'); cb(...r) }
  }
  return read.call(this, fd, ...rest)
}

const load = (Module as unknown as { prototype: { require: (id: string) => unknown } }).prototype.require
let patched = false
;(Module as unknown as { prototype: { require: unknown } }).prototype.require = function (this: unknown, id: string) {
  const m = load.call(this, id) as { Client?: { prototype: { query: (...a: unknown[]) => unknown } } }
  if (!patched && id === 'pg' && m.Client !== undefined) {
    patched = true
    const query = m.Client.prototype.query
    m.Client.prototype.query = function (this: unknown, text: unknown, ...rest: unknown[]) {
      const r = query.call(this, text, ...rest) as Promise<unknown> | undefined
      if (text === 'COMMIT' && typeof r?.then === 'function') r.then(() => stamp('commit'), () => {})
      return r
    }
  }
  return m
}
process.on('exit', () => stamp('exit'))
