/**
 * The limit: the same rows, already flattened to CSV before the timer starts,
 * loaded by PostgreSQL's own client (psql \copy) or by pgloader. Nothing in
 * Node can be faster than the server ingesting a ready file, so these set
 * the bar brx-sync is measured against. Only the external process is timed.
 */
import fs from 'node:fs'
import { cardtraderInventory } from '../src/dataset/cardtrader'
import { COLUMNS, COMPARE, DB_URL, KEY, TABLE, psqlScript, runTimed, which } from './lib'

const PG_TYPE: Record<string, string> = { int4: 'integer', text: 'text', jsonb: 'jsonb', bool: 'boolean', uuid: 'uuid' }
const STAGE_COLUMNS = [{ name: 'user_id', type: 'uuid' }, ...cardtraderInventory.columns]
const cols = COLUMNS.join(', ')

async function script (file: string, text: string): Promise<number> {
  await fs.promises.writeFile(file, text)
  return await psqlScript(file)
}

/** `\copy` straight into the target: the initial load, with nothing to compare against. */
export async function psqlCopyInitial (csv: string): Promise<number> {
  return await script(`${csv}.copy.sql`, `\\copy ${TABLE} (${cols}) from '${csv}' with (format csv)\n`)
}

export async function psqlCopyBinaryInitial (bin: string): Promise<number> {
  return await script(`${bin}.copy.sql`, `\\copy ${TABLE} (${cols}) from '${bin}' with (format binary)\n`)
}

/**
 * The textbook staging merge, written by hand in one psql script:
 * COPY into a temp table, ANALYZE it (a fresh temp table has no stats and
 * the planner would guess 1 row), then the three set-based statements
 * brx-sync's merge also runs, in one transaction.
 */
function mergeScript (copyLine: string, user: string): string {
  const keyJoin = KEY.map(k => `t.${k} = s.${k}`).join(' AND ')
  const row = (a: string): string => `(${COMPARE.map(c => `${a}.${c}`).join(', ')})`
  return [
    'BEGIN;',
    `CREATE TEMP TABLE stage (${STAGE_COLUMNS.map(c => `${c.name} ${PG_TYPE[c.type]}`).join(', ')}) ON COMMIT DROP;`,
    copyLine,
    'ANALYZE stage;',
    `UPDATE ${TABLE} t SET ${COMPARE.map(c => `${c} = s.${c}`).join(', ')}, updated_at = now() FROM stage s
      WHERE t.user_id = '${user}' AND ${keyJoin} AND ${row('t')} IS DISTINCT FROM ${row('s')};`,
    `INSERT INTO ${TABLE} (${cols}) SELECT ${COLUMNS.map(c => `s.${c}`).join(', ')} FROM stage s
      WHERE NOT EXISTS (SELECT 1 FROM ${TABLE} t WHERE t.user_id = s.user_id AND ${keyJoin});`,
    `DELETE FROM ${TABLE} t WHERE t.user_id = '${user}' AND NOT EXISTS (SELECT 1 FROM stage s WHERE ${keyJoin});`,
    'COMMIT;',
    '',
  ].join('\n')
}

export async function psqlMergeResync (csv: string, user: string): Promise<number> {
  return await script(`${csv}.merge.sql`, mergeScript(`\\copy stage (${cols}) from '${csv}' with (format csv)`, user))
}

/**
 * What a careful DBA writes for a re-sync, and what brx-sync's ratio is
 * taken against: binary \\copy into an UNLOGGED staging table (no WAL),
 * ANALYZE, work_mem 256MB, ONE classify join (new or changed rows into a
 * temp table), then update / insert / delete from it, in one transaction.
 */
