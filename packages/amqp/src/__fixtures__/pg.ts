/**
 * Test support: the PostgreSQL URL and a reachability probe that fails
 * under `CI=true` (otherwise the proof skips with a visible reason).
 */
import pg from 'pg';

/** `BATCHFLIGHT_PG_URL`, default the local test database. */
export const PG_URL = process.env.BATCHFLIGHT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Resolves to null when PostgreSQL answers, else to the reason the proof is skipped. */
export async function pgUnavailable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    const reason = `PostgreSQL at ${PG_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it.`);
    console.warn(`SKIPPED: ${reason}. Start PostgreSQL or set BATCHFLIGHT_PG_URL.`);
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}
