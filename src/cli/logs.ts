import { Writable } from 'node:stream'
import pino, { type Logger } from 'pino'

export type LogFormat = 'auto' | 'json' | 'pretty'

/**
 * The CLI's logger on stderr: readable lines (pino-pretty, one line per
 * phase) on a terminal, JSON lines otherwise or with --log-format json.
 * `write` lets the progress bar print log lines above itself.
 */
export function cliLogger (o: { level: string, format: LogFormat, isTTY: boolean, base?: Record<string, unknown>, write?: (line: string) => void }): Logger {
  const write = o.write ?? ((line: string) => { process.stderr.write(line) })
  const readable = o.format === 'pretty' || (o.format === 'auto' && o.isTTY)
  if (!readable) return pino({ level: o.level, base: o.base }, o.write === undefined ? pino.destination(2) : lineStream(write))
  // Required only here: JSON logs (every non-terminal run) never load pino-pretty.
  const pretty = require('pino-pretty') as typeof import('pino-pretty')
  const stream = pretty({
    destination: lineStream(write),
    colorize: o.isTTY,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,cmd',
    sync: true,
  })
  return pino({ level: o.level, base: o.base }, stream)
}

function lineStream (write: (line: string) => void): Writable {
  return new Writable({
    write (chunk: Buffer | string, _enc, cb) { write(chunk.toString()); cb() },
  })
}
