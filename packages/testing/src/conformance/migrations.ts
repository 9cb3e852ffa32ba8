/**
 * The suite every store's shipped migrations pass: numbered 1, 2, 3, …
 * without gaps, and each released migration kept byte for byte. A database
 * that ran a migration never runs it again, so an edited one would leave the
 * databases already on it with another schema than fresh ones.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

/** A shipped migration as a store lists it. */
export interface ShippedMigration {
  readonly version: number;
  readonly name: string;
  /** The text the store runs (before it fills in its schema or prefix). */
  readonly sql: string;
}

/** The SHA-256 (hex) of a migration's text, as {@link releasedMigrationsConformance} compares it. */
export const migrationHash = (sql: string): string =>
  createHash('sha256').update(sql).digest('hex');

/**
 * Registers the tests: `migrations` are numbered without gaps, each has the
 * hash `released` records for its version (a new one fails with the line to
 * add once it ships; an edited one fails with the advice to add a new
 * migration instead), and no released one was removed. `file(version)` names
 * the file a reader restores.
 *
 * @example
 * ```ts
 * releasedMigrationsConformance('sqlite', MIGRATIONS, RELEASED, (v) => `sql/migrations/${v}.sql`);
 * ```
 */
export function releasedMigrationsConformance(
  name: string,
  migrations: readonly ShippedMigration[],
  released: Readonly<Record<number, string>>,
  file: (version: number) => string,
): void {
  describe(`shipped migrations: ${name}`, () => {
    it('are numbered 1, 2, 3, … without gaps', () => {
      expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
    });

    it('keep the text they were released with', () => {
      for (const m of migrations) {
        const hash = migrationHash(m.sql);
        const known = released[m.version];
        if (known === undefined) {
          expect.fail(
            `migration ${String(m.version)} (${m.name}) has no released hash: once it ships, add ${String(m.version)}: '${hash}' to the released hashes.`,
          );
        }
        expect(
          hash,
          `migration ${String(m.version)} (${m.name}) was edited after its release: databases that already ran it would keep the old schema. Restore ${file(m.version)} and add a new migration instead.`,
        ).toBe(known);
      }
    });

    it('lose no released migration', () => {
      const shipped = new Set(migrations.map((m) => m.version));
      const missing = Object.keys(released)
        .map(Number)
        .filter((v) => !shipped.has(v));
      expect(missing, 'a released migration was removed: restore it').toEqual([]);
    });
  });
}
