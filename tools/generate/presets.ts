/**
 * Deterministic sample data for the catalog-snapshots, market-candles and
 * order-book presets: same options, same bytes. Each generator yields the
 * input's lines (CSV or NDJSON) so any size streams to a file.
 */
import { Rng } from './prng'

export interface PresetSample {
  rows: number
  seed?: number
  /** Share of rows listed again later with other values (the later one wins). */
  dupRate?: number
  /** Share of rows that are invalid (bad number, negative stock, missing key). */
  badRate?: number
  /** Change a share of values (a re-upload / a later export), with this seed. */
  change?: number
  changeSeed?: number
  /** Candles: the first candle's index (shift the window: half present = rows / 2). */
  offset?: number
}

const csvCell = (s: string): string => /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s
const money = (cents: number): string => (cents < 0 ? '-' : '') + String(Math.floor(Math.abs(cents) / 100)) + '.' + String(Math.abs(cents) % 100).padStart(2, '0')

/** `variant_id,sku,product_name,price,currency,stock,attributes` */
export function * catalogCsv (o: PresetSample): Generator<string> {
  const r = new Rng(o.seed ?? 1)
  const ch = new Rng(o.changeSeed ?? (o.seed ?? 1) + 1)
  yield 'variant_id,sku,product_name,price,currency,stock,attributes'
  const row = (i: number, bump: number): string => {
    const price = 100 + ((i * 7919 + bump * 101) % 99_900)
    const attrs = JSON.stringify({ size: ['S', 'M', 'L', 'XL'][i % 4], color: ['red', 'blue', 'green'][i % 3], tags: i % 5 === 0 ? ['sale', 'new'] : [] })
    const name = i % 9 === 0 ? `Shirt "${i}", cotton` : `Product ${i}`
    return [`V${i}`, `SKU-${i % 100_000}`, csvCell(name), money(price), i % 11 === 0 ? 'USD' : 'EUR', String((i * 13 + bump) % 500), i % 17 === 0 ? '' : csvCell(attrs)].join(',')
  }
  for (let i = 0; i < o.rows; i++) {
    const bump = o.change !== undefined && ch.chance(o.change) ? 1 + ch.int(0, 9) : 0
    if (o.badRate !== undefined && r.chance(o.badRate)) {
      yield [[`V${i}`, 'SKU', 'Bad', '12.5.0', 'EUR', '1', ''], [`V${i}`, 'SKU', 'Bad', '1.00', 'EUR', '-4', ''], ['', 'SKU', 'Bad', '1.00', 'EUR', '1', ''], [`V${i}`, 'SKU', 'Bad', '1.00', 'EUR', '1', '{not json']][r.int(0, 3)].join(',')
      continue
    }
    if (o.dupRate !== undefined && r.chance(o.dupRate)) yield row(i, bump + 3) // an outdated copy first; the real one follows
    yield row(i, bump)
  }
}

const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'BNBUSDT', 'XRPUSDT', 'ADAUSDT', 'DOGEUSDT', 'AVAXUSDT', 'DOTUSDT', 'LINKUSDT']
const TIMEFRAMES: Array<[string, number]> = [['1m', 60_000], ['5m', 300_000], ['15m', 900_000], ['1h', 3_600_000], ['4h', 14_400_000], ['1d', 86_400_000]]
export const CANDLE_BASE = Date.UTC(2026, 0, 1)

/** The candle series `(symbol, timeframe)` number `series` of `symbols` × 6 timeframes. */
export function candleSeries (series: number): { symbol: string, timeframe: string, stepMs: number } {
  const tf = TIMEFRAMES[series % TIMEFRAMES.length]
  const s = Math.floor(series / TIMEFRAMES.length)
  return { symbol: s < SYMBOLS.length ? SYMBOLS[s] : `SYM${s}USDT`, timeframe: tf[0], stepMs: tf[1] }
}

