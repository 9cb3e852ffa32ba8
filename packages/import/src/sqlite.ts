/** SQLite target: prepared multi-row INSERTs, one transaction per chunk (better-sqlite3 is synchronous). */
import Database from 'better-sqlite3';
import { type Column, type Converted, sqliteKind } from './convert.js';
import { ImportError } from './errors.js';
import {
  type Applied,
  bisect,
  type Checkpoint,
  ident,
  type Row,
  type Target,
  type TargetSpec,
} from './target.js';

const CHECKPOINTS = 'batchflight_import_checkpoint';

function bind(column: Column, value: Converted): unknown {
  if (value === null) return null;
  switch (column.kind) {
    case 'bool':
      return value === 'true' ? 1 : 0;
    case 'int16':
    case 'int32':
    case 'int64': {
      const n = BigInt(value);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(n)
        : n;
    }
    case 'float':
    case 'numeric':
      return Number(value);
    default:
      return value;
  }
}

/** Opens a SQLite file as an import target. */
export function sqliteTarget(file: string, spec: TargetSpec): Target {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.defaultSafeIntegers(false);
  db.exec(`CREATE TABLE IF NOT EXISTS ${CHECKPOINTS} (id TEXT PRIMARY KEY, state TEXT NOT NULL)`);
  const table = ident(spec.table);
  const statements = new Map<number, Database.Statement>();
  let all: Column[] = [];

  const statement = (count: number): Database.Statement => {
    let s = statements.get(count);
    if (s !== undefined) return s;
    const cols = spec.columns ?? all;
    const tuple = `(${cols.map(() => '?').join(',')})`;
    let sql = `INSERT INTO ${table} (${cols.map((c) => ident(c.name)).join(',')}) VALUES ${Array.from({ length: count }, () => tuple).join(',')}`;
    if (spec.mode !== 'insert') {
      const keys = spec.key.map(ident).join(',');
      const rest = cols.filter((c) => !spec.key.includes(c.name));
      sql +=
        spec.mode === 'upsert' && rest.length > 0
          ? ` ON CONFLICT (${keys}) DO UPDATE SET ${rest.map((c) => `${ident(c.name)} = excluded.${ident(c.name)}`).join(', ')}`
          : ` ON CONFLICT (${keys}) DO NOTHING`;
    }
    s = db.prepare(sql);
    statements.set(count, s);
    return s;
  };

  const insert = (rows: readonly Row[]): Applied => {
    const cols = spec.columns ?? all;
    // SQLite binds at most 32766 parameters per statement.
    const per = Math.max(1, Math.min(500, Math.floor(32_766 / cols.length)));
    let existing = 0;
    let distinct = rows.length;
    if (spec.mode !== 'insert') {
      // Counting the keys already present tells inserted from updated/skipped rows
      // (SQLite's changes() counts both alike).
      const keyIdx = spec.key.map((k) => cols.findIndex((c) => c.name === k));
      const seen = new Set<string>();
      const where = spec.key.map((k) => `${ident(k)} IS ?`).join(' AND ');
      const probe = db.prepare(`SELECT 1 FROM ${table} WHERE ${where} LIMIT 1`);
      for (const row of rows) {
        const args = keyIdx.map((i) => {
          const c = cols[i];
          return c === undefined ? null : bind(c, row.values[i] ?? null);
        });
        const k = JSON.stringify(args, (_k, v: unknown) =>
          typeof v === 'bigint' ? v.toString() : v,
        );
        if (seen.has(k)) continue;
        seen.add(k);
        if (probe.get(...args) !== undefined) existing++;
      }
      distinct = seen.size;
    }
    for (let i = 0; i < rows.length; i += per) {
      const slice = rows.slice(i, i + per);
      const args: unknown[] = [];
      for (const row of slice) {
        for (let c = 0; c < cols.length; c++) {
          const col = cols[c];
          if (col !== undefined) args.push(bind(col, row.values[c] ?? null));
        }
      }
      statement(slice.length).run(...args);
    }
    const inserted = distinct - existing;
    return spec.mode === 'upsert'
      ? { inserted, updated: rows.length - inserted, skipped: 0 }
      : spec.mode === 'skip-existing'
        ? { inserted, updated: 0, skipped: rows.length - inserted }
        : { inserted: rows.length, updated: 0, skipped: 0 };
  };

  const saveCheckpoint = db.prepare(
    `INSERT INTO ${CHECKPOINTS} (id, state) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state`,
  );

  return {
    columns() {
      const info = db.prepare(`PRAGMA table_info(${table})`).all() as {
        name: string;
        type: string;
      }[];
      if (info.length === 0) {
        throw new ImportError(
          `import: table ${JSON.stringify(spec.table)} does not exist in the SQLite database.`,
        );
      }
      all = info.map((c) => ({ name: c.name, type: c.type, kind: sqliteKind(c.type) }));
      return Promise.resolve(all);
    },
    readCheckpoint(id) {
      const row = db.prepare(`SELECT state FROM ${CHECKPOINTS} WHERE id = ?`).get(id) as
        { state: string } | undefined;
      return Promise.resolve(row === undefined ? undefined : (JSON.parse(row.state) as Checkpoint));
    },
    lanes: 1,
    async stage(_lane, rows, reject) {
      const total: Applied = { inserted: 0, updated: 0, skipped: 0 };
      let depth = 0;
      db.exec('BEGIN IMMEDIATE');
      try {
        await bisect(
          rows,
          insert,
          {
            begin: () => {
              db.exec(`SAVEPOINT bf${String(++depth)}`);
            },
            release: () => {
              db.exec(`RELEASE bf${String(depth--)}`);
            },
            rollback: () => {
              db.exec(`ROLLBACK TO bf${String(depth)}`);
              db.exec(`RELEASE bf${String(depth--)}`);
            },
          },
          reject,
          total,
        );
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
      return {
        applied: total,
        commit(cp) {
          try {
            saveCheckpoint.run(cp.id, JSON.stringify(cp));
            db.exec('COMMIT');
          } catch (error) {
            if (db.inTransaction) db.exec('ROLLBACK');
            throw error;
          }
          return Promise.resolve();
        },
        rollback() {
          if (db.inTransaction) db.exec('ROLLBACK');
          return Promise.resolve();
        },
      };
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}
