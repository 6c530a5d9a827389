/**
 * A separate process for the multi-process rate-limit tests: syncs the given
 * users from CardTrader through one engine and prints one JSON line of
 * results on stdout. Logs (pino, warn) go to stderr.
 *   node dist/test/cardtrader-child.js '{"users":[…],"source":{…},"databaseUrl":…}'
 */
import pino from 'pino'
import { createEngine } from '../src'
import type { CardTraderOptions } from '../src/source/cardtrader'

interface Job { users: string[], source: CardTraderOptions, databaseUrl: string }

async function main (): Promise<void> {
  const job = JSON.parse(process.argv[2]) as Job
  const engine = createEngine({ databaseUrl: job.databaseUrl, mapping: { source: 'none' }, workers: 1, logger: pino({ level: 'warn' }, pino.destination(2)) })
  try {
    const results = await Promise.all(job.users.map(async userId => {
      try {
        const r = await engine.sync({ source: { cardtrader: job.source }, userId })
        return { userId, ok: true, read: r.rows.read, attempts: r.attempts }
      } catch (err) {
        return { userId, ok: false, code: (err as { code?: string }).code, message: (err as Error).message }
      }
    }))
    process.stdout.write(JSON.stringify(results) + '\n')
  } finally {
    await engine.close()
  }
}

main().catch(err => { process.stderr.write(String((err as Error).stack) + '\n'); process.exitCode = 1 })
