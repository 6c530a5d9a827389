/**
 * A live CardTrader sync against the fake server next to the same export
 * synced from a file, same process, alternating, fresh user each run:
 *   npm run -s build && BENCH_DATABASE_URL=… node dist/bench/cardtrader-live.js [--products 250000] [--rounds 2]
 * The fake serves the bytes of the file (plain and gzip, gzip compressed once before timing).
 */
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { sync } from '../src'
import { openCardTraderSource, resolveCardTrader } from '../src/source/cardtrader'
import { FakeCardTrader } from '../test/fake-cardtrader'
import { recreateDatabase } from '../test/setup-db'
import { CACHE_DIR, baseOptions, ensureExport } from './data'
import { DB_URL, fmtSec, sizeLabel, table } from './lib'

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { products: { type: 'string', default: '250000' }, rounds: { type: 'string', default: '2' } } })
  const products = Number(values.products)
  const rounds = Number(values.rounds)
  const file = path.join(CACHE_DIR, `base-${sizeLabel(products)}.json`)
  await ensureExport(file, baseOptions(products), s => process.stderr.write(s + '\n'))
  await recreateDatabase(DB_URL)
  const body = await fs.promises.readFile(file)
  const fake = await FakeCardTrader.start({ windowLimit: 1_000_000 })
  fake.addSeller('bench-plain', { body })
  fake.addSeller('bench-gzip', { body, gzip: true })
  const source = (token: string): { cardtrader: { token: string, baseUrl: string, rateLimit: { redisUrl: null } } } => ({ cardtrader: { token, baseUrl: fake.url, rateLimit: { redisUrl: null } } })
  const methods: Array<[string, (user: string) => Parameters<typeof sync>[0]]> = [
    ['file', user => ({ input: file, userId: user, databaseUrl: DB_URL, mapping: { source: 'none' } })],
    ['live (fake CardTrader)', user => ({ source: source('bench-plain'), userId: user, databaseUrl: DB_URL, mapping: { source: 'none' } })],
    ['live, gzip', user => ({ source: source('bench-gzip'), userId: user, databaseUrl: DB_URL, mapping: { source: 'none' } })],
  ]
  // Warm the fake's gzip cache outside the timers.
  await sync(methods[2][1]('beefbeef-0000-4000-8000-00000000ffff'))
  const times = new Map<string, number[]>()
  let n = 0
  for (let r = 0; r < rounds; r++) {
    for (const [name, opts] of methods) {
      const user = `beefbeef-0000-4000-8000-${String(++n).padStart(12, '0')}`
      const t0 = performance.now()
      const rep = await sync(opts(user))
      const ms = performance.now() - t0
      if (rep.rows.written !== products) throw new Error(`${name}: wrote ${rep.rows.written}`)
      times.set(name, [...(times.get(name) ?? []), ms])
    }
  }
  // The HTTP path alone: the body drained through the source (limiter, undici, guard, gunzip), no sync.
  for (const token of ['bench-plain', 'bench-gzip']) {
    const ms: number[] = []
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now()
      const src = await openCardTraderSource(resolveCardTrader(source(token).cardtrader), { logger: pino({ level: 'silent' }) })
      for await (const chunk of src.stream) void chunk
      ms.push(performance.now() - t0)
    }
    times.set(`transfer only${token === 'bench-gzip' ? ', gzip' : ''}`, ms)
    methods.push([`transfer only${token === 'bench-gzip' ? ', gzip' : ''}`, methods[0][1]])
  }
  await fake.close()
  const best = (name: string): number => Math.min(...(times.get(name) ?? [Infinity]))
  process.stdout.write(table(['method', 'rows', 'best s', 'all s', 'vs file'], methods.map(([name]) => [
    name, products.toLocaleString('en-US'), fmtSec(best(name)), (times.get(name) ?? []).map(fmtSec).join(' / '), `${(best(name) / best('file')).toFixed(2)}×`,
  ]), true) + '\n')
  process.stdout.write(`export ${(body.length / 1e6).toFixed(0)} MB; initial sync into an empty scope, one-shot sync() each run\n`)
}

main().catch(err => { process.stderr.write(String((err as Error).stack) + '\n'); process.exitCode = 1 })
