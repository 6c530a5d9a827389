import type { DatasetSpec } from '../types'

/**
 * Catalog CSV uploads (seed 004): one upload per scope, upsert on
 * (csv_upload_id, variant_id); a variant listed twice in one upload: the
 * last one wins and the earlier ones are counted as duplicates.
 */
export const catalogSnapshots: DatasetSpec = {
  name: 'catalog-snapshots',
  table: 'catalog_snapshots',
  scope: [{ name: 'csv_upload_id', type: 'int8' }],
  columns: [
    { name: 'variant_id', type: 'text', nullable: false },
    { name: 'sku', type: 'text' },
    { name: 'product_name', type: 'text' },
    { name: 'price', type: 'numeric(12,2)' },
    { name: 'currency', type: 'text' },
    { name: 'stock', type: 'int4', min: 0 },
    { name: 'attributes', type: 'jsonb' },
  ],
  key: ['variant_id'],
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  mode: 'upsert',
}
