/** The contract between the import loop and a database. */
import type { Column, Converted } from './convert.js';
import type { RawChunk, RawRecord } from './csv-chunks.js';

/** One converted row and the 1-based line where it starts in the input. */
export interface Row {
  readonly line: number;
  readonly values: readonly Converted[];
}

/** What is stored, in the target database, after each committed chunk. */
export interface Checkpoint {
  readonly id: string;
  /** Input size in bytes at the start, or -1 for stdin. */
  readonly size: number;
  /** Hex SHA-256 of bytes [0, offset). */
  readonly sha256: string;
  /** Byte offset just past the last record of the last committed chunk. */
  readonly offset: number;
  /** Last line consumed. */
  readonly line: number;
  /** Records read up to `offset` (rejected included). */
  readonly rows: number;
  /** The field names of the input (its header), so a resume can parse from `offset`. */
  readonly fields: readonly string[];
  readonly inserted: number;
  readonly updated: number;
  readonly skipped: number;
  readonly rejected: number;
  /** True once the whole input is committed. */
  readonly done: boolean;
}

/** How rows meet existing ones: plain insert, insert-or-update on the key, or keep the existing row. */
export type Mode = 'insert' | 'upsert' | 'skip-existing';

/** Counts of one applied set of rows. */
export interface Applied {
  inserted: number;
  updated: number;
  skipped: number;
}

/**
 * A database the importer writes to. `commit` applies the rows and writes the
 * checkpoint in one transaction; a row the database refuses is isolated by
 * bisection under savepoints and handed to `reject`, which throws to abort the
 * whole chunk (the transaction is then rolled back).
 */
export interface Target {
  columns(): Promise<readonly Column[]>;
  readCheckpoint(id: string): Promise<Checkpoint | undefined>;
  commit(
    rows: readonly Row[],
    checkpoint: (applied: Applied) => Checkpoint,
    reject: (row: Row, reason: string) => void,
  ): Promise<Applied>;
  /**
   * Applies a chunk of CSV records as the input's own bytes, which the database parses and
   * converts (PostgreSQL's `COPY … (FORMAT csv)`), with the checkpoint, in one transaction;
   * a record it refuses goes to `reject` as in {@link Target.commit}. Absent on targets that
   * cannot parse CSV themselves: the importer then parses and converts in JavaScript.
   */
  commitRawCsv?(
    chunk: RawChunk,
    csv: { readonly delimiter: string; readonly quote: string },
    checkpoint: (applied: Applied) => Checkpoint,
    reject: (record: RawRecord, reason: string) => void,
  ): Promise<Applied>;
  close(): Promise<void>;
}

/** Target setup shared by both databases. */
export interface TargetSpec {
  readonly table: string;
  /** The target columns the rows' values are for, in order. */
  columns?: readonly Column[];
  readonly key: readonly string[];
  readonly mode: Mode;
}

/** The savepoint a bisection rolls back to: one per attempt. */
export interface Savepoint {
  begin: () => Promise<void> | void;
  release: () => Promise<void> | void;
  rollback: () => Promise<void> | void;
}

/** Applies `rows` with bisection: a failing set is halved until the failing rows are alone. */
export async function bisect<T>(
  rows: readonly T[],
  attempt: (rows: readonly T[]) => Promise<Applied> | Applied,
  savepoint: Savepoint,
  reject: (row: T, reason: string) => void,
  total: Applied,
): Promise<void> {
  if (rows.length === 0) return;
  await savepoint.begin();
  try {
    const applied = await attempt(rows);
    await savepoint.release();
    total.inserted += applied.inserted;
    total.updated += applied.updated;
    total.skipped += applied.skipped;
    return;
  } catch (error) {
    await savepoint.rollback();
    const first = rows[0];
    if (rows.length === 1 && first !== undefined) {
      reject(first, error instanceof Error ? error.message : String(error));
      return;
    }
    const half = Math.ceil(rows.length / 2);
    await bisect(rows.slice(0, half), attempt, savepoint, reject, total);
    await bisect(rows.slice(half), attempt, savepoint, reject, total);
    return;
  }
}

/** Splits `schema.table` (either part may be double-quoted) into its parts. */
export function splitName(name: string): { schema: string | undefined; table: string } {
  const parts = name.match(/"(?:[^"]|"")*"|[^.]+/g) ?? ([] as string[]);
  const unquote = (p: string): string =>
    p.startsWith('"') ? p.slice(1, -1).replaceAll('""', '"') : p;
  if (parts.length === 2 && parts[0] !== undefined && parts[1] !== undefined) {
    return { schema: unquote(parts[0]), table: unquote(parts[1]) };
  }
  return { schema: undefined, table: unquote(name) };
}

/** Double-quotes an identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