export function tunedMergeScript (bin: string, user: string): string {
  const keyJoin = KEY.map(k => `t.${k} = s.${k}`).join(' AND ')
  const row = (a: string): string => `(${COMPARE.map(c => `${a}.${c}`).join(', ')})`
  const stage = 'stage_tuned'
  return [
    `DROP TABLE IF EXISTS ${stage};`,
    `CREATE UNLOGGED TABLE ${stage} (${STAGE_COLUMNS.map(c => `${c.name} ${PG_TYPE[c.type]}`).join(', ')}) WITH (autovacuum_enabled = false);`,
    `\\copy ${stage} (${cols}) from '${bin}' with (format binary)`,
    'BEGIN;',
    "SET LOCAL work_mem = '256MB';",
    `ANALYZE ${stage};`,
    `CREATE TEMP TABLE diff ON COMMIT DROP AS SELECT s.*, t.${KEY[0]} IS NOT NULL AS present FROM ${stage} s
      LEFT JOIN ${TABLE} t ON t.user_id = '${user}' AND ${keyJoin}
      WHERE t.${KEY[0]} IS NULL OR ${row('t')} IS DISTINCT FROM ${row('s')};`,
    `UPDATE ${TABLE} t SET ${COMPARE.map(c => `${c} = s.${c}`).join(', ')}, updated_at = now() FROM diff s
      WHERE s.present AND t.user_id = '${user}' AND ${keyJoin};`,
    `INSERT INTO ${TABLE} (${cols}) SELECT ${COLUMNS.map(c => `s.${c}`).join(', ')} FROM diff s WHERE NOT s.present;`,
    `DELETE FROM ${TABLE} t WHERE t.user_id = '${user}' AND NOT EXISTS (SELECT 1 FROM ${stage} s WHERE ${keyJoin});`,
    `DROP TABLE ${stage};`,
    'COMMIT;',
    '',
  ].join('\n')
}

/** The tuned re-sync as a whole psql process: wall time. */
export async function psqlTunedResync (bin: string, user: string): Promise<number> {
  return await script(`${bin}.tuned.sql`, tunedMergeScript(bin, user))
}

export async function psqlMergeBinaryResync (bin: string, user: string): Promise<number> {
  return await script(`${bin}.merge.sql`, mergeScript(`\\copy stage (${cols}) from '${bin}' with (format binary)`, user))
}

/**
 * The binary variant's input: the CSV staged and written back by the
 * server as binary COPY (`COPY (SELECT ...) TO ... (FORMAT binary)`), with
 * `user` as the user_id. Untimed preparation.
 */
export async function toBinary (csv: string, user: string, tag: string): Promise<string> {
  const bin = csv.replace(/\.[^.]+\.csv$/, `.${tag}.bin`)
  if (fs.existsSync(bin)) return bin
  const tmp = `${bin}.${process.pid}.tmp`
  await script(`${bin}.prep.sql`, [
    `CREATE TEMP TABLE stage (${STAGE_COLUMNS.map(c => `${c.name} ${PG_TYPE[c.type]}`).join(', ')});`,
    `\\copy stage (${cols}) from '${csv}' with (format csv)`,
    `\\copy (SELECT '${user}'::uuid, ${COLUMNS.slice(1).join(', ')} FROM stage) to '${tmp}' with (format binary)`,
    '',
  ].join('\n'))
  await fs.promises.rename(tmp, bin)
  return bin
}

export const pgloaderPath = (): string | null => which('pgloader')

/**
 * pgloader reading the same CSV. Its CSV reader, like COPY's, tells an
 * unquoted empty field (NULL) from a quoted one (''). --on-error-stop so a
 * rejected row fails the run instead of being silently skipped.
 */
export async function pgloaderInitial (csv: string): Promise<number> {
  const file = `${csv}.pgloader.load`
  await fs.promises.writeFile(file, [
    `LOAD CSV FROM '${csv}' (${cols})`,
    `  INTO ${DB_URL}?tablename=${TABLE} (${cols})`,
    `  WITH fields optionally enclosed by '"', fields escaped by double-quote, fields terminated by ','`,
    ';',
    '',
  ].join('\n'))
  const { ms } = await runTimed(pgloaderPath() as string, ['--quiet', '--on-error-stop', file])
  return ms
}
