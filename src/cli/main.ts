#!/usr/bin/env node
import { runCommand, stdio, type Command } from './command'

/**
 * Every command, parsed by the one runner in cli/command.ts. Each module is
 * required when its command runs (a sync never loads pg-boss, the generator
 * or the catalog seeder); the usage text loads them all.
 */
const commands: Array<[string, () => Command]> = [
  ['sync', () => (require('./sync-command') as typeof import('./sync-command')).syncCommand],
  ['migrate', () => (require('./migrate-command') as typeof import('./migrate-command')).migrateCommand],
  ['status', () => (require('./runs-command') as typeof import('./runs-command')).statusCommand],
  ['history', () => (require('./runs-command') as typeof import('./runs-command')).historyCommand],
  ['sweep', () => (require('./runs-command') as typeof import('./runs-command')).sweepCommand],
  ['generate', () => (require('../../tools/generate') as typeof import('../../tools/generate')).generateSpec],
  ['catalog', () => (require('../map/seed') as typeof import('../map/seed')).catalogSpec],
  ['worker', () => (require('./jobs-command') as typeof import('./jobs-command')).workerCommand],
  ['enqueue', () => (require('./jobs-command') as typeof import('./jobs-command')).enqueueCommand],
  ['schedule', () => (require('./jobs-command') as typeof import('./jobs-command')).scheduleCommand],
]

const usage = (): string => `Usage: brx-sync <command> [options]

Commands:
${commands.map(([, load]) => load()).map(c => `  ${c.name.padEnd(10)} ${c.summary} (brx-sync ${c.name} --help)`).join('\n')}
`

async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  const load = commands.find(([n]) => n === name)?.[1]
  if (load !== undefined) return await runCommand(load(), rest, stdio)
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n' + commands[0][1]().usage)
    return name === undefined ? 2 : 0
  }
  process.stderr.write(`brx-sync: unknown command "${name}".\n\n${usage()}`)
  return 2
}
main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  process.stderr.write(`brx-sync: ${String((err as Error)?.stack ?? err)}\n`)
  process.exitCode = 70
})