/** One candle as the exchange sends it (values as decimal strings; ts ISO or epoch ms). */
export function candle (series: number, index: number, bump = 0): Record<string, unknown> {
  const { symbol, timeframe, stepMs } = candleSeries(series)
  const ms = CANDLE_BASE + index * stepMs
  const base = 1_000_000 + ((series * 7919 + index * 104_729 + bump * 31) % 9_000_000)
  const p = (n: number): string => (n / 1e4).toFixed(8).replace(/0+$/, '').replace(/\.$/, '')
  return {
    symbol, timeframe,
    ts: index % 2 === 0 ? new Date(ms).toISOString() : ms,
    open: p(base), high: p(base + 1234), low: p(base - 987), close: p(base + 111 * (index % 7)),
    volume: `${(series + 1) * 1000 + index}.${String(index % 100_000_000).padStart(8, '0')}`,
  }
}

/** NDJSON: `rows` candles spread over series of 100 (50 symbols × 6 timeframes for 30,000). */
export function * candlesNdjson (o: PresetSample & { perSeries?: number }): Generator<string> {
  const per = o.perSeries ?? 100
  const r = new Rng(o.seed ?? 1)
  const ch = new Rng(o.changeSeed ?? (o.seed ?? 1) + 1)
  const offset = o.offset ?? 0
  for (let i = 0; i < o.rows; i++) {
    const series = Math.floor(i / per)
    const index = offset + (i % per)
    if (o.badRate !== undefined && r.chance(o.badRate)) {
      const c = candle(series, index)
      const k = r.int(0, 2)
      yield JSON.stringify(k === 0 ? { ...c, ts: 'yesterday' } : k === 1 ? { ...c, open: '1e' } : { ...c, symbol: null })
      continue
    }
    yield JSON.stringify(candle(series, index, o.change !== undefined && ch.chance(o.change) ? 1 : 0))
  }
}

/** Order lines: `{num_pedido, cod_produto, cliente, qtd_produto_pedido, preco_produto_pedido}`, about 3 lines per order. */
export function orderLine (i: number, bump = 0): Record<string, unknown> {
  return {
    num_pedido: `PED${String(Math.floor(i / 3)).padStart(7, '0')}`,
    cod_produto: `PRD${(i * 37) % 5000}`,
    cliente: `Cliente ${(Math.floor(i / 3) * 13) % 997}`,
    qtd_produto_pedido: `${100 + ((i * 17 + bump) % 900)}.${String(i % 1000).padStart(3, '0')}`,
    preco_produto_pedido: money(500 + ((i * 7919 + bump * 11) % 99_500)),
  }
}

export function * orderBookNdjson (o: PresetSample): Generator<string> {
  const r = new Rng(o.seed ?? 1)
  const ch = new Rng(o.changeSeed ?? (o.seed ?? 1) + 1)
  for (let i = 0; i < o.rows; i++) {
    if (o.badRate !== undefined && r.chance(o.badRate)) {
      yield JSON.stringify(r.chance(0.5) ? { ...orderLine(i), qtd_produto_pedido: '1234567890123.5' } : { ...orderLine(i), num_pedido: undefined })
      continue
    }
    const bump = o.change !== undefined && ch.chance(o.change) ? 1 : 0
    if (o.dupRate !== undefined && r.chance(o.dupRate)) yield JSON.stringify(orderLine(i, bump + 5))
    yield JSON.stringify(orderLine(i, bump))
  }
}

/**
 * The aggregate sources of `rows` order lines: `perLine` rows per line split
 * between faturamento_produto (origem = num_pedido) and separacao, as
 * tab-separated COPY text. Some lines get none (their balances default to 0).
 */
export function orderBookSources (rows: number, perLine = 3, seed = 1): { faturamento: string[], separacao: string[] } {
  const r = new Rng(seed * 7 + 3)
  const faturamento: string[] = []; const separacao: string[] = []
  for (let i = 0; i < rows; i++) {
    const l = orderLine(i)
    for (let k = 0; k < perLine; k++) {
      const q = `${r.int(0, 30)}.${String(r.int(0, 999)).padStart(3, '0')}`
      if (k % 3 === 2) separacao.push(`${String(l.num_pedido)}\t${String(l.cod_produto)}\t${q}`)
      else faturamento.push(`${String(l.num_pedido)}\t${String(l.cod_produto)}\t${q}`)
    }
  }
  return { faturamento, separacao }
}
