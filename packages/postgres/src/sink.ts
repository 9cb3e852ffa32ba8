/**
 * A `writeMany` for `batchflight/stream` into one PostgreSQL table,
 * idempotent by a key: every batch is one transaction of
 * `INSERT … ON CONFLICT (key) DO NOTHING`, so a message the broker delivers
 * again (its ack was lost with a crashed consumer) never doubles a row.
 *
 * Two ways in, picked by the batch's size, both one round trip of data: a
 * multi-row `INSERT … VALUES` with bound parameters (cheapest for small
 * batches: no staging), and for large ones `COPY` into a session's staging
 * table followed by `INSERT … SELECT … ON CONFLICT` (the parameters' parse
 * and bind cost grows per value, COPY's text stream does not; see
 * `copyFromRows` for the measured crossover). Either way the batch commits
 * or fails as a whole, which the stream sink's bisection relies on.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { InvalidOptionError } from 'batchflight/core';
import { describe, functionOption, integerOption, knownOptions } from 'batchflight/kit';
import type { StreamWriteContext } from 'batchflight/stream';
import { isPostgresRetryable } from './sink-retryable.js';

/** pg's own conversion of a JavaScript value to a parameter (Date, Buffer, arrays, JSON). */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils') as {
  prepareValue: (value: unknown) => string | Buffer | null;
};

/** A row as `toRow` returns it: values in the order of `columns`, or an object keyed by column. */
export type PostgresSinkRow = readonly unknown[] | Readonly<Record<string, unknown>>;

/** Options of {@link postgresSink}. */
export interface PostgresSinkOptions<T> {
  /** The pool the writes run on (the sink never ends it). */
  readonly pool: pg.Pool;
  /** The target table's name (quoted as given: `'clicks'`, not `'"clicks"'`). */
  readonly table: string;
  /** Its schema. Default: the connection's `search_path`. */
  readonly schema?: string;
  /** The columns written, in the order of an array row of `toRow`. */
  readonly columns: readonly string[];
  /**
   * The column(s) of the unique index that makes a write idempotent (the
   * `ON CONFLICT` target); each one of `columns`.
   */
  readonly key: string | readonly string[];
  /** Maps an item to its row. A throw fails the write; the item ends in the dead letter. */
  readonly toRow: (item: T) => PostgresSinkRow;
  /**
   * Batches of at least this many rows go through `COPY` into a staging
   * table, smaller ones through a multi-row `INSERT`. Default 1,000 (the
   * crossover measured in the package README; `Infinity`: never COPY).
   */
  readonly copyFromRows?: number;
  /** Name used in errors. Default `'postgresSink(<table>)'`. */
  readonly name?: string;
}

/** What a write of {@link PostgresSink.writeMany} did. */
export interface PostgresSinkResult {
  /** Rows in the batch. */
  readonly rows: number;
  /** Rows inserted; the rest had a row of their key already (a redelivery). */
  readonly inserted: number;
  /** `'insert'` (multi-row VALUES) or `'copy'` (COPY into staging + INSERT … SELECT). */
  readonly via: 'insert' | 'copy';
}

/** What {@link postgresSink} returns: spread it into `stream({ ... })`. */
export interface PostgresSink<T> {
  /** Writes the items in one transaction, skipping rows whose key exists. */
  readonly writeMany: (items: T[], ctx?: StreamWriteContext) => Promise<PostgresSinkResult>;
  /** {@link isPostgresRetryable}: connection and transaction failures retry, data errors split. */
  readonly isRetryable: (error: unknown) => boolean;
}

const KNOWN = ['pool', 'table', 'schema', 'columns', 'key', 'toRow', 'copyFromRows', 'name'];
/** PostgreSQL binds at most 65,535 parameters per statement. */
const MAX_PARAMETERS = 65_535;
const ESCAPED = /[\\\t\n\r]/g;
const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

function nonEmptyString(where: string, option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(
      option,
      `${where}: option ${option} must be a non-empty string, got ${describe(value)}.`,
    );
  }
  return value;
}

