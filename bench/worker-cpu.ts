/**
 * One worker's CPU per row, on one thread with nothing else running (the
 * steady measure behind README "Where the CPU goes"): a generated export cut
 * into partitions as the main thread cuts them, then
 *  - transformPartition over every partition (what a worker does for a sync),
 *  - per record: JSON.parse + normalize against readFields + normalize,
 *  - readFields alone and JSON.parse (with its toString) alone,
 *  - a loop that only reads every byte (the floor for any JS byte walker).
 * process.cpuUsage() per row, best of --reps.
 *
 * Usage: npm run bench:worker -- [--products 250000] [--reps 4]
 */
import { parseArgs } from 'node:util'
import { cardtraderInventory } from '../src/dataset/cardtrader'
import { Partitioner, type Partition } from '../src/read/partitioner'
import { CARDTRADER_FIELDS, normalizeCardtraderProduct } from '../src/transform/cardtrader'
import { compileFieldPlan, readFields } from '../src/transform/json-fields'
import { transformPartition } from '../src/transform/partition'
import { generateProducts } from '../tools/generate'

const { values: a } = parseArgs({ options: { products: { type: 'string', default: '250000' }, reps: { type: 'string', default: '4' } } })
const products = Number(a.products); const reps = Number(a.reps)

const lines: string[] = []
for (const p of generateProducts({ products, seed: 1 })) lines.push(JSON.stringify(p))
const buf = Buffer.from('[\n' + lines.join(',\n') + '\n]\n')
lines.length = 0

const parts: Partition[] = []
const cutter = new Partitioner('json', 1 << 20, 'bench')
for (let i = 0; i < buf.length; i += 256 * 1024) {
  cutter.push(buf.subarray(i, Math.min(buf.length, i + 256 * 1024)))
  for (let p = cutter.take(); p !== undefined; p = cutter.take()) parts.push(p)
}
cutter.end()
for (let p = cutter.take(); p !== undefined; p = cutter.take()) parts.push(p)
const rows = parts.reduce((n, p) => n + p.count, 0)
// Records as [start, end) in one buffer, for the per-record races.
const spans: Array<[Buffer, number, number]> = []
for (const p of parts) {
  const b = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)
  for (let i = 0; i < p.count; i++) spans.push([b, p.offsets[2 * i], p.offsets[2 * i + 1]])
}
const plan = compileFieldPlan(CARDTRADER_FIELDS)
const layout = { prefix: [{ type: 'uuid' as const, value: '7e1e3b6a-2f43-4c55-9f0e-1d2a3b4c5d6e' }], seq: false }

async function best (name: string, f: () => unknown): Promise<void> {
  let min = Infinity
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage()
    await f()
    const c = process.cpuUsage(c0)
    min = Math.min(min, (c.user + c.system) / rows)
  }
  console.log(`${name.padEnd(52)} ${min.toFixed(2).padStart(6)} µs/row`)
}

async function main (): Promise<void> {
  console.log(`${rows.toLocaleString('en-US')} products, ${(buf.length / 2 ** 20).toFixed(1)} MiB in ${parts.length} partitions; best of ${reps}`)
  await best('transformPartition (a worker\'s whole job)', async () => {
    for (const p of parts) await transformPartition({ ...p, dataset: cardtraderInventory, keepRaw: false, unmapped: null, layout })
  })
  await best('JSON.parse + normalize, per record', () => {
    for (const [b, s, e] of spans) normalizeCardtraderProduct(JSON.parse(b.toString('utf8', s, e)), new Array(15))
  })
  await best('readFields + normalize, per record', () => {
    for (const [b, s, e] of spans) normalizeCardtraderProduct(readFields(plan, b, s, e) ?? JSON.parse(b.toString('utf8', s, e)), new Array(15))
  })
  await best('JSON.parse (with toString) alone', () => { for (const [b, s, e] of spans) JSON.parse(b.toString('utf8', s, e)) })
  await best('readFields alone', () => { for (const [b, s, e] of spans) readFields(plan, b, s, e) })
  await best('a loop reading every byte (floor)', () => {
    let x = 0
    for (const [b, s, e] of spans) for (let i = s; i < e; i++) x += b[i]
    return x
  })
}

void main()
