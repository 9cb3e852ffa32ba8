/**
 * Test support: the PostgreSQL URL, a reachability probe that fails under
 * `CI=true`, and per-file schemas that are dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** `BATCHFLIGHT_PG_URL`, default the local test database. */
export const PG_URL = process.env.BATCHFLIGHT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Resolves to undefined when PostgreSQL answers, otherwise to the reason.
 * With `CI=true` an unreachable server throws instead: CI must not skip.
 */
export async function pgUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL at BATCHFLIGHT_PG_URL is unreachable (${(error as Error).message})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it.`);
    console.warn(`Skipping PostgreSQL tests: ${reason}.`);
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh schema name for one test file: `bf_<tag>_<random>`. */
export function schemaName(tag: string): string {
  return `bf_${tag}_${randomBytes(4).toString('hex')}`;
}

/** Drops a schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
