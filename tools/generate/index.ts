/** Deterministic CardTrader-shaped sample data: exports, changed versions, catalogs. */
export { generateProducts, summarize, resolveOptions, DUP_DELAY, type GenerateOptions, type Summary } from './products'
export { writeExport, readMeta, metaPath, type ExportFormat } from './export'
export { writeCatalog, catalogEntry, CATALOG_TABLES } from './catalog'
export { generateCommand, generateSpec, generateUsage } from './cli'
export { changeExport } from './change'
export { ID_BASE } from './product'
