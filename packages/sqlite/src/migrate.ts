/**
 * Applies the SQLite store's migrations (`migrations.ts`): each inside the
 * `BEGIN IMMEDIATE` transaction that records it in `<prefix>migrations`, the
 * version row first, so concurrent processes serialise on the write lock and
 * a second migrator sees the recorded version and skips.
 */
import type Database from 'better-sqlite3';
import type { Clock } from 'batchflight/core';
import { MIGRATIONS } from './migrations.js';
import { SCHEMA_PLACEHOLDER } from './sql/generated.js';

/** `sql` with the table prefix `p` where it says `{{schema}}.`. */
export const withPrefix = (sql: string, p: string): string =>
  sql.replaceAll(`${SCHEMA_PLACEHOLDER}.`, p);

/** Applies every migration newer than the recorded version, in one transaction. */
export function migrate(db: Database.Database, p: string, clock: Clock): void {
  db.transaction(() => {
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${p}migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
    );
    const current = schemaVersion(db, p);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      // The version row first: a concurrent migrator that somehow got here collides on the key.
      db.prepare(`INSERT INTO ${p}migrations (version, name, applied_at) VALUES (?, ?, ?)`).run(
        m.version,
        m.name,
        clock.now(),
      );
      db.exec(withPrefix(m.sql, p));
    }
  }).immediate();
}

/** The schema version recorded in `<prefix>migrations` (0 when none). */
export function schemaVersion(db: Database.Database, p: string): number {
  const row = db.prepare(`SELECT MAX(version) AS v FROM ${p}migrations`).get() as {
    v: number | null;
  };
  return row.v ?? 0;
}
