/**
 * `@batchflight/import`: bulk import of CSV and NDJSON into PostgreSQL (COPY)
 * and SQLite, chunked transactions, exactly once across crashes.
 */
export {
  importFile,
  type ImportOptions,
  type ImportProgress,
  type ImportSummary,
} from './import.js';
export { ImportError, RowRejectedError, InputChangedError } from './errors.js';
export type { Mode, Checkpoint } from './target.js';
export type { Column, ColumnKind } from './convert.js';
export { runImportCommand, importOptions, type ImportFlags, type ImportIo } from './cli.js';
