import type { DatasetSpec } from '../types'

/**
 * Exchange candles (seed 002): many small batches, every symbol and timeframe
 * in one table. insert-new: a candle already stored is left as it is, so the
 * scope may be empty (nothing is ever deleted); ts is ISO 8601 or epoch ms.
 */
export const marketCandles: DatasetSpec = {
  name: 'market-candles',
  table: 'market_candles',
  scope: [],
  columns: [
    { name: 'symbol', type: 'text', nullable: false },
    { name: 'timeframe', type: 'text', nullable: false },
    { name: 'ts', type: 'timestamptz', nullable: false, epoch: 'ms' },
    { name: 'open', type: 'numeric(20,8)', nullable: false },
    { name: 'high', type: 'numeric(20,8)', nullable: false },
    { name: 'low', type: 'numeric(20,8)', nullable: false },
    { name: 'close', type: 'numeric(20,8)', nullable: false },
    { name: 'volume', type: 'numeric(28,8)', nullable: false, min: 0 },
  ],
  key: ['symbol', 'timeframe', 'ts'],
  mode: 'insert-new',
}
