import type { ColumnSpec } from '../dataset/types'
import type { BaseType } from '../dataset/vocabulary'
import { BinaryWriter } from './binary-writer'

/** "varchar(64)" -> "varchar", "numeric(12,4)" -> "numeric" (validated specs only). */
function baseOf (type: string): BaseType {
  const b = type.slice(0, type.indexOf('(')) as BaseType
  if (b !== 'varchar' && b !== 'numeric') throw new Error(`no encoder for column type ${type}`)
  return b
}

/**
 * Writes one value of a column. Values come from a normalizer that already
 * validated them, so this is a plain dispatch: null -> NULL, else by type.
 * jsonb takes the JSON text; timestamptz takes epoch milliseconds (number) or microseconds (bigint);
 * numeric takes canonical decimal text; date takes
 * epoch days; int8 takes a number or bigint.
 */
export function writeValue (w: BinaryWriter, type: ColumnSpec['type'], v: unknown): void {
  if (v === null || v === undefined) { w.null(); return }
  switch (type) {
    case 'int4': w.int4(v as number); return
    case 'text': w.text(v as string); return
    case 'int8': w.int8(v as number | bigint); return
    case 'bool': w.bool(v as boolean); return
    case 'jsonb': w.jsonb(v as string); return
    case 'int2': w.int2(v as number); return
    case 'float8': w.float8(v as number); return
    case 'uuid': w.uuid(v as string); return
    case 'timestamptz': w.timestamptz(v as number); return
    case 'date': w.date(v as number); return
    case 'numeric': w.numeric(v as string); return
    case 'varchar': w.text(v as string); return
    // Parametrized spellings (varchar(64), numeric(12,4)) come last: the hot types above stay a plain switch.
    default: writeValue(w, baseOf(type), v)
  }
}

/**
 * One tuple: the prefix values (the scope, when COPYing straight into the
 * target), the row's columns in dataset order, then the input ordinal when
 * the tuple goes to staging (its brx_seq column).
 */
export function writeTuple (w: BinaryWriter, prefix: ReadonlyArray<{ type: ColumnSpec['type'], value: unknown }>, columns: readonly ColumnSpec[], row: readonly unknown[], seq: number | null): void {
  w.tuple(prefix.length + columns.length + (seq === null ? 0 : 1))
  for (let i = 0; i < prefix.length; i++) writeValue(w, prefix[i].type, prefix[i].value)
  for (let i = 0; i < columns.length; i++) writeValue(w, columns[i].type, row[i])
  if (seq !== null) w.int4(seq)
}

/** Column types as small integers, so encoding a row switches on a number, not a type name. */
const enum T { Int4, Text, Int8, Bool, Jsonb, Int2, Float8, Uuid, Timestamptz, Date, Numeric }
const CODES: Record<string, T> = {
  int4: T.Int4, text: T.Text, varchar: T.Text, int8: T.Int8, bool: T.Bool, jsonb: T.Jsonb, int2: T.Int2,
  float8: T.Float8, uuid: T.Uuid, timestamptz: T.Timestamptz, date: T.Date, numeric: T.Numeric,
}

function codeOf (type: ColumnSpec['type']): T {
  const c = CODES[type] ?? CODES[baseOf(type)]
  if (c === undefined) throw new Error(`no encoder for column type ${type}`)
  return c
}

/**
 * writeTuple for one layout, prepared once per partition: the prefix (the
 * scope, the same in every tuple) encoded once and copied, and the columns'
 * types resolved to codes. Writes exactly the bytes writeTuple writes.
 */
export class TupleEncoder {
  private readonly prefix: Buffer
  private readonly codes: Uint8Array
  private readonly fields: number

  constructor (prefix: ReadonlyArray<{ type: ColumnSpec['type'], value: unknown }>, columns: readonly ColumnSpec[], private readonly seq: boolean) {
    const w = new BinaryWriter(64)
    for (const p of prefix) writeValue(w, p.type, p.value)
    this.prefix = Buffer.from(w.finish())
    this.codes = Uint8Array.from(columns.map(c => codeOf(c.type)))
    this.fields = prefix.length + columns.length + (seq ? 1 : 0)
  }

  write (w: BinaryWriter, row: readonly unknown[], seqNo: number): void {
    w.tuple(this.fields)
    w.raw(this.prefix)
    const codes = this.codes
    for (let i = 0; i < codes.length; i++) {
      const v = row[i]
      if (v === null || v === undefined) { w.null(); continue }
      switch (codes[i]) {
        case T.Int4: w.int4(v as number); break
        case T.Text: w.text(v as string); break
        case T.Int8: w.int8(v as number | bigint); break
        case T.Bool: w.bool(v as boolean); break
        case T.Jsonb: w.jsonb(v as string); break
        case T.Int2: w.int2(v as number); break
        case T.Float8: w.float8(v as number); break
        case T.Uuid: w.uuid(v as string); break
        case T.Timestamptz: w.timestamptz(v as number); break
        case T.Date: w.date(v as number); break
        case T.Numeric: w.numeric(v as string); break
      }
    }
    if (this.seq) w.int4(seqNo)
  }
}
