import { normalizeCardtraderProduct } from './cardtrader'

/**
 * Record normalizers by name. A normalizer fills `out` with the dataset's
 * columns in order, or throws a Rejection. Datasets refer to these by name
 * because functions cannot be sent to worker threads.
 */
export type Normalizer = (rec: unknown, out: unknown[]) => void

export const normalizers: Record<string, Normalizer> = {
  'cardtrader-product': normalizeCardtraderProduct,
}

/** Looks a normalizer up by name, own entries only ("constructor" or "__proto__" are not normalizers). */
export function findNormalizer (name: string): Normalizer | undefined {
  return Object.prototype.hasOwnProperty.call(normalizers, name) ? normalizers[name] : undefined
}
