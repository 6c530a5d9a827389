import { migrate } from '../engine'
import { str, type Command } from './command'

const usage = `Usage: brx-sync migrate [--database-url URL]

Applies schema/*.sql in order, each once (recorded in brx_migrations).

  --database-url URL   default DATABASE_URL, PG* variables, or postgres://postgres@127.0.0.1:5432/test
`

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or update the tables (idempotent)',
  usage,
  options: { 'database-url': { type: 'string' } },
  run: async (v, _p, io) => {
    const applied = await migrate({ databaseUrl: str(v['database-url']) })
    io.out(applied.length > 0 ? `applied ${applied.join(', ')}\n` : 'schema up to date\n')
    return 0
  },
}
