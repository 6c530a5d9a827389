import type { DatasetSpec } from './types'

/** CardTrader `GET /products/export` into `user_inventory_items`, one user per sync. */
export const cardtraderInventory: DatasetSpec = {
  name: 'cardtrader-inventory',
  table: 'user_inventory_items',
  scope: [{ name: 'user_id', type: 'uuid', nullable: false }],
  scopeAlias: { userId: 'user_id' },
  columns: [
    { name: 'blueprint_id', type: 'int4', nullable: false },
    { name: 'external_stock_id', type: 'text', nullable: false },
    { name: 'print_id', type: 'int4' },
    { name: 'print_table', type: 'text' },
    { name: 'name_en', type: 'text' },
    { name: 'quantity', type: 'int4', nullable: false },
    { name: 'price_cents', type: 'int4', nullable: false },
    { name: 'price_currency', type: 'text' },
    { name: 'properties', type: 'jsonb', nullable: false },
    { name: 'description', type: 'text' },
    { name: 'user_data_field', type: 'text' },
    { name: 'graded', type: 'bool' },
    { name: 'tag', type: 'text' },
    { name: 'game_id', type: 'int4' },
    { name: 'expansion_code', type: 'text' },
  ],
  key: ['blueprint_id', 'external_stock_id'],
  normalizer: 'cardtrader-product',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  mapping: { from: 'blueprint_id', to: ['print_id', 'print_table'], unmappedReason: 'unmapped_blueprint' },
}

/**
 * The CardTrader catalog: the mapping's default configuration. Blueprints
 * resolve through these MySQL tables in priority order (first hit wins),
 * each keyed by its `cardtrader_id` column.
 */
export const cardtraderCatalog = {
  tables: [
    { table: 'cards_prints', kind: 'cards_prints' },
    { table: 'op_prints', kind: 'op_prints' },
    { table: 'pk_prints', kind: 'pk_prints' },
    { table: 'sealed_products', kind: 'sealed_products' },
  ],
  externalColumn: 'cardtrader_id',
  idColumn: 'id',
}
