import { normalizeCardtraderProduct, CARDTRADER_FIELDS } from './cardtrader'
import { compileFieldPlan, type CompiledPlan } from './json-fields'

/**
 * Record normalizers by name. A normalizer fills `out` with the dataset's
 * columns in order, or throws a Rejection. Datasets refer to these by name
 * because functions cannot be sent to worker threads.
 */
export type Normalizer = (rec: unknown, out: unknown[]) => void

export const normalizers: Record<string, Normalizer> = {
  'cardtrader-product': normalizeCardtraderProduct,
}

/**
 * The fields a normalizer reads, when it can take a record read by
 * readFields instead of JSON.parse (same values for every field it reads).
 */
const fieldPlans: Record<string, CompiledPlan> = {
  'cardtrader-product': compileFieldPlan(CARDTRADER_FIELDS),
}

export function findFieldPlan (name: string): CompiledPlan | undefined {
  return Object.prototype.hasOwnProperty.call(fieldPlans, name) ? fieldPlans[name] : undefined
}

/** Looks a normalizer up by name, own entries only ("constructor" or "__proto__" are not normalizers). */
export function findNormalizer (name: string): Normalizer | undefined {
  return Object.prototype.hasOwnProperty.call(normalizers, name) ? normalizers[name] : undefined
}
