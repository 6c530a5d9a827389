import { Rejection, INT32_MAX, int, text, bool, isPlainObject, checkText, charLength, typeName } from './values'
import { JsonText, type FieldPlan } from './json-fields'

const CURRENCY = /^[A-Z]{3}$/
/**
 * In JSON.stringify's output, a NUL or a lone surrogate appears as an escape
 * (\u0000, \udXXX) preceded by an even number of other backslashes; text that
 * merely contains a backslash followed by "u0000" has an odd number.
 */
const BAD_ESCAPE = /(?<!\\)(?:\\\\)*\\u(0000|d[89a-f][0-9a-f]{2})/i

/**
 * The fields normalizeCardtraderProduct reads, for readFields (json-fields.ts):
 * a record read this way normalizes exactly as its JSON.parse would.
 */
export const CARDTRADER_FIELDS: FieldPlan = {
  values: ['id', 'blueprint_id', 'quantity', 'price_currency', 'name_en', 'description', 'user_data_field', 'graded', 'tag', 'game_id'],
  pick: { expansion: ['code'], price_cents: ['cents', 'currency'], price: ['cents', 'currency'] },
  json: ['properties_hash'],
}

/**
 * One CardTrader product -> one row of the `cardtrader-inventory` dataset, in
 * its column order (see src/dataset/cardtrader.ts). print_id / print_table
 * are left null here: the mapping stage fills them.
 */
export function normalizeCardtraderProduct (rec: unknown, out: unknown[]): void {
  if (!isPlainObject(rec)) throw new Rejection('not_an_object', `a product must be a JSON object, got ${typeName(rec)}.`)

  const id = rec.id
  let stockId: string
  if (id === undefined || id === null) throw new Rejection('missing_field', 'id is missing.')
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id) || id < 0) throw new Rejection('invalid_value', `id must be a non-negative integer or a string, got ${id}.`)
    stockId = String(id)
  } else if (typeof id === 'string') {
    const chars = id.length > 64 ? charLength(id) : id.length
    if (chars === 0 || chars > 64) throw new Rejection('invalid_value', `id must be 1 to 64 characters, got ${chars}.`)
    checkText(id, 'id')
    stockId = id
  } else {
    throw new Rejection('invalid_type', `id must be an integer or a string, got ${typeName(id)}.`)
  }

  const blueprintId = int(rec.blueprint_id, 'blueprint_id', 1, INT32_MAX, true)
  const quantity = int(rec.quantity, 'quantity', 0, INT32_MAX, true)

  // price_cents (documented), price_cents as {cents, currency} (documented elsewhere), or price {cents, currency}.
  let cents: unknown = rec.price_cents
  let currency: unknown = rec.price_currency
  const priceObj = isPlainObject(cents) ? cents : (cents === undefined || cents === null) && isPlainObject(rec.price) ? rec.price : undefined
  if (priceObj !== undefined) {
    cents = priceObj.cents
    if (currency === undefined || currency === null) currency = priceObj.currency
  }
  const priceCents = int(cents, 'price_cents', 0, INT32_MAX, true)
  if (currency !== undefined && currency !== null && (typeof currency !== 'string' || !CURRENCY.test(currency))) {
    throw new Rejection('invalid_value', `price_currency must be a three-letter currency code, got ${typeName(currency)}.`)
  }

  const props = rec.properties_hash
  let propsJson = '{}'
  if (props !== undefined && props !== null) {
    if (!isPlainObject(props)) throw new Rejection('invalid_type', `properties_hash must be an object, got ${typeName(props)}.`)
    propsJson = props instanceof JsonText ? props.text : JSON.stringify(props)
    checkText(propsJson, 'properties_hash')
    const bad = propsJson.includes('\\u') ? BAD_ESCAPE.exec(propsJson) : null
    if (bad !== null) {
      if (bad[1] === '0000') throw new Rejection('nul_byte', 'properties_hash contains a NUL character, which PostgreSQL jsonb cannot store.')
      throw new Rejection('invalid_value', 'properties_hash contains a lone UTF-16 surrogate, which is not valid Unicode text.')
    }
  }

  const expansion = rec.expansion
  const expansionCode = isPlainObject(expansion) ? text(expansion.code, 'expansion.code') : null

  out[0] = blueprintId
  out[1] = stockId
  out[2] = null
  out[3] = null
  out[4] = text(rec.name_en, 'name_en')
  out[5] = quantity
  out[6] = priceCents
  out[7] = currency ?? null
  out[8] = propsJson
  out[9] = text(rec.description, 'description')
  out[10] = text(rec.user_data_field, 'user_data_field')
  out[11] = bool(rec.graded, 'graded')
  out[12] = text(rec.tag, 'tag')
  out[13] = int(rec.game_id, 'game_id', 0, INT32_MAX, false)
  out[14] = expansionCode
}