/** The statements of one sink, built once from its options. */
interface Plan {
  readonly where: string;
  readonly columns: readonly string[];
  /** `INSERT INTO "t" ("a", "b")`. */
  readonly insertInto: string;
  /** `ON CONFLICT ("id") DO NOTHING`. */
  readonly onConflict: string;
  readonly target: string;
  readonly stage: string;
  readonly columnList: string;
}

function plan<T>(options: PostgresSinkOptions<T>): Plan & {
  readonly pool: pg.Pool;
  readonly toRow: (item: T) => PostgresSinkRow;
  readonly copyFromRows: number;
} {
  const table = nonEmptyString('postgresSink()', 'table', options.table);
  const where = `postgresSink(${table})`;
  const name = options.name === undefined ? where : nonEmptyString(where, 'name', options.name);
  knownOptions(name, options, KNOWN);
  if (!(options.pool instanceof pg.Pool)) {
    throw new InvalidOptionError(
      'pool',
      `${name}: option pool must be a pg.Pool (the sink checks out one connection per batch), got ${describe(options.pool)}.`,
    );
  }
  const columns = options.columns as unknown;
  if (!Array.isArray(columns) || columns.length === 0) {
    throw new InvalidOptionError(
      'columns',
      `${name}: option columns must be a non-empty array of column names, got ${describe(columns)}.`,
    );
  }
  columns.forEach((c, i) => nonEmptyString(name, `columns[${String(i)}]`, c));
  if (new Set(columns).size !== columns.length) {
    throw new InvalidOptionError(
      'columns',
      `${name}: option columns must name each column once, got ${describe(columns)}.`,
    );
  }
  const keys = (typeof options.key === 'string' ? [options.key] : options.key) as unknown;
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => !columns.includes(k))) {
    throw new InvalidOptionError(
      'key',
      `${name}: option key must be a column, or a non-empty array of columns, of option columns (${columns.join(', ')}) with a unique index on it, got ${describe(options.key)}.`,
    );
  }
  const toRow = functionOption<(item: T) => PostgresSinkRow>(name, 'toRow', options.toRow);
  const copyFromRows =
    options.copyFromRows === undefined
      ? 1_000
      : integerOption(name, 'copyFromRows', options.copyFromRows, { allowInfinity: true });
  const ident = (s: string): string => pg.escapeIdentifier(s);
  const target =
    options.schema === undefined
      ? ident(table)
      : `${ident(nonEmptyString(name, 'schema', options.schema))}.${ident(table)}`;
  const columnList = (columns as string[]).map(ident).join(', ');
  return {
    where: name,
    pool: options.pool,
    columns: columns as string[],
    toRow,
    copyFromRows,
    target,
    columnList,
    insertInto: `INSERT INTO ${target} (${columnList})`,
    onConflict: `ON CONFLICT (${(keys as string[]).map(ident).join(', ')}) DO NOTHING`,
    // One staging table per target and session: a temporary table lives in its connection.
    stage: ident(`bf_sink_stage_${table}`.slice(0, 63)),
  };
}

/** The values of one row in column order; a wrong shape is the item's fault (not retryable). */
function values(p: Plan, row: PostgresSinkRow): readonly unknown[] {
  if (Array.isArray(row)) {
    if (row.length !== p.columns.length) {
      throw new TypeError(
        `${p.where}: toRow(item) returned ${String(row.length)} values for ${String(p.columns.length)} columns (${p.columns.join(', ')}).`,
      );
    }
    return row;
  }
  // The type says object; a JavaScript caller may still hand back anything.
  if (typeof row !== 'object' || (row as unknown) === null) {
    throw new TypeError(
      `${p.where}: toRow(item) must return an array of values in the order of columns or an object keyed by column, got ${describe(row)}.`,
    );
  }
  const record = row as Readonly<Record<string, unknown>>;
  return p.columns.map((c) => record[c]);
}

/** One field of COPY's text format: `\N` for null, bytea as hex, the four escapes. */
function copyField(value: unknown): string {
  const prepared = prepareValue(value);
  if (prepared === null) return '\\N';
  const text = Buffer.isBuffer(prepared) ? `\\x${prepared.toString('hex')}` : prepared;
  return text.replace(ESCAPED, (c) => ESCAPES[c] as string);
}

