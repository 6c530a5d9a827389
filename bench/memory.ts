/**
 * Memory stays flat however large the input: a 1M (opt-in 5M) product
 * export synced by the CLI in a child process, whose peak RSS is read by
 * the kernel's own accounting (/usr/bin/time %M, else VmHWM polled from
 * /proc) — the bench process's own heap cannot blur it.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { CACHE_DIR, baseOptions, ensureExport } from './data'
import { DB_URL, USERS, TABLE, fmtInt, fmtSec, newPool, sizeLabel, table } from './lib'

export interface MemoryResult { products: number, exportMb: number, seconds: number | null, rowsPerSec: number | null, peakRssMb: number | null, via: string, error?: string }

const hwmKb = (pid: number): number | null => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1])
  } catch { return null }
}

/** Runs the CLI sync; peak RSS from /usr/bin/time when present, else VmHWM read every 20 ms until exit. */
async function cliSync (file: string, user: string): Promise<{ report: { rows: { read: number } }, peakKb: number | null, via: string, ms: number }> {
  const cli = path.resolve(__dirname, '../src/cli/main.js')
  const args = ['sync', '--input', file, '--user', user, '--no-mapping', '--json', '--log-level', 'warn', '--database-url', DB_URL]
  const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null
  const [cmd, argv] = timeBin !== null ? [timeBin, ['-f', 'BRX_MAXRSS_KB=%M', process.execPath, cli, ...args]] : [process.execPath, [cli, ...args]]
  return await new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''; let err = ''
    let polled: number | null = null
    // With /usr/bin/time the child is `time`; its own child is node, so only the fallback polls.
    const timer = timeBin === null ? setInterval(() => { polled = Math.max(polled ?? 0, hwmKb(child.pid as number) ?? 0) }, 20) : null
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('error', reject)
    child.on('close', code => {
      if (timer !== null) clearInterval(timer)
      const ms = performance.now() - t0
      if (code !== 0) { reject(new Error(`brx-sync sync exited with ${String(code)}: ${err.trim().split('\n').slice(-3).join(' | ')}`)); return }
      const m = /BRX_MAXRSS_KB=(\d+)/.exec(err)
      resolve({ report: JSON.parse(out), peakKb: m !== null ? Number(m[1]) : polled, via: m !== null ? '/usr/bin/time %M' : 'VmHWM (polled)', ms })
    })
  })
}

export async function runMemory (sizes: number[], o: { markdown: boolean, out: (s: string) => void, log: (s: string) => void }): Promise<MemoryResult[]> {
  const pool = newPool(1)
  const results: MemoryResult[] = []
  try {
    for (const products of sizes) {
      const file = path.join(CACHE_DIR, `base-${sizeLabel(products)}.json`)
      await ensureExport(file, baseOptions(products), o.log)
      const exportMb = fs.statSync(file).size / 2 ** 20
      await pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [USERS.memory])
      await pool.query(`VACUUM ANALYZE ${TABLE}`)
      o.log(`memory: CLI sync of ${fmtInt(products)} products (${exportMb.toFixed(0)} MB) ...`)
      try {
        const r = await cliSync(file, USERS.memory)
        results.push({ products, exportMb, seconds: r.ms / 1000, rowsPerSec: r.report.rows.read / (r.ms / 1000), peakRssMb: r.peakKb === null ? null : r.peakKb / 1024, via: r.via })
      } catch (err) {
        results.push({ products, exportMb, seconds: null, rowsPerSec: null, peakRssMb: null, via: '-', error: (err as Error).message })
      } finally {
        await pool.query(`DELETE FROM ${TABLE} WHERE user_id = $1`, [USERS.memory])
      }
    }
  } finally {
    await pool.query("DELETE FROM sync_runs WHERE scope->>'user_id' = $1", [USERS.memory]).catch(() => {})
    await pool.end()
  }
  o.out(o.markdown ? '\n### Memory (CLI in a child process, initial sync)\n' : '\nmemory (CLI in a child process, initial sync; wall time includes process start)\n')
  o.out(table(['products', 'export MB', 'seconds', 'rows/s', 'peak RSS MB', 'measured by'],
    results.map(r => [fmtInt(r.products), r.exportMb.toFixed(0), r.seconds === null ? `error: ${r.error ?? ''}` : fmtSec(r.seconds * 1000),
      r.rowsPerSec === null ? '-' : fmtInt(r.rowsPerSec), r.peakRssMb === null ? '-' : fmtInt(r.peakRssMb), r.via]), o.markdown, [0, 5]))
  return results
}
