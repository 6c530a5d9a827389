import type { ColumnSpec } from '../dataset/types'
import type { BaseType } from '../dataset/vocabulary'
import type { BinaryWriter } from './binary-writer'

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
