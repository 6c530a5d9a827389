/**
 * CSV parsers in the workers' shape: 250k station-reading rows (some fields
 * quoted, with commas, quotes and newlines) cut into the engine's 1 MiB
 * partitions by the main thread's scanner; each parser then turns every
 * partition into its records' fields, as a worker would. Best of 5 passes
 * per parser, all partitions each pass, in one process.
 *
 *   npm run bench:csv            (node dist/bench/csv.js [--rows 250000])
 */
import { parseArgs } from 'node:util'
import { parse as csvParse } from 'csv-parse/sync'
import { inferSchema, initParser } from 'udsv'
import { Partitioner, type Partition } from '../src/read/partitioner'
import { parseCsvRecord } from '../src/transform/csv'
import { Prng } from '../test/helpers'

function makeCsv (rows: number): Buffer {
  const r = new Prng(7)
  const lines = ['station,time,temp,rain,note,status,count,flag']
  const notes = ['', 'ok', 'windy, cold', 'sensor said "hi"', 'two\nlines', 'plain note text here']
  for (let i = 0; i < rows; i++) {
    const note = r.pick(notes)
    const q = note === '' || /[",\n]/.test(note) ? '"' + note.replace(/"/g, '""') + '"' : note
    lines.push(`st-${i % 50},${new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString()},${(r.next() * 60 - 20).toFixed(1)},${(r.next() * 30).toFixed(2)},${q},${r.pick(['ok', 'maintenance'])},${r.int(0, 1e5)},${r.pick(['true', 'false'])}`)
  }
  return Buffer.from(lines.join('\n') + '\n')
}

function partitions (buf: Buffer): { parts: Partition[], header: string[] } {
  const p = new Partitioner('csv', 1 << 20, 'bench.csv', 1 << 30)
  for (let at = 0; at < buf.length; at += 256 * 1024) p.push(buf.subarray(at, at + 256 * 1024))
  p.end()
  const parts: Partition[] = []
  for (let x = p.take(); x !== undefined; x = p.take()) parts.push(x)
  return { parts, header: p.header as string[] }
}

type Parser = (part: Partition, text: string, header: string[]) => number

async function main (): Promise<void> {
  const a = parseArgs({ options: { rows: { type: 'string', default: '250000' } } }).values
  const rows = Number(a.rows)
  const buf = makeCsv(rows)
  const { parts, header } = partitions(buf)
  const headerLine = header.join(',') + '\n'
  const schema = inferSchema(headerLine + Buffer.from(parts[0].data).toString('utf8', 0, 4096).split('\n').slice(0, 5).join('\n'))
  const udsv = initParser(schema)
  const parsers: Record<string, Parser> = {
    // What the engine does: one string per record (the scanner's offsets), split by our field parser.
    'brx parseCsvRecord (per record)': (part) => {
      const b = Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength)
      let n = 0
      for (let i = 0; i < part.count; i++) n += parseCsvRecord(b.toString('utf8', part.offsets[2 * i], part.offsets[2 * i + 1])).length
      return n
    },
    'csv-parse/sync (whole partition)': (_p, text) => (csvParse(text, { relax_column_count: true }) as string[][]).length,
    'csv-parse/sync (per record)': (part) => {
      const b = Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength)
      let n = 0
      for (let i = 0; i < part.count; i++) n += (csvParse(b.toString('utf8', part.offsets[2 * i], part.offsets[2 * i + 1])) as string[][]).length
      return n
    },
    'uDSV stringArrs (whole partition)': (_p, text) => udsv.stringArrs(headerLine + text).length,
    'uDSV stringArrs (per record)': (part) => {
      const b = Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength)
      let n = 0
      for (let i = 0; i < part.count; i++) n += udsv.stringArrs(headerLine + b.toString('utf8', part.offsets[2 * i], part.offsets[2 * i + 1])).length
      return n
    },
  }
  const texts = parts.map(p => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('utf8'))
  process.stdout.write(`${rows.toLocaleString('en')} rows, ${(buf.length / 2 ** 20).toFixed(1)} MiB, ${parts.length} partitions; best of 5, one thread\n\n`)
  process.stdout.write('| parser | ms (250k rows) | rows/s |\n| --- | ---: | ---: |\n')
  for (const [name, parse] of Object.entries(parsers)) {
    let best = Infinity
    for (let pass = 0; pass < 5; pass++) {
      const t = performance.now()
      for (let i = 0; i < parts.length; i++) parse(parts[i], texts[i], header)
      best = Math.min(best, performance.now() - t)
    }
    process.stdout.write(`| ${name} | ${best.toFixed(0)} | ${Math.round(rows / (best / 1000)).toLocaleString('en')} |\n`)
  }
}

main().catch(err => { process.stderr.write(String(err?.stack ?? err) + '\n'); process.exitCode = 1 })
