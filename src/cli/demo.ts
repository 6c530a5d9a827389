/**
 * `npm run demo`: the flagship job on sample data, start to finish.
 * Generates a 250,000-product export and its blueprint catalog, applies the
 * schema, syncs it for a demo user, then syncs a changed version (5% of
 * prices/quantities changed, 1% new, 1% removed) and prints both reports.
 * Mapping uses MariaDB/MySQL when MYSQL_URL is set, the catalog file otherwise.
 */
import fs from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import { createEngine, engineInternals, migrate } from '../engine'
import { SyncError } from '../errors'
import { writeCatalog, writeExport } from '../../tools/generate'
import { seedCatalog } from '../map'
import type { MappingOptions } from '../options'
import { demoPresets } from './demo-presets'
import { formatReport } from './format'

const DEMO_USER = 'de300000-0000-4000-8000-000000000001'
const PRODUCTS = Number(process.env.BRX_DEMO_PRODUCTS ?? 250_000)

async function main (): Promise<number> {
  const dir = path.resolve(process.env.BRX_DEMO_DIR ?? '.brx/demo')
  fs.mkdirSync(dir, { recursive: true })
  const base = path.join(dir, `export-${PRODUCTS}.json`)
  const changed = path.join(dir, `export-${PRODUCTS}-changed.json`)
  const catalog = path.join(dir, 'catalog.csv')
  const say = (s: string): void => { process.stdout.write(s + '\n') }

  say(`1. sample data in ${dir}`)
  const seed = 1
  if (!fs.existsSync(base)) await writeExport(base, { products: PRODUCTS, seed, dupRate: 0.001, badRate: 0.001 })
  if (!fs.existsSync(changed)) await writeExport(changed, { products: PRODUCTS, seed, dupRate: 0.001, badRate: 0.001, change: 0.05, add: 0.01, remove: 0.01 })
  if (!fs.existsSync(catalog)) await writeCatalog(catalog, { seed })

  say('2. schema')
  await migrate({})

  const mysqlUrl = process.env.MYSQL_URL
  let mapping: MappingOptions
  if (mysqlUrl !== undefined) {
    const seeded = await seedCatalog(mysqlUrl, catalog)
    say(`3. blueprint catalog: MySQL (MYSQL_URL), ${seeded.rows.toLocaleString('en-US')} rows seeded from ${catalog}`)
    mapping = { source: 'mysql', mysqlUrl }
  } else {
    say(`3. blueprint catalog: file ${catalog} (set MYSQL_URL to use MariaDB/MySQL instead)`)
    mapping = { source: 'file', catalogFile: catalog }
  }

  const engine = createEngine({ mapping, logger: pino({ level: process.env.BRX_LOG_LEVEL ?? 'warn' }, pino.destination(2)) })
  try {
    // Start from an empty inventory so the first report shows the first-sync path.
    await engineInternals(engine).pool.query('DELETE FROM user_inventory_items WHERE user_id = $1', [DEMO_USER])
    say(`\n4. first sync of ${path.basename(base)} for user ${DEMO_USER}`)
    const first = await engine.sync({ input: base, userId: DEMO_USER, rejectsFile: path.join(dir, 'rejects-1.ndjson') })
    say(formatReport(first))
    say(`5. re-sync with a changed export (${path.basename(changed)})`)
    const second = await engine.sync({ input: changed, userId: DEMO_USER, rejectsFile: path.join(dir, 'rejects-2.ndjson') })
    say(formatReport(second))
    await liveStep(engine, changed, say)
    await demoPresets(engine, dir, say)
    return 0
  } finally {
    await engine.close()
  }
}

/**
 * 6. The same changed export fetched live from the fake CardTrader of the
 * tests (a local node:http server, gzip on): a re-sync that changes nothing.
 * The fake lives in test/ (not shipped): loaded from the repository's build.
 */
async function liveStep (engine: ReturnType<typeof createEngine>, file: string, say: (s: string) => void): Promise<void> {
  const { FakeCardTrader } = require(path.resolve(__dirname, '../../test/fake-cardtrader.js')) as typeof import('../../test/fake-cardtrader')
  const fake = await FakeCardTrader.start()
  try {
    fake.addSeller('demo-token', { body: fs.readFileSync(file), gzip: true })
    say(`6. live source: the same export from a fake CardTrader at ${fake.url} (gzip, rate-limited)`)
    const live = await engine.sync({ source: { cardtrader: { token: 'demo-token', baseUrl: fake.url, rateLimit: { redisUrl: null } } }, userId: DEMO_USER })
    say(formatReport(live))
  } finally {
    await fake.close()
  }
}

main().then(code => { process.exitCode = code }, (err: unknown) => {
  const e = err as SyncError
  process.stderr.write(`demo failed: ${e.code ?? ''} ${e.message ?? String(err)}\n`)
  process.exitCode = e.exitCode ?? 1
})
