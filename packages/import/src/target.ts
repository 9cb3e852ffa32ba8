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
 * A chunk applied inside its own open transaction, waiting for its turn to
 * commit: chunks commit in input order, so a checkpoint never covers a chunk
 * that is not committed.
 */
export interface Staged {
  /** What applying the chunk did (rows refused and rejected are not counted). */
  readonly applied: Applied;
  /** Writes the checkpoint in the chunk's transaction and commits it. */
  commit(checkpoint: Checkpoint): Promise<void>;
  /** Rolls the chunk back: a chunk before it failed, so it must not commit. */
  rollback(): Promise<void>;
}

/**
 * A database the importer writes to, in two phases per chunk: `stage` applies
 * the rows in a new transaction (a row the database refuses is isolated by
 * bisection under savepoints and handed to `reject`, which throws to abort the
 * chunk: the transaction is then rolled back and `stage` rejects), and the
 * returned {@link Staged} commits it with its checkpoint. Up to `lanes` chunks
 * are open at once, each on its own connection; the importer starts a chunk's
 * statements only after the previous chunk's statements finished, so a lane
 * never waits on a lock of a later chunk (the earlier chunk's commit never
 * waits for anything, which rules out a deadlock no server would see).
 */
export interface Target {
  /** Chunks that may be staged, uncommitted, at once: one per connection. */
  readonly lanes: number;
  columns(): Promise<readonly Column[]>;
  readCheckpoint(id: string): Promise<Checkpoint | undefined>;
  /** Applies converted rows in lane `lane`'s new transaction. */
  stage(
    lane: number,
    rows: readonly Row[],
    reject: (row: Row, reason: string) => void,
  ): Promise<Staged>;
  /**
   * Applies a chunk of CSV records as the input's own bytes, which the database parses and
   * converts (PostgreSQL's `COPY … (FORMAT csv)`), in lane `lane`'s new transaction; a
   * record it refuses goes to `reject` as in {@link Target.stage}. Absent on targets that
   * cannot parse CSV themselves: the importer then parses and converts in JavaScript.
   */
  stageRawCsv?(
    lane: number,
    chunk: RawChunk,
    csv: { readonly delimiter: string; readonly quote: string },
    reject: (record: RawRecord, reason: string) => void,
  ): Promise<Staged>;
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
