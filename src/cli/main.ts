#!/usr/bin/env node
import { generateCommand } from '../generate'
import { catalogCommand } from '../map'
import { migrate } from '../engine'
import { SyncError } from '../errors'
import { syncCommand, syncUsage } from './sync-command'
import { jobsCommand } from './jobs-command'

const usage = `Usage: brx-sync <command> [options]

Commands:
  sync       mirror an export into PostgreSQL (brx-sync sync --help)
  migrate    create or update the tables (idempotent)
  generate   write deterministic sample exports and catalogs (brx-sync generate --help)
  catalog    catalog seed: load a catalog file into MySQL (brx-sync catalog --help)
  worker     take sync jobs from the queue (brx-sync worker --help)
  enqueue    queue one sync job; schedule: a recurring one (brx-sync enqueue --help)
`

async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'sync': return await syncCommand(rest)
    case 'generate': return await generateCommand(rest)
    case 'catalog': return await catalogCommand(rest)
    case 'worker': case 'enqueue': case 'schedule': return await jobsCommand(cmd, rest)
    case 'migrate': {
      if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write('Usage: brx-sync migrate [--database-url URL]\n\nApplies schema/*.sql in order, each once (recorded in brx_migrations).\n'); return 0 }
      const i = rest.indexOf('--database-url')
      try {
        const applied = await migrate({ databaseUrl: i >= 0 ? rest[i + 1] : undefined })
        process.stdout.write(applied.length > 0 ? `applied ${applied.join(', ')}\n` : 'schema up to date\n')
        return 0
      } catch (err) {
        const e = err as SyncError
        process.stderr.write(`brx-sync migrate: ${e.code ?? 'BRX_ERR_INTERNAL'}: ${e.message}\n`)
        return e.exitCode ?? 1
      }
    }
    case '--help': case '-h': case 'help': case undefined:
      process.stdout.write(usage + '\n' + syncUsage)
      return cmd === undefined ? 2 : 0
    default:
      process.stderr.write(`brx-sync: unknown command "${cmd}".\n\n${usage}`)
      return 2
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  process.stderr.write(`brx-sync: ${String((err as Error)?.stack ?? err)}\n`)
  process.exitCode = 70
})
