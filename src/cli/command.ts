import { parseArgs, type ParseArgsConfig } from 'node:util'
import { SyncError, redact } from '../errors'

/**
 * Every CLI command is one of these: a name, a one-line summary for
 * `brx-sync --help`, its own usage text for `brx-sync <name> --help`, the
 * flags in node:util parseArgs form, and `run`. `runCommand` is the one
 * parser: unknown flags and usage errors exit 2 with the usage, --help
 * prints it and exits 0, a SyncError exits with its code's exit code.
 *
 * To add a command: write a Command, add it to `commands` in cli/main.ts.
 * To add a flag: one entry in its `options`, one line in its `usage`.
 */
export interface Io { out: (s: string) => void, err: (s: string) => void }

export type Values = Record<string, string | boolean | undefined>

export interface Command {
  name: string
  summary: string
  usage: string
  options: NonNullable<ParseArgsConfig['options']>
  /** Subcommands or operands allowed after the flags (default none). */
  positionals?: boolean
  run: (values: Values, positionals: string[], io: Io) => Promise<number>
}

/** A mistake in the command line: exit 2, the message and the usage on stderr. */
export class UsageError extends Error {}

export const stdio: Io = { out: s => process.stdout.write(s), err: s => process.stderr.write(s) }

export async function runCommand (cmd: Command, argv: string[], io: Io = stdio): Promise<number> {
  let values: Values
  let positionals: string[]
  try {
    const parsed = parseArgs({ args: argv, strict: true, allowPositionals: cmd.positionals === true, options: { help: { type: 'boolean', short: 'h' }, ...cmd.options } })
    values = parsed.values as Values
    positionals = parsed.positionals
  } catch (err) {
    io.err(`brx-sync ${cmd.name}: ${(err as Error).message}\n\n${cmd.usage}`)
    return 2
  }
  if (values.help === true) { io.out(cmd.usage); return 0 }
  try {
    return await cmd.run(values, positionals, io)
  } catch (err) {
    if (err instanceof UsageError) { io.err(`brx-sync ${cmd.name}: ${err.message}\n\n${cmd.usage}`); return 2 }
    if (err instanceof SyncError) { io.err(`brx-sync ${cmd.name}: ${err.code}: ${err.message}\n`); return err.exitCode }
    io.err(`brx-sync ${cmd.name}: BRX_ERR_INTERNAL: ${redact(String((err as Error)?.stack ?? err))}\n`)
    return 70
  }
}

/** A numeric flag, or undefined when absent. */
export function numberFlag (v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${String(v)}".`)
  return n
}

export const str = (v: string | boolean | undefined): string | undefined => typeof v === 'string' ? v : undefined
