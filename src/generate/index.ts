/** Deterministic CardTrader-shaped sample data: exports, changed versions, catalogs. */
export { generateProducts, summarize, resolveOptions, DUP_DELAY, type GenerateOptions, type Summary } from './products'
export { writeExport, readMeta, metaPath, type ExportFormat } from './export'
export { writeCatalog, catalogEntry, CATALOG_TABLES } from './catalog'
export { generateCommand, generateUsage } from './cli'
export { ID_BASE } from './product'
