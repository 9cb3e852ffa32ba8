/**
 * Test support: a real Redis at BATCHFLIGHT_REDIS_URL (default
 * redis://127.0.0.1:6379), a unique key prefix per test file, cleanup.
 * With CI=true a missing server fails the run; otherwise the suites skip
 * with a visible reason.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.BATCHFLIGHT_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Resolves to null when Redis answers PING, else to the reason it is skipped. */
export async function redisUnavailable(): Promise<string | null> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (error) {
    const reason = `Redis at ${REDIS_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it.`);
    console.warn(
      `SKIPPED: ${reason}. Start Redis or set BATCHFLIGHT_REDIS_URL to run these tests.`,
    );
    return reason;
  } finally {
    probe.disconnect();
  }
}

/** A fresh client on the test server. */
export function connect(name?: string): Redis {
  return new Redis(REDIS_URL, {
    maxRetriesPerRequest: 3,
    ...(name === undefined ? {} : { connectionName: name }),
  });
}

/** A key prefix no other test uses. */
export function uniquePrefix(label: string): string {
  return `bftest:${label}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key starting with `prefix` (SCAN + UNLINK). */
export async function dropPrefix(client: Redis, prefix: string): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

/** How many keys start with `prefix`. */
export async function countPrefix(client: Redis, prefix: string): Promise<number> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}
