/**
 * PostgreSQL target: COPY … FROM STDIN (text format) per chunk; with a key,
 * COPY into a session temporary staging table, then INSERT … SELECT … ON
 * CONFLICT, in the chunk's transaction.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type Column, type Converted, pgKind } from './convert.js';
import { ImportError } from './errors.js';
import type { RawChunk, RawRecord } from './csv-chunks.js';
import {
  type Applied,
  bisect,
  ident,
  type Row,
  type Savepoint,
  type Staged,
  splitName,
  type Target,
  type TargetSpec,
  type Checkpoint,
} from './target.js';

/** The CSV syntax COPY is told: single bytes. */
type CsvSyntax = { readonly delimiter: string; readonly quote: string };

/** The staging table's input-order column (not a column of the target). */
const STAGE_ROW = '"bf import row"';

// Types compared as they are; others (json has no equality, geometric types compare areas)
// are compared as text.
const COMPARABLE = new Set([
  'int16',
  'int32',
  'int64',
  'float',
  'numeric',
  'bool',
  'date',
  'timestamp',
  'uuid',
]);
const CHARACTER = /^(text|character varying|character|varchar|char|citext|bytea)\b/i;

function comparable(column: Column, expression: string): string {
  return COMPARABLE.has(column.kind) || CHARACTER.test(column.type)
    ? expression
    : `${expression}::text`;
}

/** A one-character SQL string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function add(total: Applied, applied: Applied): void {
  total.inserted += applied.inserted;
  total.updated += applied.updated;
  total.skipped += applied.skipped;
}

// PostgreSQL's COPY context: "COPY users, line 3, column age: \"x\"". The line counts the
// records of this COPY's data from 1 (a quoted newline does not start a line).
const COPY_CONTEXT = /, line (\d+)(?:, column ([^:]+))?/;

function copyLine(error: unknown): number | undefined {
  const where = (error as { where?: unknown }).where;
  if (typeof where !== 'string') return undefined;
  const match = COPY_CONTEXT.exec(where);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** The reason a refused record is rejected with: the server's message and the column it names. */
function refusal(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const where = (error as { where?: unknown }).where;
  const column = typeof where === 'string' ? COPY_CONTEXT.exec(where)?.[2] : undefined;
  return column === undefined ? message : `${message} (column ${column})`;
}

const ESCAPES = /[\\\t\n\r]/g;
const escapeOne = (c: string): string =>
  c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r';

function copyText(rows: readonly Row[]): string {
  let out = '';
  for (const row of rows) {
    out +=
      row.values
        .map((v: Converted) => (v === null ? '\\N' : v.replace(ESCAPES, escapeOne)))
        .join('\t') + '\n';
  }
  return out;
}

/** What the connections of one target share: the table, its checkpoint table and the spec. */
interface Shared {
  readonly spec: TargetSpec;
  readonly table: string;
  readonly checkpoints: string;
  readonly cols: () => string;
}

/** The rows applied so far in a transaction, and how it commits with its checkpoint. */
type Finish = (applied: Applied) => Staged;

/**
 * One connection of the target and the transaction state it carries: the
 * session's staging table, its savepoint and its chunk's statements.
 */
