import { migrate } from '../engine'
import { sweep } from '../runs/queries'
import { str, type Command } from './command'
import { formatSweep, withRunsPool } from './runs-command'

const usage = `Usage: brx-sync migrate [--database-url URL] [--dataset NAME|SPEC.json] [--citus]

Applies schema/*.sql in order, each once (recorded in brx_migrations), then
sweeps (see brx-sync sweep --help): runs whose process died are closed.
With --dataset: the bookkeeping tables plus that dataset's table
(a spec's table from its columns, CREATE TABLE IF NOT EXISTS; a preset's from its schema file).

  --database-url URL        default DATABASE_URL, PG* variables, or postgres://postgres@127.0.0.1:5432/test
  --dataset NAME|SPEC.json  a preset name or a dataset spec file
  --citus                   then distribute the dataset's table (default user_inventory_items)
                            with Citus by its first scope column (user_id); the primary key
                            becomes (user_id, id). See README "Running on Citus".
`

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or update the tables (idempotent), then sweep',
  usage,
  options: { 'database-url': { type: 'string' }, dataset: { type: 'string' }, citus: { type: 'boolean' } },
  run: async (v, _p, io) => {
    const databaseUrl = str(v['database-url'])
    const applied = await migrate({ databaseUrl, dataset: str(v.dataset), citus: v.citus === true })
    io.out(applied.length > 0 ? `applied ${applied.join(', ')}\n` : 'schema up to date\n')
    io.out(formatSweep(await withRunsPool(databaseUrl, sweep)))
    return 0
  },
}
