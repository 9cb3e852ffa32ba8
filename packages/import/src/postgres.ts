/**
 * PostgreSQL target: COPY … FROM STDIN (text format) per chunk; with a key,
 * COPY into a session temporary staging table, then INSERT … SELECT … ON
 * CONFLICT, in the chunk's transaction.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type Converted, pgKind } from './convert.js';
import { ImportError } from './errors.js';
import {
  type Applied,
  bisect,
  ident,
  type Row,
  splitName,
  type Target,
  type TargetSpec,
  type Checkpoint,
} from './target.js';

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

/** Connects to PostgreSQL as an import target. */
export async function postgresTarget(url: string, spec: TargetSpec): Promise<Target> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { schema, table: bare } = splitName(spec.table);
  const table = schema === undefined ? ident(bare) : `${ident(schema)}.${ident(bare)}`;
  const checkpoints =
    schema === undefined
      ? 'batchflight_import_checkpoint'
      : `${ident(schema)}.batchflight_import_checkpoint`;
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${checkpoints} (id text PRIMARY KEY, state jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
  );
  let staged = false;
  const cols = (): string => (spec.columns ?? []).map((c) => ident(c.name)).join(', ');

  const copyInto = async (into: string, rows: readonly Row[]): Promise<void> => {
    const stream = client.query(copyFrom(`COPY ${into} (${cols()}) FROM STDIN`));
    await pipeline(Readable.from([copyText(rows)]), stream);
  };

  const attempt = async (rows: readonly Row[]): Promise<Applied> => {
    if (spec.mode === 'insert') {
      await copyInto(table, rows);
      return { inserted: rows.length, updated: 0, skipped: 0 };
    }
    if (!staged) {
      // LIKE copies the column types and NOT NULL, so COPY already refuses those rows.
      await client.query(
        `CREATE TEMP TABLE IF NOT EXISTS bf_import_stage (LIKE ${table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
      );
      staged = true;
    }
    await client.query('TRUNCATE bf_import_stage');
    await copyInto('bf_import_stage', rows);
    const keys = spec.key.map(ident).join(', ');
    const rest = (spec.columns ?? []).filter((c) => !spec.key.includes(c.name));
    const action =
      spec.mode === 'upsert' && rest.length > 0
        ? `DO UPDATE SET ${rest.map((c) => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`).join(', ')}`
        : 'DO NOTHING';
    // DISTINCT ON keeps the last row of a key within the chunk (the staging table is
    // filled by one COPY after a TRUNCATE, so ctid follows input order): ON CONFLICT
    // DO UPDATE cannot touch the same row twice in one statement.
    const result = await client.query<{ ins: number }>(
      `WITH r AS (INSERT INTO ${table} (${cols()}) SELECT DISTINCT ON (${keys}) ${cols()} FROM bf_import_stage ORDER BY ${keys}, ctid DESC ON CONFLICT (${keys}) ${action} RETURNING (xmax = 0) AS ins) SELECT count(*) FILTER (WHERE ins)::int AS ins FROM r`,
    );
    const inserted = result.rows[0]?.ins ?? 0;
    return spec.mode === 'upsert'
      ? { inserted, updated: rows.length - inserted, skipped: 0 }
      : { inserted, updated: 0, skipped: rows.length - inserted };
  };

  return {
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
    async commit(rows, checkpoint, reject) {
      const total: Applied = { inserted: 0, updated: 0, skipped: 0 };
      await client.query('BEGIN');
      try {
        await bisect(
          rows,
          attempt,
          {
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
          },
          reject,
          total,
        );
        const cp = checkpoint(total);
        await client.query(
          `INSERT INTO ${checkpoints} (id, state) VALUES ($1, $2)
           ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
          [cp.id, JSON.stringify(cp)],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      return total;
    },
    async close() {
      await client.end();
    },
  };
}
