export { catalogSnapshots } from './catalog-snapshots'
export { marketCandles } from './market-candles'
export { orderBook } from './order-book'
