import { migrate } from '../engine'
import { str, type Command } from './command'

const usage = `Usage: brx-sync migrate [--database-url URL] [--dataset NAME|SPEC.json]

Applies schema/*.sql in order, each once (recorded in brx_migrations).
With --dataset: the bookkeeping tables plus that dataset's table
(a spec's table from its columns, CREATE TABLE IF NOT EXISTS; a preset's from its schema file).

  --database-url URL        default DATABASE_URL, PG* variables, or postgres://postgres@127.0.0.1:5432/test
  --dataset NAME|SPEC.json  a preset name or a dataset spec file
`

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or update the tables (idempotent)',
  usage,
  options: { 'database-url': { type: 'string' }, dataset: { type: 'string' } },
  run: async (v, _p, io) => {
    const applied = await migrate({ databaseUrl: str(v['database-url']), dataset: str(v.dataset) })
    io.out(applied.length > 0 ? `applied ${applied.join(', ')}\n` : 'schema up to date\n')
    return 0
  },
}
