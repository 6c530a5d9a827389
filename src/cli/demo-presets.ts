/**
 * The demo's second part: one small sync of each preset beyond the
 * inventory — a catalog CSV upload, a batch of candles of which half are
 * already stored (insert-new), an order book whose balances come from its
 * invoices and picking lists (derived columns) — through the engine given.
 */
import path from 'node:path'
import { engineInternals, migrate, type Engine } from '../engine'
import { orderBookSources } from '../../tools/generate/presets'
import { writePresetSample } from '../../tools/generate/presets-cli'
import { formatReport } from './format'

export async function demoPresets (engine: Engine, dir: string, say: (s: string) => void): Promise<void> {
  for (const d of ['catalog-snapshots', 'market-candles', 'order-book']) await migrate({ dataset: d })
  const db = engineInternals(engine).pool
  const csv = path.join(dir, 'catalog-upload.csv')
  await writePresetSample('catalog-snapshots', { rows: 2590, seed: 1, dupRate: 0.01, badRate: 0.002 }, csv)
  await db.query('DELETE FROM catalog_snapshots WHERE csv_upload_id = 42')
  say(`\n7. catalog-snapshots: ${path.basename(csv)} as csv_upload_id 42 (upsert)`)
  say(formatReport(await engine.sync({ input: csv, dataset: 'catalog-snapshots', scope: { csv_upload_id: 42 } })))

  const old = path.join(dir, 'candles-old.ndjson'); const now = path.join(dir, 'candles-new.ndjson')
  await writePresetSample('market-candles', { rows: 3000, seed: 1 }, old)
  await writePresetSample('market-candles', { rows: 3000, seed: 1, offset: 50 }, now)
  await db.query("DELETE FROM market_candles WHERE ts >= '2026-01-01' AND symbol LIKE '%USDT'")
  await engine.sync({ input: old, dataset: 'market-candles' })
  say('8. market-candles: 3,000 candles of which 1,500 are stored already (insert-new)')
  say(formatReport(await engine.sync({ input: now, dataset: 'market-candles' })))

  const lines = path.join(dir, 'orders.ndjson')
  await writePresetSample('order-book', { rows: 4093, seed: 1 }, lines)
  await db.query('TRUNCATE carteira_principal, faturamento_produto, separacao')
  const src = orderBookSources(4093, 3, 1)
  await db.query("INSERT INTO faturamento_produto SELECT split_part(l, E'\\t', 1), split_part(l, E'\\t', 2), split_part(l, E'\\t', 3)::numeric FROM unnest($1::text[]) l", [src.faturamento])
  await db.query("INSERT INTO separacao SELECT split_part(l, E'\\t', 1), split_part(l, E'\\t', 2), split_part(l, E'\\t', 3)::numeric FROM unnest($1::text[]) l", [src.separacao])
  say('9. order-book: 4,093 order lines, balances from faturamento_produto and separacao (derived columns)')
  say(formatReport(await engine.sync({ input: lines, dataset: 'order-book' })))
  const ex = (await db.query('SELECT num_pedido, cod_produto, qtd_produto_pedido, qtd_faturada, qtd_em_separacao, qtd_saldo FROM carteira_principal ORDER BY num_pedido, cod_produto LIMIT 1')).rows[0]
  say(`   e.g. ${JSON.stringify(ex)}`)
  await db.query("UPDATE faturamento_produto SET qtd_faturada = qtd_faturada + 1 WHERE origem = 'PED0000000'")
  say('10. order-book again, same input, one order invoiced further: only its lines are updated')
  say(formatReport(await engine.sync({ input: lines, dataset: 'order-book' })))
}
