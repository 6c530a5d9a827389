#!/usr/bin/env node
import { generateSpec } from '../../tools/generate'
import { catalogSpec } from '../map/seed'
import { runCommand, stdio, type Command } from './command'
import { migrateCommand } from './migrate-command'
import { historyCommand, statusCommand, sweepCommand } from './runs-command'
import { syncCommand } from './sync-command'
import { enqueueCommand, scheduleCommand, workerCommand } from './jobs-command'

/** Every command, parsed by the one runner in cli/command.ts. */
const commands: Command[] = [syncCommand, migrateCommand, statusCommand, historyCommand, sweepCommand, generateSpec, catalogSpec, workerCommand, enqueueCommand, scheduleCommand]

const usage = `Usage: brx-sync <command> [options]

Commands:
${commands.map(c => `  ${c.name.padEnd(10)} ${c.summary} (brx-sync ${c.name} --help)`).join('\n')}
`

async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  const cmd = commands.find(c => c.name === name)
  if (cmd !== undefined) return await runCommand(cmd, rest, stdio)
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage + '\n' + syncCommand.usage)
    return name === undefined ? 2 : 0
  }
  process.stderr.write(`brx-sync: unknown command "${name}".\n\n${usage}`)
  return 2
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  process.stderr.write(`brx-sync: ${String((err as Error)?.stack ?? err)}\n`)
  process.exitCode = 70
})