function openLane(client: pg.Client, shared: Shared) {
  const { spec, table, checkpoints, cols } = shared;
  let staged = false;
  let stageHasRows = false;

  // COPY in text format for rows converted in JavaScript, in CSV format for the input's own
  // bytes. FORCE_NULL makes a quoted empty field NULL too, as the JavaScript path does.
  const copyInto = async (
    into: string,
    payload: string | Buffer,
    csv?: CsvSyntax,
  ): Promise<void> => {
    const format =
      csv === undefined
        ? ''
        : ` WITH (FORMAT csv, DELIMITER ${literal(csv.delimiter)}, QUOTE ${literal(csv.quote)}, FORCE_NULL (${cols()}))`;
    const stream = client.query(copyFrom(`COPY ${into} (${cols()}) FROM STDIN${format}`));
    await pipeline(Readable.from([payload]), stream);
  };

  const attempt = async (
    payload: string | Buffer,
    count: number,
    csv?: CsvSyntax,
  ): Promise<Applied> => {
    if (spec.mode === 'insert') {
      await copyInto(table, payload, csv);
      return { inserted: count, updated: 0, skipped: 0 };
    }
    if (!staged) {
      // LIKE copies the column types and NOT NULL, so COPY already refuses those rows; the
      // row number keeps the input order for "the last row of a key wins".
      await client.query(
        `CREATE TEMP TABLE IF NOT EXISTS bf_import_stage (LIKE ${table} INCLUDING DEFAULTS, ${STAGE_ROW} bigserial) ON COMMIT DELETE ROWS`,
      );
      staged = true;
    }
    // The staging table is empty at the start of each transaction (ON COMMIT DELETE ROWS, and
    // a rolled-back attempt takes its rows with it); only a part applied before in the same
    // transaction leaves rows to clear.
    if (stageHasRows) await client.query('TRUNCATE bf_import_stage');
    await copyInto('bf_import_stage', payload, csv);
    stageHasRows = true;
    const keys = spec.key.map(ident).join(', ');
    const rest = (spec.columns ?? []).filter((c) => !spec.key.includes(c.name));
    // A row equal to the stored one is not rewritten (no dead tuple, no WAL): re-running an
    // import of an unchanged file costs reads only. Such rows count as skipped.
    const action =
      spec.mode === 'upsert' && rest.length > 0
        ? `DO UPDATE SET ${rest.map((c) => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`).join(', ')} WHERE (${rest.map((c) => comparable(c, `${table}.${ident(c.name)}`)).join(', ')}) IS DISTINCT FROM (${rest.map((c) => comparable(c, `EXCLUDED.${ident(c.name)}`)).join(', ')})`
        : 'DO NOTHING';
    // DISTINCT ON keeps the last row of a key within the chunk: ON CONFLICT DO UPDATE cannot
    // touch the same row twice in one statement.
    const result = await client.query<{ keys: number; ins: number; upd: number }>(
      `WITH src AS MATERIALIZED (SELECT DISTINCT ON (${keys}) ${cols()} FROM bf_import_stage ORDER BY ${keys}, ${STAGE_ROW} DESC),
            r AS (INSERT INTO ${table} (${cols()}) SELECT ${cols()} FROM src ON CONFLICT (${keys}) ${action} RETURNING (xmax = 0) AS ins)
       SELECT (SELECT count(*) FROM src)::int AS keys, count(*) FILTER (WHERE ins)::int AS ins, count(*) FILTER (WHERE NOT ins)::int AS upd FROM r`,
    );
    const distinct = result.rows[0]?.keys ?? 0;
    const inserted = result.rows[0]?.ins ?? 0;
    if (spec.mode !== 'upsert') return { inserted, updated: 0, skipped: count - inserted };
    // A key repeated within the chunk counts as updated (its last row wins); a row equal to the
    // stored one as skipped.
    const updated = (result.rows[0]?.upd ?? 0) + (count - distinct);
    return { inserted, updated, skipped: distinct - inserted - (result.rows[0]?.upd ?? 0) };
  };

  const savepoint: Savepoint = {
    begin: async () => {
      await client.query('SAVEPOINT bf');
    },
    release: async () => {
      await client.query('RELEASE SAVEPOINT bf');
    },
    rollback: async () => {
      await client.query('ROLLBACK TO SAVEPOINT bf');
      await client.query('RELEASE SAVEPOINT bf');
    },
  };

  // The checkpoint and the commit, in one round trip (a simple query of three statements: if
  // one fails, the rest do not run and the caller rolls back).
  const finish: Finish = (applied) => ({
    applied,
    async commit(cp) {
      // A chunk's rows and its checkpoint commit together, so a commit the server loses in a
      // crash loses both and the resume redoes that chunk: waiting for each chunk's WAL flush
      // buys nothing. The last chunk commits synchronously, which flushes every earlier one:
      // when the import returns, all of it is durable.
      const asynchronous = cp.done ? '' : "SET LOCAL synchronous_commit = 'off'; ";
      try {
        await client.query(
          `${asynchronous}INSERT INTO ${checkpoints} (id, state)
           VALUES (${client.escapeLiteral(cp.id)}, ${client.escapeLiteral(JSON.stringify(cp))})
           ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, updated_at = now(); COMMIT`,
        );
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
    async rollback() {
      await client.query('ROLLBACK');
    },
  });

  /**
   * One transaction, left open: `whole` applies the chunk in one statement without a
   * savepoint (the transaction holds nothing else): when it fails, the transaction is rolled
   * back and `apply` goes through it under savepoints.
   */
  const transaction = async (
    whole: () => Promise<Applied>,
    apply: (total: Applied) => Promise<void>,
  ): Promise<Staged> => {
    stageHasRows = false;
    await client.query('BEGIN');
    try {
      return finish(await whole());
    } catch {
      // A refused row, most likely; a connection that is gone fails again below.
      await client.query('ROLLBACK').catch(() => undefined);
    }
    const total: Applied = { inserted: 0, updated: 0, skipped: 0 };
    stageHasRows = false;
    await client.query('BEGIN');
    try {
      await apply(total);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    return finish(total);
  };

  /**
   * Applies records [from, to) of a raw chunk. COPY names the line (record) it refused, so a
   * refused record costs one retry of the records before it and one of itself, not a
   * bisection; an error without a line (a constraint checked after the COPY, the upsert's
   * INSERT) is bisected.
   */
  const applyRaw = async (
    chunk: RawChunk,
    range: { from: number; to: number },
    csv: CsvSyntax,
    reject: (record: RawRecord, reason: string) => void,
    total: Applied,
  ): Promise<void> => {
    let { from } = range;
    const { to } = range;
    const again = (a: number, b: number): Promise<void> =>
      applyRaw(chunk, { from: a, to: b }, csv, reject, total);
    while (from < to) {
      const first = chunk.records[from];
      const last = chunk.records[to - 1];
      if (first === undefined || last === undefined) return;
      await savepoint.begin();
      try {
        add(total, await attempt(chunk.data.subarray(first.start, last.end), to - from, csv));
        await savepoint.release();
        return;
      } catch (error) {
        await savepoint.rollback();
        if (to - from === 1) {
          reject(first, refusal(error));
          return;
        }
        const line = copyLine(error);
        if (line === undefined || line > to - from) {
          const half = from + Math.ceil((to - from) / 2);
          await again(from, half);
          await again(half, to);
          return;
        }
        const refused = from + line - 1;
        await again(from, refused);
        await again(refused, refused + 1);
        from = refused + 1;
      }
    }
  };

  return {
    client,
    stage(rows: readonly Row[], reject: (row: Row, reason: string) => void): Promise<Staged> {
      const one = (part: readonly Row[]): Promise<Applied> => attempt(copyText(part), part.length);
      return transaction(
        () => one(rows),
        (total) => bisect(rows, one, savepoint, reject, total),
      );
    },
    stageRawCsv(
      chunk: RawChunk,
      csv: CsvSyntax,
      reject: (record: RawRecord, reason: string) => void,
    ): Promise<Staged> {
      const range = { from: 0, to: chunk.records.length };
      return transaction(
        () => attempt(chunk.data, chunk.records.length, csv),
        (total) => applyRaw(chunk, range, csv, reject, total),
      );
    },
  };
}

type Lane = ReturnType<typeof openLane>;

// Two connections: while one commits a chunk (its checkpoint and COMMIT round trip), the other
// already COPYs the next, so the server is not idle between chunks. A third would add no
// overlap: a chunk's statements start only once the previous chunk's statements finished.
const LANES = 2;

/** Connects to PostgreSQL as an import target. */
export async function postgresTarget(url: string, spec: TargetSpec): Promise<Target> {
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < LANES; i++) {
      const client = new pg.Client({ connectionString: url });
      clients.push(client);
      await client.connect();
    }
  } catch (error) {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    throw error;
  }
  const [client] = clients as [pg.Client];
  const { schema, table: bare } = splitName(spec.table);
  const table = schema === undefined ? ident(bare) : `${ident(schema)}.${ident(bare)}`;
  const checkpoints =
    schema === undefined
      ? 'batchflight_import_checkpoint'
      : `${ident(schema)}.batchflight_import_checkpoint`;
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${checkpoints} (id text PRIMARY KEY, state jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
  );
  const cols = (): string => (spec.columns ?? []).map((c) => ident(c.name)).join(', ');
  const lanes = clients.map((c) => openLane(c, { spec, table, checkpoints, cols }));
  const lane = (i: number): Lane => lanes[i % lanes.length] as Lane;

  return {
    lanes: lanes.length,
    async columns() {
      const reg = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [
        table,
      ]);
      const oid = reg.rows[0]?.oid ?? null;
      if (oid === null) {
        throw new ImportError(
          `import: table ${JSON.stringify(spec.table)} does not exist in the PostgreSQL database.`,
        );
      }
      const res = await client.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
          WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [oid],
      );
      return res.rows.map((c) => ({ name: c.name, type: c.type, kind: pgKind(c.type) }));
    },
    async readCheckpoint(id) {
      const res = await client.query<{ state: Checkpoint }>(
        `SELECT state FROM ${checkpoints} WHERE id = $1`,
        [id],
      );
      return res.rows[0]?.state;
    },
    stage: (i, rows, reject) => lane(i).stage(rows, reject),
    stageRawCsv: (i, chunk, csv, reject) => lane(i).stageRawCsv(chunk, csv, reject),
    async close() {
      await Promise.all(clients.map((c) => c.end()));
    },
  };
}