async function viaInsert(
  p: Plan,
  client: pg.Pool | pg.PoolClient,
  rows: readonly (readonly unknown[])[],
): Promise<number> {
  const width = p.columns.length;
  const perStatement = Math.floor(MAX_PARAMETERS / width);
  let inserted = 0;
  for (let start = 0; start < rows.length; start += perStatement) {
    const part = rows.slice(start, start + perStatement);
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (const row of part) {
      const base = params.length;
      tuples.push(`(${row.map((_, i) => `$${String(base + i + 1)}`).join(', ')})`);
      params.push(...row);
    }
    const result = await client.query(
      `${p.insertInto} VALUES ${tuples.join(', ')} ${p.onConflict}`,
      params,
    );
    inserted += result.rowCount ?? 0;
  }
  return inserted;
}

async function viaCopy(
  p: Plan,
  client: pg.PoolClient,
  rows: readonly (readonly unknown[])[],
): Promise<number> {
  // LIKE copies types and NOT NULL, so COPY refuses a bad value as the INSERT would. Rows go at
  // COMMIT, and a rolled-back batch takes its rows with it: the table is empty at each start.
  await client.query(
    `CREATE TEMP TABLE IF NOT EXISTS ${p.stage} (LIKE ${p.target} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
  );
  let text = '';
  for (const row of rows) text += `${row.map(copyField).join('\t')}\n`;
  await pipeline(
    Readable.from([text]),
    client.query(copyFrom(`COPY ${p.stage} (${p.columnList}) FROM STDIN`)),
  );
  const result = await client.query(
    `${p.insertInto} SELECT ${p.columnList} FROM ${p.stage} ${p.onConflict}`,
  );
  return result.rowCount ?? 0;
}

/**
 * A `writeMany` and `isRetryable` for `stream()` that write each batch into
 * a PostgreSQL table in one transaction with `ON CONFLICT (key) DO NOTHING`:
 * a redelivered item never doubles a row. Small batches are one multi-row
 * `INSERT`, large ones (`copyFromRows`) a `COPY` into a staging table and
 * one `INSERT … SELECT`. A connection or serialization failure is
 * retryable; a constraint or type error is not, so the stream sink bisects
 * the batch down to the poisoned item and dead-letters it.
 *
 * @example
 * ```ts
 * const sink = stream<Click>({
 *   ...postgresSink({
 *     pool,
 *     table: 'clicks',
 *     columns: ['id', 'user_id', 'page'],
 *     key: 'id',
 *     toRow: (click) => [click.id, click.user, click.page],
 *   }),
 *   maxItems: 1_000,
 * });
 * ```
 */
export function postgresSink<T>(options: PostgresSinkOptions<T>): PostgresSink<T> {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(
      `postgresSink(): expects an options object { pool, table, columns, key, toRow }, got ${describe(options)}.`,
    );
  }
  const p = plan(options);
  const writeMany = async (items: T[], ctx?: StreamWriteContext): Promise<PostgresSinkResult> => {
    if (ctx?.signal.aborted === true) throw ctx.signal.reason;
    const rows = items.map((item) => values(p, p.toRow(item)));
    const via = rows.length >= p.copyFromRows ? 'copy' : 'insert';
    if (via === 'insert' && rows.length * p.columns.length <= MAX_PARAMETERS) {
      // One statement is atomic by itself: no BEGIN and COMMIT round trips.
      return { rows: rows.length, inserted: await viaInsert(p, p.pool, rows), via };
    }
    const client = await p.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      try {
        const inserted =
          via === 'copy' ? await viaCopy(p, client, rows) : await viaInsert(p, client, rows);
        await client.query('COMMIT');
        return { rows: rows.length, inserted, via };
      } catch (error) {
        // A connection that failed to roll back is not handed to the next batch.
        await client.query('ROLLBACK').catch((rollback: unknown) => {
          broken = rollback;
        });
        throw error;
      }
    } finally {
      client.release(broken instanceof Error ? broken : broken !== undefined);
    }
  };
  return { writeMany, isRetryable: isPostgresRetryable };
}
